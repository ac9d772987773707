"""The one place that builds the index of a deployment from its settings.

Embedded (BATCHSEARCH_OBJECT_STORE_URL unset): the folder `<data_dir>/index`, exactly as before.
Shared (an object store URL is set, file:// or s3://): the index is published under `index/` in that object
store with its generation pointer in the service database, and `<data_dir>/index-cache` is this host's read
cache. A shared index that has no generation yet first publishes the index an embedded deployment left in
`<data_dir>/index` (that folder is only read), so switching a deployment over keeps its documents.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from batchsearch.config import Settings
from batchsearch.index.pointer import GenerationPointer
from batchsearch.index.shared import SharedIndexStore
from batchsearch.index.store import IndexStore
from batchsearch.storage.protocol import ObjectStore

EMBEDDED_FOLDER = "index"
CACHE_FOLDER = "index-cache"


def is_shared(settings: Settings) -> bool:
    """True when the index is published through an object store (an object store URL is configured)."""
    return settings.object_store_url is not None


def open_index_store(settings: Settings, *, objects: ObjectStore | None = None,
                     db: Engine | None = None) -> IndexStore:
    """The index of these settings; a shared one reuses `objects` and `db` when given (else opens its own)."""
    if not is_shared(settings):
        return IndexStore(settings.data_dir / EMBEDDED_FOLDER)
    store = open_shared_index(settings, objects=objects, db=db)
    store.adopt_local_index(settings.data_dir / EMBEDDED_FOLDER)
    return store


def open_shared_index(settings: Settings, *, objects: ObjectStore | None = None,
                      db: Engine | None = None) -> SharedIndexStore:
    """The shared index of these settings, without adopting a local one (for garbage collection)."""
    if objects is None:
        from batchsearch.storage import open_object_store

        objects = open_object_store(settings)
    if db is None:
        from batchsearch.db import create_db_engine

        db = create_db_engine(settings.resolved_database_url())
    return SharedIndexStore(cache_folder(settings), objects, GenerationPointer(db))


def cache_folder(settings: Settings) -> Path:
    """This host's read cache of a shared index."""
    return settings.data_dir / CACHE_FOLDER
