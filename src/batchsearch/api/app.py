"""The FastAPI application factory."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

import anyio
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY

from batchsearch.api.bodies import JSON_BODY_LIMIT
from batchsearch.api.ratelimit import install_rate_limits
from batchsearch.config import Settings
from batchsearch.db import create_db_engine
from batchsearch.embeddings import build_embedder
from batchsearch.errors import (
    BatchSearchError,
    FieldProblem,
    InternalError,
    RateLimitError,
    ServiceUnavailableError,
    ValidationError,
    error_for_status,
)
from batchsearch.index.snapshot_ids import snapshot_key
from batchsearch.keys import KeyStore
from batchsearch.models.search import SEARCH_REQUEST_TITLE
from batchsearch.observability.metrics import ApiMetrics, QueueCollector, RequestObserver, meter_index_publishes
from batchsearch.search.engine import SearchEngine
from batchsearch.storage import LocalObjectStore

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = "2"  # what a 503 (database or object store away) asks clients to wait

ERROR_RESPONSES: dict[int | str, dict[str, str]] = {
    400: {"description": "Bad request: the message names the field."},
    401: {"description": "Missing API key."},
    403: {"description": "Unknown API key, or a tampered or expired signed URL."},
    404: {"description": "Not found (or owned by another key)."},
}


def new_request_id() -> str:
    """A fresh request id, as returned in `metadata.request_id` and error bodies."""
    return str(uuid.uuid4())


def request_problems(exc: RequestValidationError) -> list[FieldProblem]:
    """FastAPI's body/param errors as field problems, in the search API's words."""
    problems = []
    for err in exc.errors():
        loc = ".".join(str(part) for part in err.get("loc", ()) if part != "body")
        problems.append(FieldProblem(loc or "body", str(err.get("msg", "invalid value")).removeprefix("Value error, ")))
    return problems


def install_error_handlers(app: FastAPI) -> None:
    """One rendering of every error: our tree, FastAPI's validation errors and anything unexpected."""

    @app.exception_handler(BatchSearchError)
    async def _domain_error(request: Request, exc: BatchSearchError) -> JSONResponse:
        exc.request_id = exc.request_id or getattr(request.state, "request_id", None)
        retry_after = exc.retry_after_header() if isinstance(exc, RateLimitError) else None
        if exc.status_code == 503:
            retry_after = RETRY_AFTER_SECONDS
        headers = {"Retry-After": retry_after} if retry_after else None
        return JSONResponse(exc.to_body(), status_code=exc.status_code, headers=headers)

    @app.exception_handler(sqlalchemy.exc.OperationalError)
    @app.exception_handler(sqlalchemy.exc.InterfaceError)
    async def _database_away(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        err = ServiceUnavailableError("The database is unavailable right now; retry shortly",
                                      request_id=getattr(request.state, "request_id", None))
        return JSONResponse(err.to_body(), status_code=err.status_code, headers={"Retry-After": RETRY_AFTER_SECONDS})

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        title = SEARCH_REQUEST_TITLE if request.url.path == "/v1/search" else "request"
        err = ValidationError(problems=request_problems(exc), title=title,
                              request_id=getattr(request.state, "request_id", None))
        return JSONResponse(err.to_body(), status_code=err.status_code)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # the framework's own errors (unparseable body, unknown route, wrong method) in the same shape
        detail = str(exc.detail)
        if exc.status_code == 413 and isinstance(limit := request.scope.get(MAX_BODY_SIZE_SCOPE_KEY), int):
            detail = f"Request body is larger than the limit of {limit} bytes"  # the framework's body limit
        err = error_for_status(exc.status_code, detail, request_id=getattr(request.state, "request_id", None))
        body = {**err.to_body(), "statusCode": exc.status_code}
        if err.status_code != exc.status_code:  # a status without its own class (405, 415)
            body["errorCode"] = f"HTTP_{exc.status_code}"
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        err = InternalError("Internal server error", request_id=getattr(request.state, "request_id", None))
        return JSONResponse(err.to_body(), status_code=err.status_code)


def create_app(settings: Settings, *, engine: SearchEngine | None = None) -> FastAPI:
    """Build the API for these settings: key store, search engine and all routes."""
    from batchsearch.api.routes import analytics, batches, contents, documents, files, health, kg, search, subscription
    from batchsearch.contents import ContentService
    from batchsearch.dashboard import install_dashboard
    from batchsearch.ingest.annotators import DefaultAnnotator
    from batchsearch.jobs.service import BatchService
    from batchsearch.kg import KnowledgeGraph

    app = FastAPI(
        title="batchsearch",
        version="0.1.0",
        description="Hybrid search over financial documents, with asynchronous Batch Search. "
        "Wire-compatible with the Bigdata.com Search API.",
        max_body_size=JSON_BODY_LIMIT,  # JSON bodies are read whole: bounded as they arrive (streamed routes: their own)
    )
    app.state.settings = settings
    app.state.db = create_db_engine(settings.resolved_database_url())
    app.state.keys = KeyStore(app.state.db)
    app.state.engine = engine or SearchEngine.open(
        settings.data_dir, embedder=build_embedder(settings), fusion=settings.fusion,
        snapshot_key=snapshot_key(settings.resolved_signing_secret()))
    app.state.search_limiter = anyio.CapacityLimiter(settings.search_threads)
    app.state.kg = KnowledgeGraph.open_or_build(settings.data_dir / "kg")
    app.state.batches = BatchService.from_settings(settings, app.state.db)
    app.state.object_store = app.state.batches.objects
    app.state.contents = ContentService.from_settings(
        settings, app.state.db, index=app.state.engine.store, embedder=app.state.engine.embedder,
        make_annotator=lambda: DefaultAnnotator(app.state.kg.detector()))
    app.router.add_event_handler("startup", app.state.contents.resume)  # requeue uploads left "processing"
    app.router.add_event_handler("shutdown", app.state.contents.close)
    app.state.metrics = ApiMetrics.create()
    app.state.metrics.registry.register(QueueCollector(app.state.db, settings.lease_seconds))
    meter_index_publishes(app.state.engine.store, app.state.metrics)

    @app.middleware("http")
    async def _request_id(request: Request, call_next):  # type: ignore[no-untyped-def]
        request.state.request_id = new_request_id()
        request.state.started_at = datetime.now(UTC)
        return await call_next(request)

    install_error_handlers(app)
    app.include_router(health.router)
    if settings.metrics_enabled:
        app.include_router(health.metrics_router)
    app.include_router(search.router, responses=ERROR_RESPONSES)
    app.include_router(analytics.router, responses=ERROR_RESPONSES)
    app.include_router(kg.router, responses=ERROR_RESPONSES)
    app.include_router(batches.router, responses=ERROR_RESPONSES)
    if isinstance(app.state.object_store, LocalObjectStore):  # S3 serves its own presigned URLs
        app.include_router(files.router, responses=ERROR_RESPONSES)
    app.include_router(contents.router, responses=ERROR_RESPONSES)
    app.include_router(documents.router, responses=ERROR_RESPONSES)
    app.include_router(subscription.router, responses=ERROR_RESPONSES)
    install_dashboard(app, settings)  # the web pages at /ui (not in the OpenAPI schema)
    install_rate_limits(app, settings)
    app.add_middleware(RequestObserver, metrics=app.state.metrics)  # added last, so outermost: sees every answer
    return app
