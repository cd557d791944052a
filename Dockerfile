# syntax=docker/dockerfile:1
# The serving image: dependencies first (cached across code changes), then only app/ and models/.

FROM python:3.11-slim AS deps
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /build
COPY requirements/serve.txt requirements/train.txt ./
# The exact versions of the serving lock (`make lock` writes it from pyproject.toml): FastAPI,
# uvicorn, LiteRT, NumPy, Pillow; no TensorFlow or Keras. Bytecode is kept: the root filesystem
# is read-only at run time and it halves import time.
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install -r serve.txt \
 && find /opt/venv -depth -path '*/tests/*' -delete

FROM python:3.11-slim AS runtime
# MALLOC_ARENA_MAX: two malloc arenas, not one per thread; after a fuzz run of big hostile images
# the process kept +8 MB instead of +42 MB (docs/reliability.md).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    MALLOC_ARENA_MAX=2 \
    MNIST_API_HOST=0.0.0.0 \
    MNIST_API_PORT=8000 \
    MNIST_API_GRPC_PORT=8001 \
    MNIST_API_MODEL_REPOSITORY=/srv/models
RUN useradd --system --uid 10001 --gid 0 --no-create-home --home-dir /tmp app
WORKDIR /srv
COPY --from=deps /opt/venv /opt/venv
# The shipped versions (models/mnist/<N>/: model.tflite, model.keras and card; .dockerignore
# leaves the reports out).
COPY models/mnist/ models/mnist/
COPY app/ app/
USER 10001
EXPOSE 8000 8001
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4).status != 200)"]
CMD ["python", "-m", "app"]

# Training's dependencies (TensorFlow, Keras, fonts); built only for the train target.
FROM deps AS train-deps
RUN /opt/venv/bin/pip install -r train.txt \
 && rm -rf /opt/venv/lib/python3.11/site-packages/tensorflow/include \
           /opt/venv/lib/python3.11/site-packages/clang

# `docker compose --profile train run --rm train`: the same code plus the training module.
FROM runtime AS train
ENV KERAS_HOME=/tmp/.keras TF_CPP_MIN_LOG_LEVEL=2
COPY --from=train-deps /opt/venv /opt/venv
COPY training/ training/
CMD ["python", "-m", "training", "--repository", "/srv/models"]
