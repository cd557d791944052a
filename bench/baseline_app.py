"""The naive baseline: FastAPI calling Keras `model.predict` on each request, as tutorials do.

No batching, no thread configuration, inference inline in the `async def` route. The model is
loaded once in the lifespan from $BENCH_MODEL; answers carry the same JSON fields as /predict.
"""

import io
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import FastAPI, File, UploadFile
from PIL import Image

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "models" / "mnist" / "1" / "model.keras"


def model_ref(path: Path) -> dict[str, str]:
    card = path.with_name(path.name.removesuffix(".keras") + ".card.json")
    if card.is_file():
        data = json.loads(card.read_text())
        return {"name": str(data["name"]), "version": str(data["version"])}
    return {"name": path.stem, "version": "unknown"}


def to_pixels(data: bytes) -> np.ndarray:
    """float32 (784,) in [0, 1] from the bytes of a 28x28 gray image."""
    image = Image.open(io.BytesIO(data)).convert("L")
    return np.asarray(image, dtype=np.float32).reshape(784) / 255.0


def answer(probabilities: np.ndarray, ref: dict[str, str]) -> dict[str, Any]:
    digit = int(probabilities.argmax())
    return {
        "digit": digit,
        "confidence": float(probabilities[digit]),
        "probabilities": probabilities.tolist(),
        "normalized": False,
        "model": ref,
        "image": None,
    }


def create_app() -> FastAPI:
    path = Path(os.environ.get("BENCH_MODEL", DEFAULT_MODEL))
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        import keras

        state["model"] = keras.saving.load_model(path, compile=False)
        state["model"].predict(np.zeros((1, 784), dtype=np.float32), verbose=0)  # warm
        state["ref"] = model_ref(path)
        yield

    app = FastAPI(lifespan=lifespan)

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}

    @app.post("/predict")
    async def predict(file: Annotated[UploadFile, File()]) -> dict[str, Any]:
        pixels = to_pixels(await file.read())
        probabilities = state["model"].predict(pixels[np.newaxis], verbose=0)[0]
        return answer(probabilities, state["ref"])

    @app.post("/predict/batch")
    async def predict_batch(files: Annotated[list[UploadFile], File()]) -> dict[str, Any]:
        pixels = np.stack([to_pixels(await upload.read()) for upload in files])
        probabilities = state["model"].predict(pixels, verbose=0)
        results = [
            {
                "index": i,
                "filename": upload.filename,
                "prediction": answer(p, state["ref"]),
                "error": None,
            }
            for i, (upload, p) in enumerate(zip(files, probabilities, strict=True))
        ]
        return {"model": state["ref"], "results": results}

    return app
