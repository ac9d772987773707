"""The HTTP edge: FastAPI app factory, dependencies, one error handler, routes."""
