"""Signed URLs for the local object store: HMAC-SHA256 over method, object key and expiry (pure)."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote, urlencode

from batchsearch.errors import PermissionDeniedError

FILES_PREFIX = "/files/"
# what each family of signed URLs is for: each signs with its own key derived from the service secret, so a
# signature made for one purpose never verifies for another
OBJECT_FILES = "object-files"
CONTENT_UPLOADS = "content-uploads"


def purpose_key(secret: bytes, purpose: str) -> bytes:
    """The signing key of one purpose, derived from the service's signing secret (HMAC-SHA256)."""
    return hmac.new(secret, f"batchsearch signed URLs: {purpose}".encode(), hashlib.sha256).digest()


def signature(secret: bytes, method: str, key: str, expires: int) -> str:
    """The hex HMAC-SHA256 that authorises `method` on `key` until the unix time `expires`."""
    message = f"{method.upper()}\n{key}\n{expires}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def signed_url(base_url: str, secret: bytes, method: str, key: str, expires: int) -> str:
    """A URL under `base_url`/files/ that lets its holder run `method` on `key` until `expires`."""
    query = urlencode({"expires": expires, "signature": signature(secret, method, key, expires)})
    return f"{base_url.rstrip('/')}{FILES_PREFIX}{quote(key, safe='/')}?{query}"


def verify(secret: bytes, method: str, key: str, expires: str | None, sig: str | None, now: float) -> None:
    """Raise PermissionDeniedError unless `sig` signs (method, key, expires) and `expires` is in the future."""
    if not expires or not sig:
        raise PermissionDeniedError("Signed URL is missing its expires or signature parameter")
    if not (expires.isascii() and expires.isdigit() and len(expires) <= 12):  # "²".isdigit() is True
        raise PermissionDeniedError("Signed URL has an invalid expires parameter")
    expected = signature(secret, method, key, int(expires))
    if not (sig.isascii() and hmac.compare_digest(expected, sig)):  # compare_digest raises on non-ASCII str
        raise PermissionDeniedError("Signature does not match the URL")
    if int(expires) <= now:
        raise PermissionDeniedError("Signed URL has expired")
