"""The project's benchmark: this service vs a naive Keras app vs an HTTP-only ceiling, under wrk.

Run `python -m bench --help`.
"""
