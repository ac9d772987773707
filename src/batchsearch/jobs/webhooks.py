"""Webhooks: the signed status document POSTed on every terminal state, retried with exponential backoff.

Deliveries run concurrently in a bounded pool, so a slow receiver holds one slot and never delays another
job's webhook by more than that. Each attempt connects only to an address checked by webhook_targets (the
checked IP is pinned, so DNS cannot change between check and connect) and records a status code and a
generic reason, never the receiver's answer or the OS error text."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from batchsearch.clock import Clock
from batchsearch.jobs.lines import JsonObject
from batchsearch.jobs.model import Job, WebhookQueue
from batchsearch.jobs.states import is_terminal
from batchsearch.jobs.status import (
    ADDRESS_NOT_ALLOWED,
    CONNECTION_FAILED,
    DELIVERY_FAILED,
    INVALID_URL,
    TIMED_OUT,
    deliveries,
    http_reason,
)
from batchsearch.jobs.webhook_targets import (
    IPNetwork,
    InvalidTargetError,
    RefusedTargetError,
    Resolver,
    Target,
    checked_addresses,
    parse_target,
    resolve_host,
)

log = logging.getLogger(__name__)
TIMESTAMP_HEADER = "X-Batchsearch-Timestamp"
SIGNATURE_HEADER = "X-Batchsearch-Signature"
KEPT_DELIVERIES = 50


def new_secret() -> str:
    """A fresh per-job webhook signing secret (returned once, on create)."""
    return f"whsec_{secrets.token_hex(24)}"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Hex HMAC-SHA256 over `timestamp + "." + body` with the job's webhook secret."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def is_valid_signature(secret: str, timestamp: str, body: bytes, received: str) -> bool:
    """Whether `received` signs (timestamp, body) with `secret` (what a receiver checks)."""
    return hmac.compare_digest(signature(secret, timestamp, body), received)


def backoff_seconds(attempt: int, base: float, cap: float) -> float:
    """Wait before attempt `attempt + 1` after `attempt` failures: base * 2^(attempt-1), at most `cap`."""
    return float(min(base * 2 ** max(attempt - 1, 0), cap))


@dataclass(frozen=True)
class WebhookPolicy:
    """How deliveries are made and retried: backoff base and cap, how long and how many times to keep trying,
    the request timeout, how many at once, and the networks allowed although not public."""

    backoff_seconds: float
    max_backoff_seconds: float
    give_up_after_seconds: float
    timeout_seconds: float
    max_attempts: int = 10
    concurrency: int = 8
    allowed_networks: tuple[IPNetwork, ...] = ()


@dataclass(frozen=True)
class DeliveryOutcome:
    """One attempt's result as recorded: the status code (None without an answer) and a generic reason."""

    status_code: int | None
    error: str | None
    is_final: bool = False  # no later attempt can succeed (an invalid URL)

    @property
    def is_delivered(self) -> bool:
        """Whether the receiver answered 2xx."""
        return self.status_code is not None and 200 <= self.status_code < 300

    def record(self) -> JsonObject:
        """The attempt's fields in the job's delivery list."""
        return {"status_code": self.status_code, "error": self.error, "delivered": self.is_delivered}


def answered(status_code: int) -> DeliveryOutcome:
    """The outcome of an answer: delivered on 2xx, else `HTTP <code>` (the body is never read)."""
    ok = 200 <= status_code < 300
    return DeliveryOutcome(status_code, None if ok else http_reason(status_code))


