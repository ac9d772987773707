"""Bad input never gets a 5xx: a table of malformed, wrong-typed, huge, deep, non-finite and unauthenticated
requests against every route of a real server on 127.0.0.1 (uvicorn, SQLite, local files, a batch worker).

Every route of the app must appear in the table (a new route without cases fails the test); every answer is
below 500, is the expected status, and a 4xx carries the one error body shape. Batch lines with the same kinds
of input become `error` lines (400) in an output file that stays valid JSON.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest

from sdk_server import LiveServer

DEEP = b'{"query": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
HUGE_INT = b"9" * 5000
LONG = "k" * 1001
# rates high enough that the table itself is never rate limited (429 would hide what the route does)
SETTINGS = {"rate_search_per_second": 10_000.0, "rate_search_burst": 100_000, "rate_poll_per_second": 10_000.0,
            "rate_poll_burst": 100_000}


@dataclass(frozen=True)
class Case:
    """One bad request: the route it exercises (OpenAPI method and path), what to send and the status expected
    (None: any answer below 500)."""

    name: str
    route: tuple[str, str]
    path: str
    expect: int | tuple[int, ...] | None
    method: str = ""
    key: str | None = "alice"  # "alice" (a real key), None (no key) or a literal header value
    params: dict[str, Any] = field(default_factory=dict)
    json_body: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    chunked: bool = False


@dataclass
class Target:
    """The live server and the real ids and signed URLs the table's paths are filled from."""

    server: LiveServer
    key: str
    batch_id: str
    upload_url: str
    content_id: str
    content_url: str


