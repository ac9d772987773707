"""Webhooks: the signed status document POSTed on every terminal state, retried with exponential backoff."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from batchsearch.clock import Clock
from batchsearch.jobs.lines import JsonObject
from batchsearch.jobs.model import Job, WebhookQueue
from batchsearch.jobs.states import is_terminal
from batchsearch.jobs.status import deliveries

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
    """How deliveries are retried: backoff base and cap, how long to keep trying, the request timeout."""

    backoff_seconds: float
    max_backoff_seconds: float
    give_up_after_seconds: float
    timeout_seconds: float


class WebhookDispatcher:
    """Delivers due notifications: claims an attempt, POSTs the signed status document, records the outcome."""

    def __init__(
        self,
        queue: WebhookQueue,
        render: Callable[[Job], JsonObject],
        policy: WebhookPolicy,
        clock: Clock,
        http: httpx.Client | None = None,
    ) -> None:
        self._queue = queue
        self._render = render
        self._policy = policy
        self._clock = clock
        self._http = http or httpx.Client(timeout=policy.timeout_seconds, follow_redirects=False)

    def run_once(self, limit: int = 20) -> int:
        """Attempt every due delivery (up to `limit`); return how many were attempted."""
        attempted = 0
        for job in self._queue.webhooks_due(self._clock(), limit):
            if self._attempt(job):
                attempted += 1
        return attempted

    def close(self) -> None:
        """Close the HTTP client."""
        self._http.close()

    def _attempt(self, job: Job) -> bool:
        """One delivery attempt of a job we could claim; False when another worker has it."""
        now = self._clock()
        until = now + timedelta(seconds=self._policy.timeout_seconds * 2 + 1)
        if not self._queue.claim_webhook(job.id, job.webhook_attempts, now, until):
            return False
        if not is_terminal(job.status):  # retried meanwhile: its next terminal state is notified instead
            idle = {"webhook_pending": False, "webhook_next_at": None}
            self._queue.record_webhook(job.id, job.webhook_attempts, idle)
            return False
        outcome = self._post(job)
        self._record(job, now, outcome)
        return True

    def _post(self, job: Job) -> JsonObject:
        """POST the signed status document; the attempt's outcome."""
        assert job.webhook_url is not None and job.webhook_secret is not None
        body = json.dumps(self._render(job), separators=(",", ":")).encode()
        timestamp = str(int(self._clock().timestamp()))
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp,
                   SIGNATURE_HEADER: signature(job.webhook_secret, timestamp, body)}
        try:
            response = self._http.post(job.webhook_url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return {"status_code": None, "error": f"{type(exc).__name__}: {exc}"[:300], "delivered": False}
        ok = 200 <= response.status_code < 300
        return {"status_code": response.status_code, "error": None if ok else response.text[:300], "delivered": ok}

    def _record(self, job: Job, at: datetime, outcome: JsonObject) -> None:
        """Store the attempt; schedule the next one with backoff, or stop (delivered, or too long trying)."""
        done = deliveries(job)
        attempt = job.webhook_attempts + 1
        done.append({"attempt": attempt, "at": at.isoformat(), "job_status": job.status.value, **outcome})
        first = job.completed_at or at  # retries stop 24 h (give_up_after) after the terminal state
        changes: dict[str, object] = {
            "webhook_attempts": attempt,
            "webhook_deliveries": json.dumps(done[-KEPT_DELIVERIES:]),
        }
        wait = backoff_seconds(attempt, self._policy.backoff_seconds, self._policy.max_backoff_seconds)
        if outcome["delivered"] or (at - first).total_seconds() + wait > self._policy.give_up_after_seconds:
            changes |= {"webhook_pending": False, "webhook_next_at": None}
        else:
            changes["webhook_next_at"] = at + timedelta(seconds=wait)
        if not outcome["delivered"]:
            log.warning("webhook of batch job %s failed (attempt %d): %s", job.id, attempt, outcome)
        self._queue.record_webhook(job.id, job.webhook_attempts, changes)
