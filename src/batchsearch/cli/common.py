"""Shared pieces of the command line: consoles, option types, settings, one-line errors, the SDK client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from batchsearch.config import Settings
from batchsearch.errors import (
    AuthenticationError,
    BatchSearchError,
    PermissionDeniedError,
)
from batchsearch.runtime import apply_blas_threads

if TYPE_CHECKING:
    from batchsearch.client import Client

console = Console(stderr=True, soft_wrap=True)
stdout = Console(soft_wrap=True)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data folder (default $BATCHSEARCH_DATA_DIR or ./.batchsearch).")]
JsonOut = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
Url = Annotated[str | None, typer.Option("--url", envvar="BATCHSEARCH_URL", show_envvar=True,
                                         help="Server URL (default http://127.0.0.1:8000).")]
ApiKey = Annotated[str | None, typer.Option("--api-key", envvar="BATCHSEARCH_API_KEY", show_envvar=True,
                                            help="API key (make one with `batchsearch keys create`).")]
Timeout = Annotated[float | None, typer.Option("--timeout", help="Give up waiting after this many seconds (the job keeps running).")]
BatchId = Annotated[str, typer.Argument(help="The batch_id printed by `batch submit`.")]
KEY_HINT = "pass --api-key or set BATCHSEARCH_API_KEY (make a key with `batchsearch keys create --name NAME`)"


def settings_for(data_dir: Path | None, **overrides: object) -> Settings:
    """Settings from the environment, with command-line overrides."""
    values = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    settings = Settings(**values)  # type: ignore[arg-type]
    apply_blas_threads(settings)
    return settings


def fail(message: str, code: int = 1) -> NoReturn:
    """Print a one-line error and exit non-zero (no traceback for user errors)."""
    console.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    raise typer.Exit(code)


def error_message(exc: BatchSearchError) -> str:
    """One line for an error of ours: its message, a hint for key problems, the request id to report."""
    import httpx

    from batchsearch.client import APIConnectionError

    if isinstance(exc, APIConnectionError):
        if isinstance(exc.__cause__, httpx.TimeoutException):
            return f"the server at {exc.url} did not answer in time"
        return f"cannot reach the server at {exc.url}: is `batchsearch serve` running?"
    message = " | ".join(line.strip() for line in exc.message.splitlines() if line.strip())
    if isinstance(exc, AuthenticationError) or (isinstance(exc, PermissionDeniedError) and "API key" in message):
        message = f"{message}: {KEY_HINT}"
    return f"{message} (request {exc.request_id})" if exc.request_id else message


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn our errors and missing files into one-line messages."""
    try:
        yield
    except BatchSearchError as exc:
        fail(error_message(exc))
    except FileNotFoundError as exc:
        fail(f"file not found: {exc.filename}")
    except IsADirectoryError as exc:
        fail(f"is a directory, not a file: {exc.filename}")
    except UnicodeDecodeError:
        fail("the file is not valid UTF-8")


@contextmanager
def database_errors(url: str) -> Iterator[None]:
    """Turn a database that cannot be reached or used into a one-line message naming it (password hidden)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from batchsearch.migrations import UnknownRevisionError

    try:
        yield
    except (SQLAlchemyError, ImportError, ValueError, UnknownRevisionError) as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        fail(f"database {make_url(url)!r}: {detail}")


def emit_json(value: Any) -> None:
    """Print one JSON document on stdout."""
    print(json.dumps(value, ensure_ascii=False))


def client_for(url: str | None, api_key: str | None) -> Client:
    """An SDK client for the server the options point at."""
    from batchsearch.client import Client

    return Client(url, api_key)
