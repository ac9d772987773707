"""Connecting this process to Ray: the cluster RAY_ADDRESS names, or a local instance on loopback."""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any

from batchsearch.config import Settings
from batchsearch.errors import BatchSearchError

# what every actor process gets in its environment: one BLAS thread (an actor is one CPU of the cluster)
ACTOR_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
             "BATCHSEARCH_BLAS_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


class RayMissingError(BatchSearchError):
    """The ray extra is not installed."""

    error_code = "RAY_NOT_INSTALLED"


def import_ray() -> ModuleType:
    """The ray module, or an error naming the extra to install."""
    try:
        import ray
    except ImportError as exc:
        raise RayMissingError("The ray executor needs Ray: pip install 'batchsearch[ray]'") from exc
    return ray


def connect() -> ModuleType:
    """ray, initialised once per process: connected to RAY_ADDRESS when set, else a local instance of this
    machine's CPUs whose every socket is on 127.0.0.1."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if not os.environ.get("RAY_ADDRESS"):  # read when ray is imported: a local instance stays on loopback
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    ray = import_ray()
    if ray.is_initialized():
        return ray
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    if os.environ.get("RAY_ADDRESS"):
        ray.init(address=os.environ["RAY_ADDRESS"], **options)
        return ray
    # a local instance: Ray would otherwise advertise (and listen on) the host's address
    ray.init(address="local", _node_ip_address="127.0.0.1", **options)
    return ray


def disconnect() -> None:
    """Leave the cluster (and stop the local instance connect started, if any)."""
    ray = import_ray()
    if ray.is_initialized():
        ray.shutdown()


def cluster_cpus(ray: ModuleType) -> int:
    """The CPUs of the whole cluster as Ray counts them (at least 1)."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def actor_settings(settings: Settings) -> Settings:
    """The settings an actor opens its engine or ingestor with: one BLAS thread, and absolute folders (an actor's
    working directory is Ray's, not this process's)."""
    changes: dict[str, Any] = {"blas_threads": 1, "data_dir": settings.data_dir.resolve()}
    if settings.embed_cache_dir is not None:
        changes["embed_cache_dir"] = settings.embed_cache_dir.resolve()
    return settings.model_copy(update=changes)
