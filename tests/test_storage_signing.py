"""Signed URLs: HMAC over method, key and expiry."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from batchsearch.errors import PermissionDeniedError
from batchsearch.storage.signing import CONTENT_UPLOADS, OBJECT_FILES, purpose_key, signature, signed_url, verify

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


@pytest.mark.parametrize(("expires", "sig"), [
    ("²", "0" * 64),              # str.isdigit() accepts superscripts, int() does not
    ("١٢٣٤", "0" * 64),           # Arabic-Indic digits
    ("9" * 400, "0" * 64),        # an expiry no clock reaches
    ("2000", "é" * 64),           # hmac.compare_digest raises TypeError on non-ASCII str
    ("2000", "\u0000"),
])
def test_malformed_parameters_are_refused_not_crashed(expires: str, sig: str) -> None:
    with pytest.raises(PermissionDeniedError):
        verify(SECRET, "PUT", "batches/x/input.jsonl", expires, sig, now=1500)


def test_each_purpose_signs_with_its_own_key() -> None:
    files, uploads = purpose_key(SECRET, OBJECT_FILES), purpose_key(SECRET, CONTENT_UPLOADS)
    assert len({files, uploads, SECRET}) == 3 and purpose_key(SECRET, OBJECT_FILES) == files
    sig = signature(files, "PUT", "content-upload/abc", 2000)
    verify(files, "PUT", "content-upload/abc", "2000", sig, now=1500)
    with pytest.raises(PermissionDeniedError):  # a /files signature is no content upload signature
        verify(uploads, "PUT", "content-upload/abc", "2000", sig, now=1500)
