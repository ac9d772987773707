"""Opaque snapshot ids: what responses and job statuses call an index generation (pure).

A generation number counts every change any tenant makes to the index, so showing it would tell one tenant
how busy the others are. The id shown is a keyed hash of the generation instead: equal ids still mean the same
snapshot, but they neither count nor order. The key is derived from the service's signing secret, so every API
and worker process of one deployment shows the same id for a snapshot.
"""

from __future__ import annotations

import hashlib
import hmac

SNAPSHOT_ID_PURPOSE = "snapshot ids"
SNAPSHOT_ID_HEX = 20


def snapshot_id(generation: int | None, key: bytes | None) -> str | None:
    """The opaque id of a generation (None without a key or before a generation was pinned)."""
    if generation is None or key is None:
        return None
    return "snap-" + hmac.new(key, str(generation).encode(), hashlib.sha256).hexdigest()[:SNAPSHOT_ID_HEX]


def snapshot_key(secret: bytes) -> bytes:
    """The snapshot-id key of a deployment's signing secret."""
    from batchsearch.storage.signing import purpose_key

    return purpose_key(secret, SNAPSHOT_ID_PURPOSE)
