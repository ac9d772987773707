"""The `batchsearch` command line: thin wrappers over the library and the SDK."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from batchsearch.config import Settings
from batchsearch.errors import AuthenticationError, BatchSearchError, PermissionDeniedError
from batchsearch.runtime import apply_blas_threads

if TYPE_CHECKING:
    from batchsearch.client import BatchProgress, Client

app = typer.Typer(help="batchsearch: hybrid search and Batch Search over financial documents.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
batch_app = typer.Typer(help="Batch Search through a running server: submit a .jsonl of queries, get a .jsonl of results.",
                        no_args_is_help=True)
kg_app = typer.Typer(help="Look up entity ids in the knowledge graph of a running server.", no_args_is_help=True)
corpus_app = typer.Typer(help="Synthetic financial documents for trying things out.", no_args_is_help=True)
db_app = typer.Typer(help="The service database: schema revisions (servers and workers also upgrade it at start).",
                     no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(batch_app, name="batch")
app.add_typer(kg_app, name="kg")
app.add_typer(corpus_app, name="corpus")
index_app = typer.Typer(help="The search index: garbage collection of a shared index's old generations.",
                        no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(index_app, name="index")
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


# --- local commands: ingest, eval, keys, db, serve, worker, corpus, demo ---------------------------


@app.command()
def ingest(
    path: Annotated[Path, typer.Argument(help="JSONL file of documents.", exists=True, dir_okay=False)],
    fmt: Annotated[str, typer.Option("--format", help="jsonl (native documents) or beir (BEIR corpus.jsonl).")] = "jsonl",
    data_dir: DataDir = None,
    json_out: JsonOut = False,
) -> None:
    """Chunk, annotate, embed and index documents; bad lines are reported, the rest ingests."""
    from batchsearch.services import build_ingestor

    if fmt not in ("jsonl", "beir"):
        fail("--format must be jsonl or beir")
    settings = settings_for(data_dir)
    with user_errors():
        ingestor = build_ingestor(settings)
        with Progress(TextColumn("[bold]ingest[/bold]"), BarColumn(), TextColumn("{task.fields[info]}"),
                      TimeElapsedColumn(), console=console, disable=json_out or not sys.stderr.isatty()) as bar:
            task = bar.add_task("ingest", total=None, info="")

            def on_progress(report) -> None:  # type: ignore[no-untyped-def]
                bar.update(task, info=f"{report.documents} docs, {report.chunks} chunks, "
                                      f"{report.chunks_per_second:.1f} chunks/s")

            report = ingestor.ingest_file(str(path), fmt, progress=on_progress)
    summary = {"documents": report.documents, "chunks": report.chunks, "seconds": round(report.seconds, 2),
               "chunks_per_second": round(report.chunks_per_second, 2), "generation": report.generation,
               "errors": [{"line": e.line, "message": e.message} for e in report.errors]}
    if json_out:
        emit_json(summary)
        return
    for err in report.errors[:20]:
        console.print(f"[yellow]skipped[/yellow] line {err.line}: {escape(err.message)}")
    if len(report.errors) > 20:
        console.print(f"... and {len(report.errors) - 20} more bad lines")
    print(f"ingested {report.documents} documents as {report.chunks} chunks in {report.seconds:.1f}s "
          f"({report.chunks_per_second:.1f} chunks/s); {len(report.errors)} bad lines; index generation {report.generation}")


@app.command("eval")
def eval_command(
    queries: Annotated[Path, typer.Option("--queries", help="BEIR queries.jsonl.", exists=True)],
    qrels: Annotated[Path, typer.Option("--qrels", help="BEIR qrels TSV.", exists=True)],
    mode: Annotated[str, typer.Option("--mode", help="lexical, dense, hybrid or all.")] = "all",
    fusion: Annotated[str | None, typer.Option("--fusion", help="Override the fusion method: rrf or weighted.")] = None,
    data_dir: DataDir = None,
    json_out: JsonOut = False,
) -> None:
    """Measure nDCG@10 and recall@100 of the ingested index on judged queries."""
    from batchsearch.eval import MODES, evaluate, read_qrels, read_queries
    from batchsearch.search.engine import SearchEngine

    modes = MODES if mode == "all" else (mode,)
    if any(m not in MODES for m in modes):
        fail("--mode must be lexical, dense, hybrid or all")
    settings = settings_for(data_dir, fusion=fusion)
    judged = read_qrels(qrels)
    engine = SearchEngine.open(settings.data_dir, fusion=settings.fusion)
    if engine.snapshot().generation == 0:
        fail(f"the index in {settings.data_dir} is empty: run `batchsearch ingest` first")
    report = evaluate(engine, read_queries(queries, set(judged)), judged, modes)
    if json_out:
        emit_json(report)
        return
    for name, metrics in report.items():
        print(f"{name:8s} nDCG@10={metrics['ndcg@10']:.4f} recall@100={metrics['recall@100']:.4f} "
              f"queries={metrics['queries']}")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option("--name", help="A label for the key; also its owner unless --owner.")],
    owner: Annotated[str | None, typer.Option("--owner", help="Owner (tenant) the key acts for.")] = None,
    data_dir: DataDir = None,
    json_out: JsonOut = False,
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    from batchsearch.db import create_db_engine
    from batchsearch.keys import KeyStore

    url = settings_for(data_dir).resolved_database_url()
    with database_errors(url):
        principal, key = KeyStore(create_db_engine(url)).create(name, owner)
    if json_out:
        emit_json({"key": key, "id": principal.key_id, "name": name, "owner": principal.owner})
    else:
        print(key)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option("--host", help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port to listen on (default 8000).")] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="Batch worker processes to run beside the API (default 1).")] = None,
    data_dir: DataDir = None,
) -> None:
    """Run the HTTP API and its batch worker processes until Ctrl-C."""
    from batchsearch.api.app import create_app
    from batchsearch.jobs.supervisor import run_api_and_workers

    settings = settings_for(data_dir, host=host, port=port, workers=workers)
    with user_errors():
        api = create_app(settings)
    console.print(f"batchsearch listening on http://{settings.host}:{settings.port} with {settings.workers} "
                  f"batch worker(s) (data in {settings.data_dir})")
    run_api_and_workers(api, settings)


@app.command()
def worker(
    workers: Annotated[int | None, typer.Option("--workers", help="Worker processes to run (default 1).")] = None,
    data_dir: DataDir = None,
) -> None:
    """Run batch worker processes without the API (more throughput beside a `serve --workers 0`)."""
    from batchsearch.jobs.supervisor import run_workers

    settings = settings_for(data_dir, workers=workers)
    console.print(f"batchsearch: {settings.workers} batch worker(s) on {settings.data_dir}; Ctrl-C stops them")
    run_workers(settings, max(settings.workers, 1))


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None, json_out: JsonOut = False) -> None:
    """Upgrade the database to the newest schema revision (safe to run while servers and workers run)."""
    from sqlalchemy.engine import make_url

    from batchsearch import migrations
    from batchsearch.db import engine_for

    url = settings_for(data_dir).resolved_database_url()
    with database_errors(url):
        engine = engine_for(url)
        before = migrations.current_revision(engine)
        migrations.upgrade(engine)
        after = migrations.current_revision(engine)
    if json_out:
        emit_json({"database": repr(make_url(url)), "previous": before, "revision": after})
    elif before == after:
        print(f"{after} (head): already up to date")
    else:
        print(f"{after} (head): upgraded from {before or 'an empty or pre-migrations database'}")


@db_app.command("current")
def db_current(data_dir: DataDir = None, json_out: JsonOut = False) -> None:
    """Print the database's schema revision and whether it is the newest this version knows."""
    from sqlalchemy.engine import make_url

    from batchsearch import migrations
    from batchsearch.db import engine_for

    url = settings_for(data_dir).resolved_database_url()
    with database_errors(url):
        revision = migrations.current_revision(engine_for(url))
    head = migrations.head_revision()
    if json_out:
        emit_json({"database": repr(make_url(url)), "revision": revision, "head": head, "is_current": revision == head})
    elif revision == head:
        print(f"{revision} (head)")
    else:
        print(f"{revision or 'none'} (head is {head}: run `batchsearch db upgrade`)")


