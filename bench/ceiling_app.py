"""The HTTP ceiling: the same FastAPI/uvicorn stack reading the multipart upload, no model.

Each route reads every uploaded file and returns a constant JSON body, by default a real answer
of the service that bench/ saved ($BENCH_PREDICT_ANSWER, $BENCH_BATCH_ANSWER), so responses
are the same size as the service's.
"""

import json
import os
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, File, Response, UploadFile

PROBABILITIES = [1.0e-9] * 7 + [0.9999999403953552] + [1.0e-9] * 2
PREDICTION = {
    "digit": 7,
    "confidence": PROBABILITIES[7],
    "probabilities": PROBABILITIES,
    "normalized": False,
    "model": {"name": "mnist-mlp", "version": "1"},
    "image": None,
}


def constant(env: str, fallback: object) -> bytes:
    """The body saved at $`env`, or `fallback` as JSON when the variable is unset."""
    path = os.environ.get(env)
    return Path(path).read_bytes() if path else json.dumps(fallback).encode()


def create_app() -> FastAPI:
    single = constant("BENCH_PREDICT_ANSWER", PREDICTION)
    batch_fallback = {
        "model": PREDICTION["model"],
        "results": [
            {"index": i, "filename": f"{i}.png", "prediction": PREDICTION, "error": None}
            for i in range(64)
        ],
    }
    batch = constant("BENCH_BATCH_ANSWER", batch_fallback)
    app = FastAPI()

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}

    @app.post("/predict")
    async def predict(file: Annotated[UploadFile, File()]) -> Response:
        await file.read()
        return Response(single, media_type="application/json")

    @app.post("/predict/batch")
    async def predict_batch(files: Annotated[list[UploadFile], File()]) -> Response:
        for upload in files:
            await upload.read()
        return Response(batch, media_type="application/json")

    return app
