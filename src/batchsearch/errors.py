"""One exception tree for the whole product: each class carries an HTTP status and a stable code.

The same error looks the same at every edge: the API renders it as a JSON body with that status,
the SDK raises the same class from such a body, and the CLI prints its message and exits non-zero.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar


class BatchSearchError(Exception):
    """Base class of every error batchsearch raises on purpose."""

    status_code: ClassVar[int] = 500
    error_code: ClassVar[str] = "INTERNAL_ERROR"

    def __init__(self, message: str, *, request_id: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id
        self.details = details

    def to_body(self) -> dict[str, Any]:
        """The wire body: `statusCode`/`message` (batch and content APIs) plus `errors` (search API)."""
        body: dict[str, Any] = {
            "statusCode": self.status_code,
            "message": self.message,
            "errorCode": self.error_code,
            "errors": [{"message": self.message}],
        }
        if self.request_id:
            body["requestId"] = self.request_id
        if self.details is not None:
            body["details"] = self.details
        return body


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with a request: the field (a dotted path) and why; `position` for unparseable JSON."""

    field: str
    message: str
    position: int | None = None

    @property
    def location(self) -> str:
        """Where the wire text says the problem is: the field, or the character where JSON parsing stopped."""
        return str(self.position) if self.position is not None else self.field


MAX_RENDERED_PROBLEMS = 20  # a message names this many problems, then says how many more there are
MAX_PROBLEM_TEXT = 300  # characters of one problem's field or reason (a 20 KB keyword is not echoed back)


def render_problems(title: str, problems: Sequence[FieldProblem]) -> str:
    """The one wire text of validation problems: `N validation error(s) for Title\nfield\n  reason...`, the
    first MAX_RENDERED_PROBLEMS of them, each cut to MAX_PROBLEM_TEXT characters."""
    count = len(problems)
    lines = [f"{count} validation error{'s' if count != 1 else ''} for {title}"]
    lines += [f"{_cut(problem.location)}\n  {_cut(problem.message)}" for problem in problems[:MAX_RENDERED_PROBLEMS]]
    if count > MAX_RENDERED_PROBLEMS:
        lines.append(f"... and {count - MAX_RENDERED_PROBLEMS} more")
    return "\n".join(lines)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_PROBLEM_TEXT else text[: MAX_PROBLEM_TEXT - 3] + "..."


class ValidationError(BatchSearchError):
    """The request or a batch line is malformed or out of range (400); `problems` names the fields."""

    status_code = 400
    error_code = "VALIDATION_ERROR"

    def __init__(
        self,
        message: str | None = None,
        *,
        problems: Sequence[FieldProblem] = (),
        title: str = "request",
        request_id: str | None = None,
        details: Any = None,
    ) -> None:
        if message is None:
            message = render_problems(title, problems)
        elif not problems:
            problems = (FieldProblem("body", message),)
        super().__init__(message, request_id=request_id, details=details)
        self.problems: tuple[FieldProblem, ...] = tuple(problems)

    @classmethod
    def of(cls, title: str, field: str, message: str) -> ValidationError:
        """A validation error with one problem, rendered as the wire text for `title`."""
        return cls(problems=[FieldProblem(field, message)], title=title)


class AuthenticationError(BatchSearchError):
    """No API key was sent (401)."""

    status_code = 401
    error_code = "UNAUTHENTICATED"


class PermissionDeniedError(BatchSearchError):
    """The API key or signed URL is unknown, tampered with or expired (403)."""

    status_code = 403
    error_code = "FORBIDDEN"


class NotFoundError(BatchSearchError):
    """The resource does not exist or belongs to another owner (404)."""

    status_code = 404
    error_code = "NOT_FOUND"


class ConflictError(BatchSearchError):
    """The resource is not in a state that allows the operation (409)."""

    status_code = 409
    error_code = "CONFLICT"


class PayloadTooLargeError(BatchSearchError):
    """An upload is over the configured byte or line limit (413)."""

    status_code = 413
    error_code = "PAYLOAD_TOO_LARGE"


class RateLimitError(BatchSearchError):
    """Too many requests; retry after `retry_after` seconds, sent as the Retry-After header (429)."""

    status_code = 429
    error_code = "RATE_LIMITED"

    def __init__(
        self, message: str, *, retry_after: float | None = None, request_id: str | None = None, details: Any = None
    ) -> None:
        super().__init__(message, request_id=request_id, details=details)
        self.retry_after = retry_after

    def retry_after_header(self) -> str | None:
        """The Retry-After value: whole seconds, at least 1 (None when the wait is unknown)."""
        return None if self.retry_after is None else str(max(1, math.ceil(self.retry_after)))


class QuotaExceededError(RateLimitError):
    """A per-key quota (active batch jobs, queued lines) is used up; retry once earlier jobs finished (429)."""

    error_code = "QUOTA_EXCEEDED"


class InternalError(BatchSearchError):
    """An unexpected failure inside the service (500)."""

    status_code = 500
    error_code = "INTERNAL_ERROR"


class ServiceUnavailableError(BatchSearchError):
    """The service cannot take the request right now (503)."""

    status_code = 503
    error_code = "UNAVAILABLE"


class SearchTimeoutError(BatchSearchError):
    """A search did not finish within its deadline (504)."""

    status_code = 504
    error_code = "TIMEOUT"


ERROR_CLASSES: tuple[type[BatchSearchError], ...] = (
    ValidationError,
    AuthenticationError,
    PermissionDeniedError,
    NotFoundError,
    ConflictError,
    PayloadTooLargeError,
    RateLimitError,
    QuotaExceededError,
    InternalError,
    ServiceUnavailableError,
    SearchTimeoutError,
)


def error_for_status(status: int, message: str, *, request_id: str | None = None) -> BatchSearchError:
    """Rebuild the exception that a server sent as a body with this status."""
    for cls in ERROR_CLASSES:
        if cls.status_code == status:
            return cls(message, request_id=request_id)
    return BatchSearchError(message, request_id=request_id)
