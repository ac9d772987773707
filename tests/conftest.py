"""Shared fixtures: the evaluation data, the async backend, the batch API, real indexes and a live server."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from batchsearch.config import Settings
from batchsearch.kg import KnowledgeGraph

from batch_fakes import AsgiBatches
from batch_servers import DEPLOYMENTS, ENCODER_CACHE_VARIABLE, build_index, deployment_settings
from sdk_server import LiveServer, built_index

REPO_ROOT = Path(__file__).resolve().parents[1]
pytest_plugins = ["s3_server", "pg_server", "ray_server"]  # real S3-compatible, PostgreSQL and Ray servers


def shared_data_dir() -> Path:
    """The evaluation data folder: BATCHSEARCH_SHARED_DATA, else ../shared/data beside the checkout."""
    override = os.environ.get("BATCHSEARCH_SHARED_DATA")
    return Path(override) if override else REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.fail(f"evaluation data not found at {path}; set BATCHSEARCH_SHARED_DATA")
    return path


@pytest.fixture(scope="session", autouse=True)
def shared_encoder_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One built (and verified) ONNX encoder for every data folder of the session, servers started as
    subprocesses included, instead of one build per fresh folder."""
    os.environ[ENCODER_CACHE_VARIABLE] = str(tmp_path_factory.mktemp("encoder-models"))
    yield
    os.environ.pop(ENCODER_CACHE_VARIABLE, None)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Async tests run on asyncio."""
    return "asyncio"


@pytest.fixture(params=DEPLOYMENTS)
async def api(tmp_path: Path, request: pytest.FixtureRequest,
              monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[AsgiBatches]:
    """The batch API behind httpx.ASGITransport with two tenants, once on SQLite and local files and once on
    real PostgreSQL and S3 servers; a test module tunes its settings with a module-level BATCH_SETTINGS dict,
    and a test that only makes sense on one deployment says so with @pytest.mark.deployment("sqlite+file") (the
    other is deselected at collection)."""
    settings, env = deployment_settings(request.param, request)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    overrides = dict(getattr(request.module, "BATCH_SETTINGS", {})) | settings
    batches = AsgiBatches(Settings(data_dir=tmp_path, public_url="http://test", **overrides))
    async with batches.client:
        yield batches


@pytest.fixture(scope="session")
def batch_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real index (built once) for the batch end-to-end and crash tests; copy it with copy_index."""
    source = tmp_path_factory.mktemp("batch-index")
    build_index(source)
    return source


@pytest.fixture(scope="session")
def sdk_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder with the default knowledge graph and a generated corpus ingested (built once)."""
    return built_index(tmp_path_factory)


@pytest.fixture(scope="module")
def live_server(sdk_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """uvicorn on 127.0.0.1 serving the whole app over the SDK index, with a batch worker (one per module)."""
    live = LiveServer(sdk_index, tmp_path_factory.mktemp("live"))
    yield live
    live.stop()


@pytest.fixture(scope="session")
def default_graph(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeGraph:
    """The default knowledge graph, built once; tests only read it."""
    return KnowledgeGraph.build_default(tmp_path_factory.mktemp("kg"))


def pytest_configure(config: pytest.Config) -> None:
    """Markers of this suite."""
    config.addinivalue_line("markers", "deployment(*kinds): run the `api` fixture's test on these deployments only")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the `api` deployments a test's deployment marker excludes (deselected, not skipped)."""
    keep, drop = [], []
    for item in items:
        marker = item.get_closest_marker("deployment")
        callspec = getattr(item, "callspec", None)
        kind = callspec.params.get("api") if callspec is not None else None
        (drop if marker is not None and kind is not None and kind not in marker.args else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