@index_app.command("gc")
def index_gc(data_dir: DataDir = None, json_out: JsonOut = False) -> None:
    """Collect shared index generations beyond BATCHSEARCH_INDEX_KEEP_GENERATIONS that no unfinished batch job
    pins (workers also do this every minute)."""
    from batchsearch.services import collect_index_garbage

    settings = settings_for(data_dir)
    with user_errors(), database_errors(settings.resolved_database_url()):
        report = collect_index_garbage(settings)
    if report is None:
        if json_out:
            emit_json({"shared": False})
        else:
            print("the embedded index (no BATCHSEARCH_OBJECT_STORE_URL) keeps every generation: nothing to collect")
        return
    if json_out:
        emit_json({"shared": True, "kept": report.kept, "collected": report.collected,
                   "deleted_objects": report.deleted_objects, "pruned_segments": report.pruned_segments})
    else:
        print(f"kept generations {report.kept}; collected {report.collected or 'none'}: "
              f"{report.deleted_objects} objects deleted, {report.pruned_segments} cached segments dropped")


@corpus_app.command("generate")
def corpus_generate(
    docs: Annotated[int, typer.Option("--docs", min=1, help="How many documents to write.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The JSONL file to write.", dir_okay=False)],
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same corpus.")] = 42,
    data_dir: DataDir = None,
    json_out: JsonOut = False,
) -> None:
    """Write synthetic news, transcripts and filings about the knowledge graph's companies (ingestible JSONL)."""
    from batchsearch.corpus import write_corpus
    from batchsearch.kg import KnowledgeGraph

    settings = settings_for(data_dir)
    with user_errors():
        graph = KnowledgeGraph.open_or_build(settings.data_dir / "kg")
        count = write_corpus(out, graph.companies(), graph.sources(), docs, seed)
    if json_out:
        emit_json({"documents": count, "path": str(out), "seed": seed})
    else:
        print(f"wrote {count} documents to {out} (seed {seed}); index them with `batchsearch ingest {out}`")


