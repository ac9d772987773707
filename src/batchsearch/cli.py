"""The `batchsearch` command line: thin wrappers over the library and the SDK."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from batchsearch.config import Settings
from batchsearch.errors import BatchSearchError

app = typer.Typer(help="batchsearch: hybrid search and Batch Search over financial documents.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
console = Console(stderr=True)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data folder (default $BATCHSEARCH_DATA_DIR or ./.batchsearch).")]
JsonOut = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def settings_for(data_dir: Path | None, **overrides: object) -> Settings:
    """Settings from the environment, with command-line overrides."""
    values = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    return Settings(**values)  # type: ignore[arg-type]


def fail(message: str, code: int = 1) -> NoReturn:
    """Print a one-line error and exit non-zero (no traceback for user errors)."""
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn our errors and missing files into one-line messages."""
    try:
        yield
    except BatchSearchError as exc:
        fail(exc.message.splitlines()[0] if "\n" not in exc.message else exc.message.replace("\n", " | "))
    except FileNotFoundError as exc:
        fail(f"file not found: {exc.filename}")
    except UnicodeDecodeError:
        fail("the file is not valid UTF-8")


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
        print(json.dumps(summary))
        return
    for err in report.errors[:20]:
        console.print(f"[yellow]skipped[/yellow] line {err.line}: {err.message}")
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
        print(json.dumps(report))
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

    settings = settings_for(data_dir)
    principal, key = KeyStore(create_db_engine(settings.resolved_database_url())).create(name, owner)
    if json_out:
        print(json.dumps({"key": key, "id": principal.key_id, "name": name, "owner": principal.owner}))
    else:
        print(key)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option("--host", help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port to listen on (default 8000).")] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="Batch worker processes to run beside the API.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Run the HTTP API (and, by default, batch worker processes)."""
    from batchsearch.api.app import create_app

    settings = settings_for(data_dir, host=host, port=port, workers=workers)
    with user_errors():
        api = create_app(settings)
    from batchsearch.jobs.supervisor import run_api_and_workers

    console.print(f"batchsearch listening on http://{settings.host}:{settings.port} with {settings.workers} "
                  f"worker process(es) (data in {settings.data_dir})")
    run_api_and_workers(api, settings)


@app.command()
def worker(
    processes: Annotated[int, typer.Option("--processes", help="Worker processes to run.")] = 1,
    data_dir: DataDir = None,
) -> None:
    """Run batch worker processes only (no API) until interrupted."""
    from batchsearch.jobs.supervisor import run_workers

    run_workers(settings_for(data_dir), processes)


def main() -> None:
    """Entry point."""
    app()


if __name__ == "__main__":
    main()
