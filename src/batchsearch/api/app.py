"""The FastAPI application factory."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from batchsearch.config import Settings
from batchsearch.db import create_db_engine
from batchsearch.errors import BatchSearchError, InternalError, ValidationError
from batchsearch.keys import KeyStore

log = logging.getLogger(__name__)

ERROR_RESPONSES: dict[int | str, dict[str, str]] = {
    400: {"description": "Bad request: the message names the field."},
    401: {"description": "Missing API key."},
    403: {"description": "Unknown API key, or a tampered or expired signed URL."},
    404: {"description": "Not found (or owned by another key)."},
}


def new_request_id() -> str:
    """A fresh request id, as returned in `metadata.request_id` and error bodies."""
    return str(uuid.uuid4())


def format_request_validation(exc: RequestValidationError) -> str:
    """FastAPI's body/param errors in the same words as our search validation messages."""
    errors = exc.errors()
    lines = [f"{len(errors)} validation error{'s' if len(errors) != 1 else ''} for request"]
    for err in errors:
        loc = ".".join(str(part) for part in err.get("loc", ()) if part != "body")
        lines.append(f"{loc or 'body'}\n  {err.get('msg', 'invalid value')}")
    return "\n".join(lines)


def install_error_handlers(app: FastAPI) -> None:
    """One rendering of every error: our tree, FastAPI's validation errors and anything unexpected."""

    @app.exception_handler(BatchSearchError)
    async def _domain_error(request: Request, exc: BatchSearchError) -> JSONResponse:
        exc.request_id = exc.request_id or getattr(request.state, "request_id", None)
        return JSONResponse(exc.to_body(), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        err = ValidationError(format_request_validation(exc), request_id=getattr(request.state, "request_id", None))
        return JSONResponse(err.to_body(), status_code=err.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        err = InternalError("Internal server error", request_id=getattr(request.state, "request_id", None))
        return JSONResponse(err.to_body(), status_code=err.status_code)


def create_app(settings: Settings) -> FastAPI:
    """Build the API for these settings: key store, search service and all routes."""
    from batchsearch.api.routes import health

    app = FastAPI(
        title="batchsearch",
        version="0.1.0",
        description="Hybrid search over financial documents, with asynchronous Batch Search. "
        "Wire-compatible with the Bigdata.com Search API.",
    )
    app.state.settings = settings
    app.state.db = create_db_engine(settings.resolved_database_url())
    app.state.keys = KeyStore(app.state.db)

    @app.middleware("http")
    async def _request_id(request: Request, call_next):  # type: ignore[no-untyped-def]
        request.state.request_id = new_request_id()
        request.state.started_at = datetime.now(UTC)
        return await call_next(request)

    install_error_handlers(app)
    app.include_router(health.router)
    return app