def signed(url: str, **changes: str) -> str:
    """A signed URL's path and query, with some query parameters replaced."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query)) | changes
    return f"{parts.path}?{urlencode(query)}"


def j(route: tuple[str, str], name: str, path: str, body: bytes, expect: int | tuple[int, ...] | None,
      **extra: Any) -> Case:
    """A case sending raw bytes as application/json."""
    return Case(name, route, path, expect, content=body, headers={"Content-Type": "application/json"}, **extra)


SEARCH = ("POST", "/v1/search")
BATCHES = ("POST", "/v1/search/batches")
LIST = ("GET", "/v1/search/batches")
VALIDATE = ("POST", "/v1/search/batches/validate")
BATCH = ("GET", "/v1/search/batches/{batch_id}")
DELETE_BATCH = ("DELETE", "/v1/search/batches/{batch_id}")
CANCEL = ("POST", "/v1/search/batches/{batch_id}/cancel")
RESULTS = ("GET", "/v1/search/batches/{batch_id}/results")
RETRY = ("POST", "/v1/search/batches/{batch_id}/retry")
FILE_GET = ("GET", "/files/{key}")
FILE_PUT = ("PUT", "/files/{key}")
DOCS = ("GET", "/contents/v1/documents")
DOC_CREATE = ("POST", "/contents/v1/documents")
DOC = ("GET", "/contents/v1/documents/{content_id}")
DOC_PATCH = ("PATCH", "/contents/v1/documents/{content_id}")
DOC_DELETE = ("DELETE", "/contents/v1/documents/{content_id}")
UPLOAD = ("PUT", "/contents/v1/uploads/{content_id}")
TAGS = ("GET", "/contents/v1/tags")
TAG_CREATE = ("POST", "/contents/v1/tags")
COMPANIES = ("POST", "/v1/knowledge-graph/companies")
SECTORS = ("GET", "/v1/knowledge-graph/companies/sectors")
BY_KIND = ("POST", "/v1/knowledge-graph/companies/{kind}")
COMPANY = ("GET", "/v1/knowledge-graph/companies/{kind}/{value}")
ENTITIES = ("POST", "/v1/knowledge-graph/entities/id")
SOURCES = ("POST", "/v1/knowledge-graph/sources")
HEALTH = ("GET", "/healthz")
READY = ("GET", "/readyz")
METRICS = ("GET", "/metrics")

KEYED = [SEARCH, BATCHES, LIST, VALIDATE, BATCH, CANCEL, RESULTS, RETRY, DOCS, DOC_CREATE, DOC, DOC_PATCH,
         DOC_DELETE, TAGS, TAG_CREATE, COMPANIES, SECTORS, BY_KIND, COMPANY, ENTITIES, SOURCES, DELETE_BATCH]
VOLUME = ("POST", "/v1/search/volume")
CO_ENTITIES = ("POST", "/v1/search/co-mentions/entities")
CO_TOPICS = ("POST", "/v1/search/co-mentions/topics")
KEYED += [VOLUME, CO_ENTITIES, CO_TOPICS]
DOCUMENT = ("GET", "/v1/documents/{document_id}")
DOCUMENT_ANNOTATED = ("GET", "/v1/documents/{document_id}/annotated")
QUOTAS = ("GET", "/v1/subscription/quotas")
DOC_ORIGINAL = ("GET", "/contents/v1/documents/{content_id}/original")
DOC_ANNOTATED = ("GET", "/contents/v1/documents/{content_id}/annotated")
KEYED += [DOCUMENT, QUOTAS, DOC_ORIGINAL, DOC_ANNOTATED]
EXAMPLE_PATHS = {"{batch_id}": "{batch_id}", "{content_id}": "{content_id}", "{kind}": "isin",
                 "{value}": "US0378331005"}
EXAMPLE_PATHS["{document_id}"] = "F" * 32


def _example(path: str) -> str:
    for name, value in EXAMPLE_PATHS.items():
        path = path.replace(name, value)
    return path


def key_cases() -> list[Case]:
    """Missing, unknown and non-ASCII API keys on every route that needs one: 401, 403, 403."""
    cases = []
    for route in KEYED:
        path = _example(route[1])
        cases += [Case("no key", route, path, 401, key=None), Case("unknown key", route, path, 403, key="bs_nope"),
                  Case("non-ASCII key", route, path, 403, key="bs_\xe9\xb2")]
    return cases


def body_cases() -> list[Case]:
    """Malformed, wrong-typed, huge, deep and non-finite bodies and parameters, route by route."""
    def q(inner: str | bytes) -> bytes:
        return b'{"query": {"text": "x", ' + (inner.encode() if isinstance(inner, str) else inner) + b"}}"

    return [
        # POST /v1/search
        j(SEARCH, "malformed JSON", "/v1/search", b'{"query": ', 400),
        j(SEARCH, "empty body", "/v1/search", b"", 400),
        j(SEARCH, "not UTF-8", "/v1/search", b'{"query": {"text": "\xff\xfe"}}', 400),
        j(SEARCH, "deep nesting", "/v1/search", DEEP, 400),
        j(SEARCH, "5,000-digit max_chunks", "/v1/search", q(b'"max_chunks": ' + HUGE_INT), 400),
        j(SEARCH, "NaN boost", "/v1/search", q('"ranking_params": {"freshness_boost": NaN}'), 400),
        j(SEARCH, "Infinity threshold", "/v1/search",
          q('"ranking_params": {"reranker": {"threshold": Infinity}}'), 400),
        j(SEARCH, "body is a list", "/v1/search", b"[1, 2]", 400),
        Case("text of the wrong type", SEARCH, "/v1/search", 400, json_body={"query": {"text": 42}}),
        Case("overlong text", SEARCH, "/v1/search", 400, json_body={"query": {"text": "x" * 10_001}}),
        Case("overlong keyword", SEARCH, "/v1/search", 400,
             json_body={"query": {"text": "x", "filters": {"keyword": {"any_of": [LONG]}}}}),
        Case("too many keywords", SEARCH, "/v1/search", 400,
             json_body={"query": {"text": "x", "filters": {"keyword": {"any_of": ["k"] * 501}}}}),
        Case("too many reporting periods", SEARCH, "/v1/search", 400,
             json_body={"query": {"text": "x", "filters": {"reporting_periods": [{"fiscal_year": 2024}] * 501}}}),
        Case("too many sentiment ranges", SEARCH, "/v1/search", 400,
             json_body={"query": {"text": "x", "filters": {"sentiment": {"ranges": [{"min": 0}] * 101}}}}),
        Case("too many document types", SEARCH, "/v1/search", 400,
             json_body={"query": {"text": "x", "filters": {"document_type": {"values": ["NEWS"] * 101}}}}),
        Case("too many entities", SEARCH, "/v1/search", 400,
             json_body={"query": {"text": "x", "filters": {"entity": {"any_of": ["228D42"] * 501}}}}),
        Case("year 1 at +05:00", SEARCH, "/v1/search", 400,
             json_body={"query": {"text": "x", "filters": {"timestamp": {"start": "0001-01-01T00:00:00+05:00"}}}}),
        Case("huge chunk range", SEARCH, "/v1/search", None,
             json_body={"query": {"text": "x", "filters": {"chunk": {"from": 1, "to": 2**70}}}}),
        Case("wrong method", ("POST", "/v1/search"), "/v1/search", 405, method="GET"),
        # POST /v1/search/batches
        j(BATCHES, "5,000-digit priority", "/v1/search/batches", b'{"priority": ' + HUGE_INT + b"}", 400),
        j(BATCHES, "deep body", "/v1/search/batches", b'{"a": ' + b"[" * 60_000 + b"}", 400),
        j(BATCHES, "NaN priority", "/v1/search/batches", b'{"priority": NaN}', 400),
        Case("priority of the wrong type", BATCHES, "/v1/search/batches", 400, json_body={"priority": "high"}),
        Case("priority out of range", BATCHES, "/v1/search/batches", 400, json_body={"priority": 10**6}),
        Case("webhook_url not http", BATCHES, "/v1/search/batches", 400, json_body={"webhook_url": "ftp://x/y"}),
        Case("overlong webhook_url", BATCHES, "/v1/search/batches", 400,
             json_body={"webhook_url": "https://example.com/" + "a" * 3000}),
        Case("overlong Idempotency-Key", BATCHES, "/v1/search/batches", 400, headers={"Idempotency-Key": "i" * 300}),
        Case("body over 64 KB", BATCHES, "/v1/search/batches", 413, json_body={"pad": "p" * 70_000}),
        # GET /v1/search/batches
        Case("limit 0", LIST, "/v1/search/batches", 400, params={"limit": 0}),
        Case("limit not a number", LIST, "/v1/search/batches", 400, params={"limit": "ten"}),
        Case("limit 2**70", LIST, "/v1/search/batches", 400, params={"limit": 2**70}),
        Case("unknown status", LIST, "/v1/search/batches", 400, params={"status": "bogus"}),
        Case("unknown after", LIST, "/v1/search/batches", None, params={"after": "x" * 5000}),
        # POST /v1/search/batches/validate
        Case("deep line", VALIDATE, "/v1/search/batches/validate", 200, content=DEEP + b"\n"),
        Case("huge and NaN lines", VALIDATE, "/v1/search/batches/validate", 200,
             content=q(b'"max_chunks": ' + HUGE_INT) + b'\n{"query": {"text": NaN}}\n'),
        Case("not UTF-8 file", VALIDATE, "/v1/search/batches/validate", 200, content=b"\xff\xfe\n"),
        j(VALIDATE, "batch_id of the wrong type", "/v1/search/batches/validate", b'{"batch_id": 5}', 200),
        j(VALIDATE, "unknown batch_id", "/v1/search/batches/validate", b'{"batch_id": "nope"}', 404),
        # one job
        Case("unknown id", BATCH, "/v1/search/batches/nope", 404),
        Case("10,000-character id", BATCH, "/v1/search/batches/" + "b" * 10_000, 404),
        Case("non-ASCII id", BATCH, "/v1/search/batches/%C3%A9%00", 404),
        Case("unknown id", DELETE_BATCH, "/v1/search/batches/nope", 404),
        Case("pending job", DELETE_BATCH, "/v1/search/batches/{batch_id}", 409),
        Case("unknown id", CANCEL, "/v1/search/batches/nope/cancel", 404),
        Case("unknown id", RETRY, "/v1/search/batches/nope/retry", 404),
        Case("unknown id", RESULTS, "/v1/search/batches/nope/results", 404),
        Case("from_line 0", RESULTS, "/v1/search/batches/{batch_id}/results", 400, params={"from_line": 0}),
        Case("from_line not a number", RESULTS, "/v1/search/batches/{batch_id}/results", 400,
             params={"from_line": "one"}),
        Case("from_line 2**70", RESULTS, "/v1/search/batches/{batch_id}/results", None, params={"from_line": 2**70}),
        # signed batch files
        Case("no signature", FILE_GET, "/files/batches/x/input.jsonl", 403, key=None),
        Case("superscript expires", FILE_GET, "{upload_url|expires=²}", 403, key=None, method="GET"),
        Case("non-ASCII signature", FILE_GET, "{upload_url|signature=é}", 403, key=None, method="GET"),
        Case("expires 2**70", FILE_GET, "{upload_url|expires=" + str(2**70) + "}", 403, key=None, method="GET"),
        Case("expired", FILE_PUT, "{upload_url|expires=1}", 403, key=None, content=b"{}\n"),
        Case("superscript expires", FILE_PUT, "{upload_url|expires=²}", 403, key=None, content=b"{}\n"),
        Case("non-ASCII signature", FILE_PUT, "{upload_url|signature=é}", 403, key=None, content=b"{}\n"),
        Case("chunked body, tampered URL", FILE_PUT, "{upload_url|signature=00}", 403, key=None,
             content=b'{"query": {"text": "x"}}\n', chunked=True),
        Case("path traversal", FILE_PUT, "/files/batches/..%2F..%2Fetc/input.jsonl?expires=1&signature=0", 403,
             key=None, content=b"{}\n"),
        # content records
        Case("empty file_name", DOC_CREATE, "/contents/v1/documents", 400, json_body={"file_name": ""}),
        Case("control characters", DOC_CREATE, "/contents/v1/documents", 400, json_body={"file_name": "a\x00.txt"}),
        Case("year 1 at +05:00", DOC_CREATE, "/contents/v1/documents", 400,
             json_body={"file_name": "a.txt", "published_ts": "0001-01-01T00:00:00+05:00"}),
        Case("too many tags", DOC_CREATE, "/contents/v1/documents", 400,
             json_body={"file_name": "a.txt", "tags": [f"t{i}" for i in range(101)]}),
        j(DOC_CREATE, "deep body", "/contents/v1/documents", b'{"file_name": ' + b"[" * 100_000, 400),
        j(DOC_CREATE, "NaN field", "/contents/v1/documents", b'{"file_name": NaN}', 400),
        Case("page 2**62", DOCS, "/contents/v1/documents", 400, params={"page": 2**62}),
        Case("page not a number", DOCS, "/contents/v1/documents", 400, params={"page": "one"}),
        Case("unknown sort", DOCS, "/contents/v1/documents", 400, params={"sort_by": "password"}),
        Case("page_size 1000", DOCS, "/contents/v1/documents", 400, params={"page_size": 1000}),
        Case("unknown id", DOC, "/contents/v1/documents/nope", 404),
        Case("non-ASCII id", DOC, "/contents/v1/documents/%C3%A9", 404),
        Case("tags of the wrong type", DOC_PATCH, "/contents/v1/documents/{content_id}", 400, json_body={"tags": "a"}),
        Case("too many tags", DOC_PATCH, "/contents/v1/documents/{content_id}", 400,
             json_body={"tags": [f"t{i}" for i in range(101)]}),
        j(DOC_PATCH, "malformed JSON", "/contents/v1/documents/{content_id}", b"{", 400),
        Case("unknown id", DOC_DELETE, "/contents/v1/documents/nope", 404),
        Case("empty name", TAG_CREATE, "/contents/v1/tags", 400, json_body={"name": ""}),
        Case("overlong name", TAG_CREATE, "/contents/v1/tags", 400, json_body={"name": "n" * 201}),
        j(TAG_CREATE, "huge integer name", "/contents/v1/tags", b'{"name": ' + HUGE_INT + b"}", 400),
        Case("unknown query params", TAGS, "/contents/v1/tags", 200, params={"page": 2**70}),
        # signed content uploads
        Case("no signature", UPLOAD, "/contents/v1/uploads/{content_id}", 403, key=None, content=b"x"),
        Case("superscript expires", UPLOAD, "{content_url|expires=²}", 403, key=None, content=b"x"),
        Case("non-ASCII signature", UPLOAD, "{content_url|signature=é}", 403, key=None, content=b"x"),
        Case("expires 2**70", UPLOAD, "{content_url|expires=" + str(2**70) + "}", 403, key=None, content=b"x"),
        Case("chunked body, tampered URL", UPLOAD, "{content_url|signature=00}", 403, key=None, content=b"x" * 1000,
             chunked=True),
        Case("unknown slot", UPLOAD, "/contents/v1/uploads/nope?expires=1&signature=0", 403, key=None, content=b"x"),
        # knowledge graph
        Case("no criterion", COMPANIES, "/v1/knowledge-graph/companies", 400, json_body={}),
        Case("limit 10**30", COMPANIES, "/v1/knowledge-graph/companies", 400, json_body={"query": "a", "limit": 10**30}),
        Case("types not a list", COMPANIES, "/v1/knowledge-graph/companies", 400, json_body={"types": "PUBLIC"}),
        j(COMPANIES, "deep body", "/v1/knowledge-graph/companies", DEEP, 400),
        j(COMPANIES, "NaN limit", "/v1/knowledge-graph/companies", b'{"query": "a", "limit": NaN}', 400),
        Case("unknown kind", BY_KIND, "/v1/knowledge-graph/companies/passport", 400, json_body={"values": ["x"]}),
        Case("no values", BY_KIND, "/v1/knowledge-graph/companies/isin", 400, json_body={"values": []}),
        Case("501 values", BY_KIND, "/v1/knowledge-graph/companies/isin", 400, json_body={"values": ["x"] * 501}),
        Case("unknown kind", COMPANY, "/v1/knowledge-graph/companies/passport/1", 400),
        Case("10,000-character value", COMPANY, "/v1/knowledge-graph/companies/isin/" + "v" * 10_000, 404),
        Case("101 ids", ENTITIES, "/v1/knowledge-graph/entities/id", 400, json_body={"values": ["228D42"] * 101}),
        Case("ids of the wrong type", ENTITIES, "/v1/knowledge-graph/entities/id", 400, json_body={"values": [1, 2]}),
        Case("no criterion", SOURCES, "/v1/knowledge-graph/sources", 400, json_body={}),
        j(SOURCES, "huge integer", "/v1/knowledge-graph/sources", b'{"query": ' + HUGE_INT + b"}", 400),
        Case("junk params", SECTORS, "/v1/knowledge-graph/companies/sectors", 200, params={"x": "\x00" * 10}),
        # unauthenticated probes and unknown routes
        Case("junk params", HEALTH, "/healthz", 200, key=None, params={"a": "é" * 1000}),
        Case("wrong method", HEALTH, "/healthz", 405, key=None, method="POST"),
        Case("junk params", READY, "/readyz", 200, key=None, params={"a": "\x00"}),
        Case("junk params", METRICS, "/metrics", 200, key=None, params={"name[]": "x" * 1000}),
        Case("unknown route", HEALTH, "/v1/nope", 404),
        # POST /v1/search/volume and /v1/search/co-mentions/{entities,topics}
        j(VOLUME, "malformed JSON", "/v1/search/volume", b'{"query": ', 400),
        j(VOLUME, "deep nesting", "/v1/search/volume", DEEP, 400),
        j(VOLUME, "NaN sentiment", "/v1/search/volume", b'{"query": {"filters": {"sentiment": {"ranges": [{"min": NaN}]}}}}',
          400),
        Case("no query", VOLUME, "/v1/search/volume", 400, json_body={}),
        Case("max_chunks (search only)", VOLUME, "/v1/search/volume", 400, json_body={"query": {"max_chunks": 5}}),
        Case("overlong text", VOLUME, "/v1/search/volume", 400, json_body={"query": {"text": "x" * 10_001}}),
        Case("too many entities", VOLUME, "/v1/search/volume", 400,
             json_body={"query": {"filters": {"entity": {"any_of": ["228D42"] * 501}}}}),
        Case("year 1 at +05:00", VOLUME, "/v1/search/volume", 400,
             json_body={"query": {"filters": {"timestamp": {"end": "0001-01-01T00:00:00+05:00"}}}}),
        Case("wrong method", VOLUME, "/v1/search/volume", 405, method="GET"),
        j(CO_ENTITIES, "5,000-digit limit", "/v1/search/co-mentions/entities", b'{"query": {}, "limit": ' + HUGE_INT + b"}",
          400),
        Case("limit 1001", CO_ENTITIES, "/v1/search/co-mentions/entities", 400, json_body={"query": {}, "limit": 1001}),
        Case("limit as a string", CO_ENTITIES, "/v1/search/co-mentions/entities", 400,
             json_body={"query": {}, "limit": "10"}),
        Case("unknown entity category", CO_ENTITIES, "/v1/search/co-mentions/entities", 400,
             json_body={"query": {"entity_categories": ["planets"]}}),
        Case("body is a list", CO_ENTITIES, "/v1/search/co-mentions/entities", 400, json_body=[1, 2]),
        j(CO_TOPICS, "not UTF-8", "/v1/search/co-mentions/topics", b'{"query": {"text": "\xff\xfe"}}', 400),
        Case("query limit 0", CO_TOPICS, "/v1/search/co-mentions/topics", 400, json_body={"query": {"limit": 0}}),
        Case("huge chunk range", CO_TOPICS, "/v1/search/co-mentions/topics", None,
             json_body={"query": {"filters": {"chunk": {"from": 1, "to": 2**70}}}}),
        # fetch a document, its signed annotated JSON, quotas, content originals and annotated files, list params
        Case("unknown id", DOCUMENT, "/v1/documents/nope", 404),
        Case("non-ASCII id", DOCUMENT, "/v1/documents/%C3%A9%00", 404),
        Case("129-character id", DOCUMENT, "/v1/documents/" + "d" * 129, 400),
        Case("no signature", DOCUMENT_ANNOTATED, "/v1/documents/nope/annotated", 403, key=None),
        Case("superscript expires", DOCUMENT_ANNOTATED, "/v1/documents/nope/annotated", 403, key=None,
             params={"expires": "²", "signature": "0"}),
        Case("expires 2**70", DOCUMENT_ANNOTATED, "/v1/documents/nope/annotated", 403, key=None,
             params={"expires": str(2**70), "signature": "0"}),
        Case("non-ASCII signature", DOCUMENT_ANNOTATED, "/v1/documents/nope/annotated", 403, key=None,
             params={"expires": "9999999999", "signature": "é"}),
        Case("129-character id", DOCUMENT_ANNOTATED, "/v1/documents/" + "d" * 129 + "/annotated", 400, key=None),
        Case("month 13", QUOTAS, "/v1/subscription/quotas", 400, params={"period": "2026-13"}),
        Case("period 2**70", QUOTAS, "/v1/subscription/quotas", 400, params={"period": 2**70}),
        Case("junk params", QUOTAS, "/v1/subscription/quotas", 200, params={"x": "\x00" * 10}),
        Case("pending file", DOC_ORIGINAL, "/contents/v1/documents/{content_id}/original", 409),
        Case("unknown id", DOC_ORIGINAL, "/contents/v1/documents/nope/original", 404),
        Case("pending file", DOC_ANNOTATED, "/contents/v1/documents/{content_id}/annotated", 409),
        Case("non-ASCII id", DOC_ANNOTATED, "/contents/v1/documents/%C3%A9/annotated", 404),
        Case("from_date not a date", DOCS, "/contents/v1/documents", 400, params={"from_date": "yesterday"}),
        Case("from_date year 1 at +05:00", DOCS, "/contents/v1/documents", 400,
             params={"from_date": "0001-01-01T00:00:00+05:00"}),
        Case("unknown origin", DOCS, "/contents/v1/documents", 400, params={"origin": "fax"}),
        Case("unknown ownership", DOCS, "/contents/v1/documents", 400, params={"ownership": "mine"}),
    ]


CASES = key_cases() + body_cases()


def _fill(target: Target, path: str) -> str:
    """Put the target's real ids and signed URLs into a case's path."""
    if path.startswith("{") and "|" in path:
        url_name, change = path[1:-1].split("|", 1)
        name, value = change.split("=", 1)
        return signed(getattr(target, url_name), **{name: value})
    return path.replace("{batch_id}", target.batch_id).replace("{content_id}", target.content_id)


def send(target: Target, case: Case) -> httpx.Response:
    """Send one case over real HTTP."""
    headers: dict[str, str | bytes] = dict(case.headers)
    if case.key == "alice":
        headers["X-API-KEY"] = target.key
    elif case.key is not None:
        headers["X-API-KEY"] = case.key.encode("latin-1")  # raw bytes on the wire, as a broken client sends them
    content: Any = case.content
    if case.chunked and content is not None:
        data = content
        content = iter([data[: len(data) // 2], data[len(data) // 2 :]])  # no Content-Length: chunked
    method = case.method or case.route[0]
    with httpx.Client(base_url=target.server.base_url, timeout=60) as client:
        return client.request(method, _fill(target, case.path), params=case.params or None, json=case.json_body,
                               content=content, headers=headers)


@pytest.fixture(scope="module")
def target(sdk_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """A live server with a pending batch job and a pending content record of alice's."""
    server = LiveServer(sdk_index, tmp_path_factory.mktemp("bad-input"), **SETTINGS)
    http = httpx.Client(base_url=server.base_url, headers={"X-API-KEY": server.api_key}, timeout=60)
    created = http.post("/v1/search/batches").json()
    record = http.post("/contents/v1/documents", json={"file_name": "bad-input.txt"}).json()
    yield Target(server, server.api_key, created["batch_id"], created["presigned_url"], record["id"], record["url"])
    http.close()
    server.stop()


