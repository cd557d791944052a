"""mnist-serve: a FastAPI inference service for the Keras MNIST network."""

__version__ = "1.0.0"
