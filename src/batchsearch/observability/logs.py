"""Log lines as text or as one JSON object per line (stdlib logging), and the request log line.

Context travels in the standard `extra=` of a logging call (request_id, key_name, batch_id, ...): the text
format shows it as key=value pairs after the message, the JSON format as fields of the object.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Literal

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"
# the attributes every LogRecord has; anything else on a record came from `extra=`
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
request_log = logging.getLogger("batchsearch.requests")


def record_context(record: logging.LogRecord) -> dict[str, object]:
    """The fields a logging call passed with `extra=`, in the order given."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRIBUTES and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, process, message, every `extra=` field,
    and the traceback of an exception."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": record.process,
            "message": record.getMessage(),
        }
        line |= record_context(record)
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    """The classic text line, followed by the `extra=` fields as key=value."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        """The text line with its context appended."""
        context = " ".join(f"{k}={v}" for k, v in record_context(record).items() if v is not None)
        text = super().formatMessage(record)
        return f"{text} [{context}]" if context else text


def configure_logging(fmt: LogFormat, *, level: int = logging.INFO, stream: IO[str] | None = None) -> None:
    """Send every log record at `level` or above to `stream` (default stderr) in format `fmt`, replacing the
    root logger's handlers (so that calling it again switches the format)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def log_request(method: str, route: str, status: int, seconds: float, context: dict[str, str | None]) -> None:
    """The one log line of a finished request (context: request_id, key_name, batch_id when known)."""
    duration_ms = round(seconds * 1000, 1)
    request_log.info("%s %s %d %.1fms", method, route, status, duration_ms,
                     extra={**context, "method": method, "route": route, "status": status,
                            "duration_ms": duration_ms})