def assert_error_body(response: httpx.Response) -> None:
    """The one wire error shape: statusCode, message, errorCode and errors[{message}]."""
    body = response.json()
    assert body["statusCode"] == response.status_code
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["errorCode"], str) and body["errorCode"]
    assert body["errors"] and all(isinstance(e["message"], str) for e in body["errors"])


def test_the_table_covers_every_route(target: Target) -> None:
    routes = {(method.upper(), path) for path, ops in target.server.app.openapi()["paths"].items() for method in ops}
    covered = {case.route for case in CASES}
    assert routes - covered == set(), "routes without bad-input cases"
    assert covered - routes == set(), "cases naming routes the app does not have"
    assert len(CASES) >= 100


@pytest.mark.parametrize("case", CASES, ids=[f"{c.route[0]} {c.route[1]}: {c.name}" for c in CASES])
def test_bad_input_gets_a_4xx_never_a_5xx(target: Target, case: Case) -> None:
    response = send(target, case)
    assert response.status_code < 500, response.text[:2000]
    if case.expect is not None:
        expected = case.expect if isinstance(case.expect, tuple) else (case.expect,)
        assert response.status_code in expected, response.text[:2000]
    if 400 <= response.status_code < 500:
        assert_error_body(response)


BAD_LINES = [
    (DEEP, "body", "JSON nests deeper than 64 levels"),
    (b'{"query": {"text": "x", "max_chunks": ' + HUGE_INT + b"}}", "query.max_chunks", "more than 100 digits"),
    (b'{"query": {"text": "x", "ranking_params": {"source_boost": NaN}}}', "query.ranking_params.source_boost",
     "finite number"),
    (b'{"query": {"text": "x", "max_chunks": -Infinity}}', "query.max_chunks", "finite number"),
    (b'{"query": {"text": "x", "filters": {"keyword": {"any_of": ["' + LONG.encode() + b'"]}}}}',
     "query.filters.keyword.any_of.0", "at most 1000 characters"),
    (b'{"query": {"text": "x", "filters": {"timestamp": {"end": "0001-01-01T00:00:00+05:00"}}}}',
     "query.filters.timestamp.end", "out of range"),
    (b'{"query": {"text": "' + b"y" * (1024 * 1024 + 1) + b'"}}', "body", "Line is longer than the limit"),
    (b"{", "1", "JSON decode error"),
]


