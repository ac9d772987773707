"""Object storage for batch inputs, part files and outputs: a Protocol and its implementations."""

from batchsearch.storage.local import LocalObjectStore
from batchsearch.storage.protocol import ObjectStore

__all__ = ["LocalObjectStore", "ObjectStore"]
