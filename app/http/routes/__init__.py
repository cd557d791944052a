"""Thin routers: validate, call the engine, map to schemas."""
