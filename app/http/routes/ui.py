"""The drawing page at GET /, and the API docs pages served from local assets (no CDN)."""

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parents[2] / "static"
STATIC_URL = "/static"

# The page loads only its own files; the model's 28x28 image arrives as a data: URL.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

router = APIRouter(include_in_schema=False)


def static_files() -> StaticFiles:
    """The app's static files (page, styles, scripts, vendored docs assets), for a mount."""
    return StaticFiles(directory=STATIC_DIR)


@router.get("/")
async def index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", headers=PAGE_HEADERS)


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{STATIC_URL}/swagger/swagger-ui-bundle.js",
        swagger_css_url=f"{STATIC_URL}/swagger/swagger-ui.css",
        swagger_favicon_url=f"{STATIC_URL}/favicon.svg",
    )


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    return get_redoc_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{STATIC_URL}/redoc/redoc.standalone.js",
        redoc_favicon_url=f"{STATIC_URL}/favicon.svg",
        with_google_fonts=False,
    )
