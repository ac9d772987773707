"""Batch Search through a running server: run, submit, status, wait, download, cancel, list, validate, retry, delete."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from batchsearch.cli.common import (
    ApiKey,
    BatchId,
    JsonOut,
    Timeout,
    Url,
    client_for,
    console,
    emit_json,
    fail,
    stdout,
    user_errors,
)

if TYPE_CHECKING:
    from batchsearch.client import BatchProgress

batch_app = typer.Typer(help="Batch Search through a running server: submit a .jsonl of queries, get a .jsonl of results.",
                        no_args_is_help=True)


class BatchView:
    """Progress bars for a batch: upload bytes, lines processed (with the server's ETA), download bytes."""

    LABELS = {"upload": "upload", "processing": "search", "download": "download"}

    def __init__(self, progress: Progress, *, is_new: bool = True) -> None:
        self.progress = progress
        self.tasks: dict[str, Any] = {}
        self.batch_id: str | None = None
        self.is_new = is_new

    def __call__(self, event: BatchProgress) -> None:
        if event.batch_id and event.batch_id != self.batch_id:
            self.batch_id = event.batch_id
            if self.is_new:  # name a job the user has not seen yet, so an interrupted run can be resumed
                self.progress.console.print(f"batch {event.batch_id}", highlight=False)
        if event.phase not in self.tasks:
            self.tasks[event.phase] = self.progress.add_task(self.LABELS[event.phase], total=None, info="")
        self.progress.update(self.tasks[event.phase], completed=event.done, total=event.total, info=self._info(event))

    @staticmethod
    def _info(event: BatchProgress) -> str:
        if event.phase != "processing":
            return f"{event.done / 1e6:.2f}/{(event.total or 0) / 1e6:.2f} MB" if event.total else f"{event.done} bytes"
        state = (event.status or {}).get("status", "")
        lines = f"{event.done}/{event.total} lines" if event.total is not None else "waiting for the upload"
        eta = event.estimated_completion
        return f"{lines} · {state}" + (f" · ETA {eta.astimezone():%H:%M:%S} (server)" if eta else "")


@contextmanager
def batch_progress(quiet: bool, *, is_new: bool = True) -> Iterator[BatchView]:
    """A live BatchView on stderr (silent for --json or when stderr is not a terminal)."""
    columns = (TextColumn("[bold]{task.description:>8}[/bold]"), BarColumn(), TextColumn("{task.fields[info]}"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, disable=quiet or not sys.stderr.isatty()) as progress:
        yield BatchView(progress, is_new=is_new)


def batch_summary(status: dict[str, Any], out: Path) -> dict[str, Any]:
    """What a finished batch did, counted from its downloaded results."""
    from batchsearch.client import count_statuses, processing_seconds

    seconds = processing_seconds(status)
    lines = status.get("lines_done") or 0
    return {"batch_id": status.get("batch_id"), "status": status.get("status"), "output": str(out),
            "lines": lines, "statuses": count_statuses(out), "seconds": seconds,
            "lines_per_second": round(lines / seconds, 1) if seconds else None}


def print_batch_summary(summary: dict[str, Any]) -> None:
    """The summary as a few readable lines."""
    speed = f" in {summary['seconds']:.1f}s ({summary['lines_per_second']} lines/s)" if summary["seconds"] else ""
    stdout.print(f"{summary['status']}: {summary['lines']} lines{speed} -> {summary['output']}", markup=False,
                 highlight=False)
    for name, count in summary["statuses"].items():
        stdout.print(f"  {name:<10} {count:>7}", markup=False, highlight=False)


@batch_app.command("run")
def batch_run(
    path: Annotated[Path, typer.Argument(help="The .jsonl of queries, one {\"query\": {...}} per line.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the results .jsonl.", dir_okay=False)],
    timeout: Timeout = None,
    url: Url = None,
    api_key: ApiKey = None,
    json_out: JsonOut = False,
) -> None:
    """Submit a file, follow it to the end and download its results (upload, search, download)."""
    view: BatchView | None = None
    try:
        with user_errors(), client_for(url, api_key) as client, batch_progress(json_out) as view:
            status = client.batches.run(path, out, on_progress=view, timeout=timeout)
    except KeyboardInterrupt:
        if view is not None and view.batch_id:
            fail(f"interrupted; batch {view.batch_id} keeps running: `batchsearch batch wait {view.batch_id}`", 130)
        fail("interrupted", 130)
    with user_errors():
        summary = batch_summary(status, out)
    if json_out:
        emit_json(summary)
    else:
        print_batch_summary(summary)


@batch_app.command("submit")
def batch_submit(
    path: Annotated[Path, typer.Argument(help="The .jsonl of queries to upload.")],
    url: Url = None,
    api_key: ApiKey = None,
    json_out: JsonOut = False,
) -> None:
    """Create a batch job and upload its file; prints the batch_id (then use `batch wait`)."""
    with user_errors(), client_for(url, api_key) as client, batch_progress(json_out, is_new=False) as view:
        created = client.batches.submit(path, on_progress=view)
    if json_out:
        emit_json({"batch_id": created["batch_id"]})
    else:
        print(created["batch_id"])


@batch_app.command("status")
def batch_status(batch_id: BatchId, url: Url = None, api_key: ApiKey = None, json_out: JsonOut = False) -> None:
    """Show a batch job's status, line counts and estimated completion time."""
    with user_errors(), client_for(url, api_key) as client:
        status = client.batches.get(batch_id)
    if json_out:
        emit_json(status)
        return
    for name in ("batch_id", "status", "lines_done", "lines_total", "estimated_completion_time", "created_at",
                 "started_at", "completed_at", "error", "output_file_url"):
        if status.get(name) is not None:
            stdout.print(f"{name:<26} {status[name]}", markup=False, highlight=False)


@batch_app.command("wait")
def batch_wait(batch_id: BatchId, timeout: Timeout = None, url: Url = None, api_key: ApiKey = None,
               json_out: JsonOut = False) -> None:
    """Wait for a batch job to finish (exit 0 only when it completed)."""
    with user_errors(), client_for(url, api_key) as client, batch_progress(json_out, is_new=False) as view:
        status = client.batches.wait(batch_id, on_progress=view, timeout=timeout)
    if json_out:
        emit_json(status)
    else:
        stdout.print(f"{status['status']}: {status.get('lines_done')} of {status.get('lines_total')} lines", highlight=False)
    if status["status"] != "completed":
        fail(f"batch {batch_id} {status['status']}" + (f": {status['error']}" if status.get("error") else ""))


@batch_app.command("download")
def batch_download(
    batch_id: BatchId,
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the results .jsonl.", dir_okay=False)],
    url: Url = None,
    api_key: ApiKey = None,
    json_out: JsonOut = False,
) -> None:
    """Download a finished (or cancelled) batch job's results."""
    with user_errors(), client_for(url, api_key) as client, batch_progress(json_out, is_new=False) as view:
        status = client.batches.get(batch_id)
        client.batches.download(status, out, on_progress=view)
        summary = batch_summary(status, out)
    if json_out:
        emit_json(summary)
    else:
        print_batch_summary(summary)


@batch_app.command("cancel")
def batch_cancel(batch_id: BatchId, url: Url = None, api_key: ApiKey = None, json_out: JsonOut = False) -> None:
    """Cancel a batch job; lines already searched stay downloadable."""
    with user_errors(), client_for(url, api_key) as client:
        status = client.batches.cancel(batch_id)
    if json_out:
        emit_json(status)
    else:
        stdout.print(f"{status['status']}: {status.get('lines_done')} of {status.get('lines_total')} lines done",
                     highlight=False)


@batch_app.command("list")
def batch_list(
    status: Annotated[str | None, typer.Option("--status", help="Only jobs in this status: pending, processing, "
                                               "completed, failed or cancelled.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Most jobs to list, newest first.")] = 20,
    url: Url = None,
    api_key: ApiKey = None,
    json_out: JsonOut = False,
) -> None:
    """List your batch jobs, newest first."""
    from itertools import islice

    with user_errors(), client_for(url, api_key) as client:
        jobs = list(islice(client.batches.iter_all(status), limit))
    if json_out:
        emit_json(jobs)
        return
    if not jobs:
        stdout.print("no batch jobs", highlight=False)
        return
    for job in jobs:  # one line per job, the id first and whole so it can be copied
        lines = f"{job.get('lines_done')}/{job.get('lines_total')} lines" if job.get("lines_total") is not None else ""
        created = str(job.get("created_at") or "")[:16].replace("T", " ")
        stdout.print(f"{job['batch_id']}  {job.get('status', ''):<10} {lines:>13}  priority {job.get('priority', 0)}"
                     f"  {created}", markup=False, highlight=False)


@batch_app.command("validate")
def batch_validate(
    path: Annotated[Path, typer.Argument(help="The .jsonl of queries to check (nothing is queued).")],
    url: Url = None,
    api_key: ApiKey = None,
    json_out: JsonOut = False,
) -> None:
    """Check a .jsonl of queries line by line without running it (exit 1 when it has problems)."""
    with user_errors(), client_for(url, api_key) as client:
        report = client.batches.validate(path)
    if json_out:
        emit_json(report)
    else:
        for problem in report["problems"][:20]:
            where = f"line {problem['line']}" if problem.get("line") is not None else "file"
            stdout.print(f"{where}: {problem['field']}: {problem['message']}", markup=False, highlight=False)
        for duplicate in report["duplicate_custom_ids"][:20]:
            stdout.print(f"custom_id {duplicate['custom_id']!r} is on lines "
                         f"{', '.join(map(str, duplicate['lines']))}", markup=False, highlight=False)
        stdout.print(f"{report['lines_valid']} of {report['lines_total']} lines valid; "
                     f"at most {report['max_query_units']:g} query units", highlight=False)
    if not report["valid"]:
        fail(f"{path} has {report['lines_invalid']} invalid lines"
             + (f" and {len(report['duplicate_custom_ids'])} duplicated custom ids"
                if report["duplicate_custom_ids"] else ""))


@batch_app.command("retry")
def batch_retry(batch_id: BatchId, url: Url = None, api_key: ApiKey = None, json_out: JsonOut = False) -> None:
    """Run a completed batch job's timeout and exception lines again (in place; then use `batch wait`)."""
    with user_errors(), client_for(url, api_key) as client:
        status = client.batches.retry(batch_id)
    if json_out:
        emit_json(status)
    else:
        stdout.print(f"{status['status']}: retry {status.get('retries')} of batch {status['batch_id']}",
                     highlight=False)


@batch_app.command("delete")
def batch_delete(batch_id: BatchId, url: Url = None, api_key: ApiKey = None, json_out: JsonOut = False) -> None:
    """Delete a finished batch job and its files (cancel a running one first)."""
    with user_errors(), client_for(url, api_key) as client:
        deleted = client.batches.delete(batch_id)
    if json_out:
        emit_json(deleted)
    else:
        stdout.print(f"deleted batch {deleted['batch_id']}", highlight=False)
