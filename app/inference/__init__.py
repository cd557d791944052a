"""Models: the model file and card, the runtime that runs it, the batching engine."""
