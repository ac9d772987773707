"""Per-key request rates: token buckets on searches and on batch polling, answered with 429 and Retry-After.

Each API process keeps its own buckets in memory (no shared store), so with N API processes behind a load
balancer a key may send up to N times the configured rate. Buckets are keyed on a hash of the X-API-KEY value
(never the key itself); requests without a key pass through to the route, which answers 401.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import FastAPI
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from batchsearch.config import Settings
from batchsearch.errors import RateLimitError

MAX_TRACKED_KEYS = 10_000  # buckets kept per kind; a full bucket is forgotten first (it equals a fresh one)
KG_PREFIX = "/v1/knowledge-graph/"
BATCHES_PREFIX = "/v1/search/batches"


@dataclass(frozen=True)
class Rate:
    """A sustained rate and a burst, and the settings they come from (named in the 429 message)."""

    per_second: float
    burst: int
    setting: str


@dataclass
class TokenBucket:
    """`burst` tokens, refilled at `per_second`; a request takes one (pure: the caller passes the time)."""

    rate: Rate
    tokens: float
    updated: float

    def refill(self, now: float) -> None:
        """Add the tokens earned since the last update, up to the burst."""
        elapsed = max(now - self.updated, 0.0)
        self.tokens = min(float(self.rate.burst), self.tokens + elapsed * self.rate.per_second)
        self.updated = now

    def take(self, now: float) -> float:
        """Take a token: 0.0 when there was one, else the seconds until there is one (nothing taken)."""
        self.refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate.per_second

    def is_full(self, now: float) -> bool:
        """Whether the bucket refilled completely (forgetting it changes nothing)."""
        self.refill(now)
        return self.tokens >= self.rate.burst


class KeyBuckets:
    """One bucket per API key hash for one kind of request, at most MAX_TRACKED_KEYS of them."""

    def __init__(self, rate: Rate, max_keys: int = MAX_TRACKED_KEYS) -> None:
        self.rate = rate
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, key_hash: str, now: float) -> float:
        """Take a token from the key's bucket: 0.0, or the seconds to wait."""
        bucket = self._buckets.get(key_hash)
        if bucket is None:
            self._make_room(now)
            bucket = self._buckets[key_hash] = TokenBucket(self.rate, float(self.rate.burst), now)
        self._buckets.move_to_end(key_hash)
        return bucket.take(now)

    def _make_room(self, now: float) -> None:
        """Forget full buckets, then the least recently used ones, when at the limit."""
        if len(self._buckets) < self._max_keys:
            return
        for key in [k for k, b in self._buckets.items() if b.is_full(now)]:
            del self._buckets[key]
        while len(self._buckets) >= self._max_keys:
            self._buckets.popitem(last=False)


SEARCH_PATHS = ("/v1/search", "/v1/search/volume")
CO_MENTIONS_PREFIX = "/v1/search/co-mentions/"
DOCUMENTS_PREFIX = "/v1/documents/"
QUOTAS_PATH = "/v1/subscription/quotas"


def request_kind(method: str, path: str) -> str | None:
    """Which limit a request counts against: "search", "poll", or None (not limited)."""
    path = path.rstrip("/") or "/"
    if (method == "POST" and path in SEARCH_PATHS) or path.startswith(KG_PREFIX) \
            or (method == "POST" and path.startswith(CO_MENTIONS_PREFIX)):
        return "search"
    if method == "GET" and path.startswith(DOCUMENTS_PREFIX) and not path.endswith("/annotated"):
        return "search"  # the signed annotated-JSON download carries no key
    if method == "GET" and (path == BATCHES_PREFIX or path.startswith(BATCHES_PREFIX + "/") or path == QUOTAS_PATH):
        return "poll"
    return None


def api_key_hash(scope: Scope) -> str | None:
    """SHA-256 of the request's X-API-KEY value (as the key store strips it), or None without one."""
    for name, value in scope.get("headers", ()):
        if name == b"x-api-key":
            key = value.strip()
            return hashlib.sha256(key).hexdigest() if key else None
    return None


class RateLimitMiddleware:
    """ASGI middleware: a 429 with Retry-After once a key's bucket for the request's kind is empty."""

    def __init__(self, app: ASGIApp, *, search: Rate, poll: Rate, clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self._buckets = {"search": KeyBuckets(search), "poll": KeyBuckets(poll)}
        self._clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = request_kind(scope.get("method", ""), scope.get("path", "")) if scope["type"] == "http" else None
        key_hash = api_key_hash(scope) if kind is not None else None
        if kind is None or key_hash is None:
            await self.app(scope, receive, send)
            return
        buckets = self._buckets[kind]
        wait = buckets.take(key_hash, self._clock())
        if wait <= 0.0:
            await self.app(scope, receive, send)
            return
        rate = buckets.rate
        err = RateLimitError(
            f"Too many {kind} requests for this API key: {rate.setting} allows {rate.per_second:g} per second "
            f"(burst {rate.burst}); retry after {shown_seconds(wait)} s", retry_after=wait)
        headers = {"Retry-After": err.retry_after_header() or "1"}
        await JSONResponse(err.to_body(), status_code=err.status_code, headers=headers)(scope, receive, send)


def shown_seconds(wait: float) -> str:
    """Seconds to wait as the message shows them."""
    return f"{wait:.2f}".rstrip("0").rstrip(".")


def install_rate_limits(app: FastAPI, settings: Settings) -> None:
    """Limit each key's searches and batch polls to the configured rates (per API process)."""
    app.add_middleware(
        RateLimitMiddleware,
        search=Rate(settings.rate_search_per_second, settings.rate_search_burst, "rate_search_per_second"),
        poll=Rate(settings.rate_poll_per_second, settings.rate_poll_burst, "rate_poll_per_second"),
    )
