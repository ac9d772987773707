"""Commands that run or administer the service on this machine: serve, worker, db, index."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from batchsearch.cli.common import (
    DataDir,
    JsonOut,
    console,
    database_errors,
    emit_json,
    fail,
    settings_for,
    user_errors,
)

db_app = typer.Typer(help="The service database: schema revisions (servers and workers also upgrade it at start).",
                     no_args_is_help=True)
index_app = typer.Typer(help="The search index: merging small segments, garbage collection of old generations.",
                        no_args_is_help=True)
LogFormatOption = Annotated[Literal["text", "json"] | None, typer.Option(
    "--log-format", help="Log lines as text, or json: one object per line (default $BATCHSEARCH_LOG_FORMAT or text).")]


def serve(
    host: Annotated[str | None, typer.Option("--host", help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port to listen on (default 8000).")] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="Batch worker processes to run beside the API (default 1).")] = None,
    data_dir: DataDir = None,
    log_format: LogFormatOption = None,
) -> None:
    """Run the HTTP API and its batch worker processes until Ctrl-C."""
    from batchsearch.api.app import create_app
    from batchsearch.jobs.supervisor import run_api_and_workers
    from batchsearch.observability.logs import configure_logging

    settings = settings_for(data_dir, host=host, port=port, workers=workers, log_format=log_format)
    configure_logging(settings.log_format)
    with user_errors():
        api = create_app(settings)
    console.print(f"batchsearch listening on http://{settings.host}:{settings.port} with {settings.workers} "
                  f"batch worker(s) (data in {settings.data_dir})")
    run_api_and_workers(api, settings)


def worker(
    workers: Annotated[int | None, typer.Option("--workers", help="Worker processes to run (default 1).")] = None,
    data_dir: DataDir = None,
    log_format: LogFormatOption = None,
) -> None:
    """Run batch worker processes without the API (more throughput beside a `serve --workers 0`)."""
    from batchsearch.jobs.supervisor import run_workers

    settings = settings_for(data_dir, workers=workers, log_format=log_format)
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
    """Delete index generations beyond BATCHSEARCH_INDEX_KEEP_GENERATIONS that no unfinished batch job pins, with the
    segments and delete files only they use (workers also do this every minute); the embedded index is skipped while
    an ingest or compaction writes to it."""
    from batchsearch.index.deployment import is_shared
    from batchsearch.services import collect_index_garbage

    settings = settings_for(data_dir)
    shared = is_shared(settings)
    with user_errors(), database_errors(settings.resolved_database_url()):
        report = collect_index_garbage(settings)
    if report is None:
        fail("an ingest or compaction holds the index's writer lock: nothing was collected; try again when it is done")
    if json_out:
        emit_json({"shared": shared, "kept": report.kept, "collected": report.collected,
                   "deleted_objects": report.deleted_objects, "pruned_segments": report.pruned_segments})
        return
    summary = f"kept generations {report.kept}; collected {report.collected or 'none'}: "
    if shared:
        print(f"{summary}{report.deleted_objects} objects deleted, {report.pruned_segments} cached segments dropped")
    else:
        print(f"{summary}{report.deleted_objects} manifests, delete files and segment folders deleted")


@index_app.command("compact")
def index_compact(
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the merges the policy picks; change nothing.")] = False,
    max_chunks: Annotated[int | None, typer.Option(
        "--max-chunks", min=1, help="Largest merged segment, in live chunks (default 1,000,000).")] = None,
    min_segments: Annotated[int | None, typer.Option(
        "--min-segments", min=2, help="Small segments of one size tier that make a merge (default 4; 2 merges "
        "more often).")] = None,
    merge_all: Annotated[bool, typer.Option("--all", help="Merge small segments whatever their size tier, into as "
                                            "few segments as --max-chunks allows.")] = False,
    data_dir: DataDir = None,
    json_out: JsonOut = False,
) -> None:
    """Merge small index segments (and rewrite ones mostly deleted) into a new generation, as ingests also do;
    waits for a running ingest."""
    from dataclasses import asdict, replace

    from batchsearch.index.compact import DEFAULT_POLICY, compact
    from batchsearch.services import index_store

    settings = settings_for(data_dir)
    chosen = {"max_chunks": max_chunks, "min_segments": 2 if merge_all and min_segments is None else min_segments}
    policy = replace(DEFAULT_POLICY, tiered=not merge_all, **{k: v for k, v in chosen.items() if v is not None})
    with user_errors(), database_errors(settings.resolved_database_url()):
        report = compact(index_store(settings), policy, dry_run=dry_run)
    if json_out:
        emit_json(asdict(report))
        return
    verb = "would merge" if dry_run else "merged"
    if not report.merged:
        print(f"generation {report.generation}: {report.segments_before} segments, nothing to merge")
        return
    for group in report.merged:
        print(f"{verb} {len(group)} segment(s): {', '.join(group)}")
    print(f"generation {report.generation}: {report.segments_before} -> {report.segments_after} segments, "
          f"{report.chunks} chunks {'to rewrite' if dry_run else 'rewritten'} in {report.seconds:.1f}s")
