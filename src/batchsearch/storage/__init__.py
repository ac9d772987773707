"""Object storage for batch inputs, part files and outputs: a Protocol, its implementations, and the one place
that picks one from the settings."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from batchsearch.config import Settings
from batchsearch.errors import ValidationError
from batchsearch.storage import signing
from batchsearch.storage.local import LocalObjectStore
from batchsearch.storage.protocol import ObjectStore

__all__ = ["LocalObjectStore", "ObjectStore", "open_object_store"]


def open_object_store(settings: Settings) -> ObjectStore:
    """The object store BATCHSEARCH_OBJECT_STORE_URL names: file://FOLDER (default data_dir/objects) or
    s3://BUCKET/PREFIX on BATCHSEARCH_S3_ENDPOINT_URL."""
    url = settings.resolved_object_store_url()
    scheme = urlsplit(url).scheme
    if scheme == "file":
        return LocalObjectStore(local_root(url), base_url=settings.resolved_public_url(),
                                secret=signing.purpose_key(settings.resolved_signing_secret(), signing.OBJECT_FILES))
    if scheme == "s3":
        from batchsearch.storage.s3 import S3ObjectStore

        return S3ObjectStore.from_url(url, endpoint_url=settings.s3_endpoint_url)
    raise ValidationError(f"BATCHSEARCH_OBJECT_STORE_URL must start with file:// or s3://, not {url!r}")


def local_root(url: str) -> Path:
    """The folder of a file:// URL."""
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise ValidationError(f"file:// object store URLs name a local folder, not host {parts.netloc!r}")
    return Path(unquote(parts.path))
