"""One exception tree for the whole product: each class carries an HTTP status and a stable code.

The same error looks the same at every edge: the API renders it as a JSON body with that status,
the SDK raises the same class from such a body, and the CLI prints its message and exits non-zero.
"""

from __future__ import annotations

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


class ValidationError(BatchSearchError):
    """The request or a batch line is malformed or out of range (400)."""

    status_code = 400
    error_code = "VALIDATION_ERROR"


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
    """Too many requests; retry later (429)."""

    status_code = 429
    error_code = "RATE_LIMITED"


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