def test_bad_batch_lines_become_400_error_lines_in_an_output_of_valid_json(target: Target) -> None:
    data = b"\n".join([line for line, _, _ in BAD_LINES] + [b'{"query": {"text": "revenue"}}']) + b"\n"
    http = httpx.Client(base_url=target.server.base_url, headers={"X-API-KEY": target.key}, timeout=60)
    created = http.post("/v1/search/batches").json()
    assert httpx.put(created["presigned_url"], content=data, timeout=60).status_code == 200
    deadline = time.monotonic() + 120
    while (status := http.get(f"/v1/search/batches/{created['batch_id']}").json())["status"] != "completed":
        assert time.monotonic() < deadline and status["status"] in ("pending", "processing"), status
        time.sleep(0.1)
    output = httpx.get(status["output_file_url"], timeout=60).content
    rows = [json.loads(line, parse_constant=pytest.fail) for line in output.splitlines()]  # NaN is not JSON
    assert [(r["line_number"], r["status"], r["code"]) for r in rows[:-1]] == [
        (n, "error", 400) for n in range(1, len(BAD_LINES) + 1)]
    assert (rows[-1]["status"], rows[-1]["code"]) == ("success", 200)
    for row, (_, fieldname, reason) in zip(rows, BAD_LINES, strict=False):
        assert f"\n{fieldname}\n" in row["error"] and reason in row["error"], row["error"]
    http.close()
