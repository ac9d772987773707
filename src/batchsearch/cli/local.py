"""Commands that work on the data folder: ingest, eval, corpus, demo."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from batchsearch.cli.common import (
    DataDir,
    JsonOut,
    console,
    emit_json,
    fail,
    settings_for,
    stdout,
    user_errors,
)

corpus_app = typer.Typer(help="Synthetic financial documents for trying things out.", no_args_is_help=True)


def ingest(
    path: Annotated[Path, typer.Argument(help="JSONL file of documents.", exists=True, dir_okay=False)],
    fmt: Annotated[str, typer.Option("--format", help="jsonl (native documents) or beir (BEIR corpus.jsonl).")] = "jsonl",
    executor: Annotated[str | None, typer.Option(
        "--executor", help="local (this process) or ray (actors of the Ray cluster RAY_ADDRESS names, or of a "
        "local Ray instance); default BATCHSEARCH_EXECUTOR.")] = None,
    actors: Annotated[int | None, typer.Option(
        "--actors", min=1, help="With --executor ray: ingest actors (default: every CPU of the cluster).")] = None,
    data_dir: DataDir = None,
    json_out: JsonOut = False,
) -> None:
    """Chunk, annotate, embed and index documents; bad lines are reported, the rest ingests."""
    from batchsearch.services import build_ingestor

    if fmt not in ("jsonl", "beir"):
        fail("--format must be jsonl or beir")
    if executor not in (None, "local", "ray"):
        fail("--executor must be local or ray")
    settings = settings_for(data_dir)
    on_ray = (executor or settings.executor) == "ray"
    with user_errors():
        with Progress(TextColumn("[bold]ingest[/bold]"), BarColumn(), TextColumn("{task.fields[info]}"),
                      TimeElapsedColumn(), console=console, disable=json_out or not sys.stderr.isatty()) as bar:
            task = bar.add_task("ingest", total=None, info="")

            def on_progress(report) -> None:  # type: ignore[no-untyped-def]
                bar.update(task, info=f"{report.documents} docs, {report.chunks} chunks, "
                                      f"{report.chunks_per_second:.1f} chunks/s")

            if on_ray:
                from batchsearch.scaleout.cluster import disconnect
                from batchsearch.scaleout.ingest import ingest_on_ray

                with contextlib.redirect_stdout(sys.stderr):  # Ray reports a dead actor on standard output
                    try:
                        report = ingest_on_ray(settings, path, fmt, actors=actors, progress=on_progress)
                    finally:
                        disconnect()
            else:
                report = build_ingestor(settings).ingest_file(str(path), fmt, progress=on_progress)
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