@app.command()
def demo(
    docs: Annotated[int, typer.Option("--docs", min=1, help="Size of the sample corpus (first run only).")] = 400,
    data_dir: DataDir = None,
    json_out: JsonOut = False,
) -> None:
    """Build a sample index, start a server, run a 200-query batch through it and show the results."""
    from batchsearch.demo import run_demo

    settings = settings_for(data_dir)
    with user_errors():
        summary = run_demo(settings, console if json_out else stdout, docs=docs)
    if json_out:
        emit_json(summary)


# --- commands against a running server: search, batch, kg ---------------------------------------


@app.command()
def search(
    text: Annotated[str | None, typer.Argument(help="What to search for (optional when filters are given).")] = None,
    entity: Annotated[list[str] | None, typer.Option("--entity", help="Entity id the chunk must mention (repeat: any of).")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Published at or after (ISO date or date-time).")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Published at or before (ISO date or date-time).")] = None,
    source: Annotated[list[str] | None, typer.Option("--source", help="Source id to keep (repeat: any of).")] = None,
    max_chunks: Annotated[int, typer.Option("--max-chunks", help="Most chunks to return (1-1000).")] = 10,
    url: Url = None,
    api_key: ApiKey = None,
    json_out: JsonOut = False,
) -> None:
    """Search a running server (POST /v1/search) and print the hits."""
    query = search_query(text, entity, since, until, source, max_chunks)
    with user_errors(), client_for(url, api_key) as client:
        response = client.search(query)
    if json_out:
        emit_json(response)
    else:
        print_hits(response)


def search_query(text: str | None, entity: list[str] | None, since: str | None, until: str | None,
                 source: list[str] | None, max_chunks: int) -> dict[str, Any]:
    """The `query` object the search options describe."""
    filters: dict[str, Any] = {}
    if entity:
        filters["entity"] = {"any_of": entity}
    if since or until:
        filters["timestamp"] = {k: v for k, v in (("start", since), ("end", until)) if v}
    if source:
        filters["source"] = {"mode": "INCLUDE", "values": source}
    query: dict[str, Any] = {"max_chunks": max_chunks}
    if text:
        query["text"] = text
    if filters:
        query["filters"] = filters
    return query


def print_hits(response: dict[str, Any]) -> None:
    """The documents of a search response as a table, best first, with their best chunk."""
    results = response.get("results") or []
    if not results:
        stdout.print("no results")
        return
    table = Table(show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("relevance", justify="right")
    table.add_column("published")
    table.add_column("source")
    table.add_column("document")
    for rank, doc in enumerate(results, start=1):
        best = (doc.get("chunks") or [{}])[0]  # a document's chunks come best first
        snippet = " ".join(str(best.get("text", "")).split())[:240]
        table.add_row(str(rank), f"{best.get('relevance', 0):.3f}", escape(str(doc.get("timestamp", ""))[:10]),
                      escape(str((doc.get("source") or {}).get("name", ""))),
                      f"[bold]{escape(str(doc.get('headline', '')))}[/bold]\n{escape(snippet)}")
    stdout.print(table)
    units = (response.get("usage") or {}).get("api_query_units")
    stdout.print(f"{len(results)} documents, {sum(len(d.get('chunks') or []) for d in results)} chunks; "
                 f"{units} query units; request {(response.get('metadata') or {}).get('request_id')}")


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


@kg_app.command("companies")
def kg_companies(
    name: Annotated[str, typer.Argument(help="Part of a name, a ticker, an ISIN, CUSIP or SEDOL.")],
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="Most companies to list.")] = 10,
    url: Url = None,
    api_key: ApiKey = None,
    json_out: JsonOut = False,
) -> None:
    """Find companies and their entity ids (for `search --entity`)."""
    with user_errors(), client_for(url, api_key) as client:
        found = client.kg.find_companies(name, limit=limit)
    if json_out:
        emit_json(found)
        return
    if not found:
        stdout.print(f"no company matches {name!r}", markup=False)
        return
    table = Table("id", "name", "type", "country", "sector", "listings")
    for company in found:
        cells = (company["id"], company.get("name"), company.get("type"), company.get("country"), company.get("sector"),
                 ", ".join(company.get("listing_values") or [])[:40])
        table.add_row(*(escape(str(cell or "")) for cell in cells))
    stdout.print(table)


def main() -> None:
    """Entry point."""
    app()


if __name__ == "__main__":
    main()
