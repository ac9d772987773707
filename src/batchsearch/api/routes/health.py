"""Liveness, readiness and Prometheus metrics (no API key: nothing here is per tenant)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import Engine, text

from batchsearch.observability.metrics import ApiMetrics

log = logging.getLogger(__name__)
router = APIRouter(tags=["Health"])
metrics_router = APIRouter(tags=["Health"])
READY_CHECK_SECONDS = 5.0  # a check that has not answered by then counts as failed


@router.get("/healthz", summary="Liveness check")
async def healthz() -> dict[str, str]:
    """Always `{"status": "ok"}` while the process serves requests."""
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness check",
            responses={503: {"description": "Not ready: `checks` names the check that failed."}})
async def readyz(request: Request) -> JSONResponse:
    """200 `{"status": "ready", ...}` when the search index is loaded and the database answers `SELECT 1`;
    503 `{"status": "unavailable", "checks": {...}}` naming the failed check otherwise."""
    engine = request.app.state.engine
    checks = {
        "index": await _check("index", lambda: engine.snapshot()),
        "database": await _check("database", lambda: _select_one(request.app.state.db)),
    }
    is_ready = all(result == "ok" for result in checks.values())
    return JSONResponse({"status": "ready" if is_ready else "unavailable", "checks": checks},
                        status_code=200 if is_ready else 503)


async def _check(name: str, probe: Callable[[], object]) -> str:
    """"ok", or what went wrong, after running `probe` in a thread for at most READY_CHECK_SECONDS."""
    try:
        with anyio.fail_after(READY_CHECK_SECONDS):
            await anyio.to_thread.run_sync(probe, abandon_on_cancel=True)
    except TimeoutError:
        log.warning("readiness: the %s check did not answer within %.0f s", name, READY_CHECK_SECONDS)
        return f"no answer within {READY_CHECK_SECONDS:.0f} s"
    except Exception as exc:
        log.warning("readiness: the %s check failed: %s", name, exc)
        return f"failed: {type(exc).__name__}"
    return "ok"


def _select_one(db: Engine) -> None:
    """Ask the database the smallest question there is."""
    with db.connect() as conn:
        conn.execute(text("SELECT 1")).scalar_one()


@metrics_router.get("/metrics", summary="Prometheus metrics", response_class=Response,
                    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format."}})
async def metrics(request: Request) -> Response:
    """This process's requests and ingests and the shared batch queue, in the Prometheus text format."""
    registry: ApiMetrics = request.app.state.metrics
    body = await anyio.to_thread.run_sync(registry.render)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