class WebhookDispatcher:
    """Delivers due notifications: claims attempts while the pool has room, POSTs the signed status document to a
    checked address, records the outcome."""

    def __init__(
        self,
        queue: WebhookQueue,
        render: Callable[[Job], JsonObject],
        policy: WebhookPolicy,
        clock: Clock,
        http: httpx.Client | None = None,
        resolve: Resolver = resolve_host,
    ) -> None:
        self._queue = queue
        self._render = render
        self._policy = policy
        self._clock = clock
        self._resolve = resolve
        # no keep-alive: a pooled connection is keyed by IP only and must not carry one name's TLS to another
        limits = httpx.Limits(max_connections=policy.concurrency, max_keepalive_connections=0)
        self._http = http or httpx.Client(timeout=policy.timeout_seconds, follow_redirects=False, trust_env=False,
                                          limits=limits)
        self._pool = ThreadPoolExecutor(max_workers=policy.concurrency, thread_name_prefix="batch-webhook")
        self._lock = threading.Lock()
        self._in_flight = 0
        self._is_closed = False

    def run_once(self) -> int:
        """Start every due delivery the pool has room for; return how many were started (not awaited)."""
        with self._lock:
            room = 0 if self._is_closed else self._policy.concurrency - self._in_flight
        if room <= 0:
            return 0
        started = 0
        for job in self._queue.webhooks_due(self._clock(), room):
            now = self._clock()
            if self._claim(job, now):
                with self._lock:
                    self._in_flight += 1
                self._pool.submit(self._deliver, job, now)
                started += 1
        return started

    @property
    def in_flight(self) -> int:
        """Deliveries started and not yet recorded."""
        with self._lock:
            return self._in_flight

    def close(self) -> None:
        """Wait for the deliveries in flight (each bounded by the timeout), then close the HTTP client."""
        with self._lock:
            self._is_closed = True
        self._pool.shutdown(wait=True)
        self._http.close()

    def _claim(self, job: Job, now: datetime) -> bool:
        """Own the job's next attempt; False when another worker has it or the job is no longer terminal."""
        until = now + timedelta(seconds=self._policy.timeout_seconds * 2 + 1)
        if not self._queue.claim_webhook(job.id, job.webhook_attempts, now, until):
            return False
        if not is_terminal(job.status):  # retried meanwhile: its next terminal state is notified instead
            idle = {"webhook_pending": False, "webhook_next_at": None}
            self._queue.record_webhook(job.id, job.webhook_attempts, idle)
            return False
        return True

    def _deliver(self, job: Job, at: datetime) -> None:
        """One attempt in a pool thread: every failure, whatever raised it, is recorded as an attempt."""
        try:
            try:
                outcome = self._post(job)
            except Exception:
                log.exception("webhook of batch job %s: delivery raised", job.id)
                outcome = DeliveryOutcome(None, DELIVERY_FAILED)
            self._record(job, at, outcome)
        except Exception:  # the store is away: the claim expires and the attempt is made again
            log.exception("webhook of batch job %s: recording the attempt failed", job.id)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _post(self, job: Job) -> DeliveryOutcome:
        """POST the signed status document to a checked address of the job's URL; the attempt's outcome."""
        assert job.webhook_url is not None and job.webhook_secret is not None
        try:
            target = parse_target(job.webhook_url)
            address = checked_addresses(target, self._policy.allowed_networks, self._resolve)[0]
        except InvalidTargetError:
            return DeliveryOutcome(None, INVALID_URL, is_final=True)
        except RefusedTargetError:
            log.warning("webhook of batch job %s: %s resolves to an address not allowed", job.id, job.webhook_url)
            return DeliveryOutcome(None, ADDRESS_NOT_ALLOWED)
        except (OSError, UnicodeError) as exc:  # the name does not resolve
            log.warning("webhook of batch job %s: resolving failed: %s", job.id, exc)
            return DeliveryOutcome(None, CONNECTION_FAILED)
        return self._send(job, target, str(address))

    def _send(self, job: Job, target: Target, address: str) -> DeliveryOutcome:
        """The request itself, to `address` with the target's Host header and TLS name; the body is not read."""
        assert job.webhook_secret is not None
        body = json.dumps(self._render(job), separators=(",", ":")).encode()
        timestamp = str(int(self._clock().timestamp()))
        headers = {"Host": target.host_header, "Content-Type": "application/json", TIMESTAMP_HEADER: timestamp,
                   SIGNATURE_HEADER: signature(job.webhook_secret, timestamp, body)}
        extensions = {"sni_hostname": target.host} if target.ip is None else {}
        try:
            with self._http.stream("POST", target.url.copy_with(host=address), content=body, headers=headers,
                                   extensions=extensions) as response:
                return answered(response.status_code)
        except httpx.TimeoutException:
            return DeliveryOutcome(None, TIMED_OUT)
        except httpx.HTTPError as exc:
            log.warning("webhook of batch job %s: %s", job.id, f"{type(exc).__name__}: {exc}"[:300])
            return DeliveryOutcome(None, CONNECTION_FAILED)

    def _record(self, job: Job, at: datetime, outcome: DeliveryOutcome) -> None:
        """Store the attempt; schedule the next one with backoff, or stop (delivered, a final failure, the last
        allowed attempt, or too long trying)."""
        done = deliveries(job)
        attempt = job.webhook_attempts + 1
        done.append({"attempt": attempt, "at": at.isoformat(), "job_status": job.status.value, **outcome.record()})
        first = job.completed_at or at  # retries stop give_up_after seconds after the terminal state
        changes: dict[str, object] = {
            "webhook_attempts": attempt,
            "webhook_deliveries": json.dumps(done[-KEPT_DELIVERIES:]),
        }
        wait = backoff_seconds(attempt, self._policy.backoff_seconds, self._policy.max_backoff_seconds)
        too_late = (at - first).total_seconds() + wait > self._policy.give_up_after_seconds
        if outcome.is_delivered or outcome.is_final or attempt >= self._policy.max_attempts or too_late:
            changes |= {"webhook_pending": False, "webhook_next_at": None}
        else:
            changes["webhook_next_at"] = at + timedelta(seconds=wait)
        if not outcome.is_delivered:
            log.warning("webhook of batch job %s failed (attempt %d): %s", job.id, attempt, outcome.error)
        self._queue.record_webhook(job.id, job.webhook_attempts, changes)
