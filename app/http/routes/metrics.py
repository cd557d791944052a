"""GET /metrics: the Prometheus scrape (every worker's metrics summed in multiprocess mode)."""

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from app.metrics import Metrics

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    summary="Prometheus metrics: requests, latency, batches, predictions, model",
    response_class=Response,
)
async def metrics(request: Request) -> Response:
    collected: Metrics = request.app.state.metrics
    accept = request.headers.get("accept", "")
    # Multiprocess mode reads every worker's files: file I/O stays off the event loop.
    content, content_type = await run_in_threadpool(collected.render, accept)
    return Response(content, headers={"Content-Type": content_type})
