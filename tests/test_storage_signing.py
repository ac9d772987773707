"""Signed URLs: HMAC over method, key and expiry."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from batchsearch.errors import PermissionDeniedError
from batchsearch.storage.signing import signature, signed_url, verify

SECRET = b"s3cret"


def params(url: str) -> tuple[str, str, str]:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    return parts.path.removeprefix("/files/"), query["expires"][0], query["signature"][0]


def test_signed_url_verifies_until_it_expires() -> None:
    url = signed_url("http://h:1/", SECRET, "PUT", "batches/x/input.jsonl", 1000)
    assert url.startswith("http://h:1/files/batches/x/input.jsonl?expires=1000&signature=")
    key, expires, sig = params(url)
    verify(SECRET, "PUT", key, expires, sig, now=999)
    with pytest.raises(PermissionDeniedError, match="expired"):
        verify(SECRET, "PUT", key, expires, sig, now=1000)


@pytest.mark.parametrize("change", ["method", "key", "expires", "signature", "secret", "missing"])
def test_any_tampering_is_refused(change: str) -> None:
    key, expires, sig = "batches/x/input.jsonl", "2000", signature(SECRET, "PUT", "batches/x/input.jsonl", 2000)
    args = {"secret": SECRET, "method": "PUT", "key": key, "expires": expires, "sig": sig}
    args |= {
        "method": {"method": "GET"},
        "key": {"key": "batches/y/input.jsonl"},
        "expires": {"expires": "3000"},
        "signature": {"sig": "0" * 64},
        "secret": {"secret": b"other"},
        "missing": {"sig": None},
    }[change]
    with pytest.raises(PermissionDeniedError):
        verify(args["secret"], args["method"], args["key"], args["expires"], args["sig"], now=1500)
