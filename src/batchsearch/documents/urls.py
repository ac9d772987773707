"""Signed GET URLs of annotated documents: `GET /v1/documents/{id}/annotated?expires=&signature=`, no API key.

The signature is storage.signing's HMAC over ("GET", "documents/<id>", expiry) with a key derived for this purpose
only, so a document URL never verifies as an object-store or upload URL, nor the other way round.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from batchsearch.storage import signing

DOCUMENT_DOWNLOADS = "document-downloads"  # signing purpose of these URLs
DOCUMENTS_PATH = "/v1/documents/"


def _signed_key(document_id: str) -> str:
    return f"documents/{document_id}"


class DocumentUrls:
    """Signs and verifies the download URLs of annotated documents."""

    def __init__(self, base_url: str, service_secret: bytes) -> None:
        self._base_url = base_url.rstrip("/")
        self._secret = signing.purpose_key(service_secret, DOCUMENT_DOWNLOADS)

    def url(self, document_id: str, expires_at: int) -> str:
        """The URL that serves the annotated JSON of `document_id` until the unix time `expires_at`."""
        sig = signing.signature(self._secret, "GET", _signed_key(document_id), expires_at)
        query = urlencode({"expires": expires_at, "signature": sig})
        return f"{self._base_url}{DOCUMENTS_PATH}{quote(document_id, safe='')}/annotated?{query}"

    def verify(self, document_id: str, expires: str | None, signature: str | None, now: float) -> None:
        """PermissionDeniedError unless the parameters sign a download of `document_id` that has not expired."""
        signing.verify(self._secret, "GET", _signed_key(document_id), expires, signature, now)
