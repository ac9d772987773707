"""`batchsearch demo`: from nothing to a finished Batch Search over real HTTP, in a few minutes.

Steps: default knowledge graph -> sample corpus -> index -> API key -> server (uvicorn in a
thread, batch workers as processes) -> ~200 mixed queries as a batch through the SDK -> summary.
Everything lives in the data folder and is reused by the next run.
"""

from __future__ import annotations

import json
import os
import random
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from batchsearch.config import Settings
from batchsearch.kg import KnowledgeGraph

SEED = 42
INGEST_PART_DOCS = 40
QUERY_LINES = 200
THEMES = (
    "quarterly earnings beat and revenue guidance", "profit warning and lowered outlook", "layoffs and restructuring",
    "merger and acquisition talks", "share buyback and dividend increase", "supply chain disruption",
    "chief executive officer succession", "regulatory investigation or lawsuit", "new product launch",
    "credit rating downgrade", "strong demand and record sales", "margin pressure from rising costs",
)
KEYWORDS = ("dividend", "guidance", "acquisition", "layoffs", "buyback", "lawsuit", "outlook", "margin", "revenue")
SENTIMENT = {"positive": {"min": 0.25, "max": 1.0}, "negative": {"min": -1.0, "max": -0.25}}


@dataclass(frozen=True)
class DemoFiles:
    """Where the demo keeps its state inside the data folder."""

    root: Path

    @property
    def corpus(self) -> Path:
        return self.root / "corpus.jsonl"

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    @property
    def api_key(self) -> Path:
        return self.root / "api_key"

    @property
    def queries(self) -> Path:
        return self.root / "queries.jsonl"

    @property
    def results(self) -> Path:
        return self.root / "results.jsonl"

    def read_state(self) -> dict[str, Any]:
        """Progress of earlier runs (empty on the first)."""
        return json.loads(self.state.read_text()) if self.state.exists() else {}

    def write_state(self, **changes: Any) -> None:
        """Record progress atomically."""
        state = self.read_state() | changes
        tmp = self.state.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.state)


def run_demo(settings: Settings, console: Console, *, docs: int = 400) -> dict[str, Any]:
    """Run every step, print as it goes, and return a summary (the `--json` output)."""
    started = time.monotonic()
    files = DemoFiles(settings.data_dir / "demo")
    files.root.mkdir(parents=True, exist_ok=True)
    console.rule("[bold]batchsearch demo")
    graph = open_graph(settings, console)
    corpus = generate_corpus(graph, files, docs, console)
    ingest_seconds = ingest_corpus(settings, files, console)
    key = demo_key(settings, files, console)
    lines = write_queries(files.queries, corpus, graph)
    console.print(f"[bold]5/6 queries[/bold]  {len(lines)} lines in {files.queries} (entity, date, keyword, "
                  "sentiment and source filters; the last 2 are deliberately invalid)")
    with running_server(settings) as base_url:
        console.print(f"[bold]6/6 batch[/bold]    server on {base_url} with {max(settings.workers, 1)} worker process(es)")
        status = run_batch(base_url, key, files, console)
    summary = summarize(settings, files, status, lines, graph, console)
    summary |= {"api_key": key, "documents": len(corpus), "ingest_seconds": ingest_seconds,
                "total_seconds": round(time.monotonic() - started, 1)}
    print_next_steps(settings, key, files, lines, console)
    return summary


# --- steps 1-4: graph, corpus, index, key ------------------------------------------------------


def open_graph(settings: Settings, console: Console) -> KnowledgeGraph:
    """The default knowledge graph of the data folder (built on the first run)."""
    existed = (settings.data_dir / "kg" / "manifest.json").exists()
    graph = KnowledgeGraph.open_or_build(settings.data_dir / "kg")
    console.print(f"[bold]1/6 graph[/bold]    {len(graph.companies())} companies, {len(graph.sources())} sources "
                  f"({'reused' if existed else 'built'}) in {settings.data_dir / 'kg'}")
    return graph


def generate_corpus(graph: KnowledgeGraph, files: DemoFiles, docs: int, console: Console) -> list[dict[str, Any]]:
    """The sample corpus (generated on the first run, then reused as is)."""
    from batchsearch.corpus import write_corpus

    note = "reused"
    if not files.corpus.exists():
        write_corpus(files.corpus, graph.companies(), graph.sources(), docs, SEED)
        files.write_state(corpus_docs=docs, ingested_docs=0)
        note = "generated"
    with files.corpus.open(encoding="utf-8") as handle:
        corpus = [json.loads(line) for line in handle if line.strip()]
    if note == "reused" and len(corpus) != docs:
        note += "; --docs applies to a fresh data folder only"
    console.print(f"[bold]2/6 corpus[/bold]   {len(corpus)} synthetic news, transcripts and filings ({note}) "
                  f"in {files.corpus}")
    return corpus


def ingest_corpus(settings: Settings, files: DemoFiles, console: Console) -> float:
    """Index the corpus in parts (a part is one segment), resuming after the last finished part."""
    from batchsearch.embeddings import MiniLMEmbedder
    from batchsearch.ingest.documents import read_documents
    from batchsearch.services import build_ingestor

    state = files.read_state()
    done, total = int(state.get("ingested_docs", 0)), sum(1 for _ in files.corpus.open(encoding="utf-8"))
    if done >= total:
        console.print(f"[bold]3/6 index[/bold]    {total} documents already indexed (reused)")
        return 0.0
    ingestor = build_ingestor(settings)
    encoder = "numpy" if isinstance(ingestor.embedder, MiniLMEmbedder) else "ONNX Runtime"
    console.print(f"[bold]3/6 index[/bold]    chunk, annotate and embed {total - done} documents with the {encoder} "
                  "encoder (about 10-20 chunks/s on 2 cores)")
    started, chunks = time.perf_counter(), 0
    columns = (TextColumn("[bold]  ingest"), BarColumn(), TextColumn("{task.completed}/{task.total} docs"),
               TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("ingest", total=total, completed=done, info="")
        for part in _parts(islice(read_documents(str(files.corpus), "jsonl"), done, None), INGEST_PART_DOCS):
            report = ingestor.ingest(part)
            done, chunks = done + len(part), chunks + report.chunks
            files.write_state(ingested_docs=done)
            rate = chunks / (time.perf_counter() - started)
            bar.update(task, completed=done, info=f"{chunks} chunks, {rate:.1f} chunks/s")
    seconds = round(time.perf_counter() - started, 1)
    console.print(f"               indexed {chunks} chunks in {seconds}s")
    return seconds


def _parts(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive lists of `size` items (the last may be shorter)."""
    iterator = iter(items)
    while part := list(islice(iterator, size)):
        yield part


def demo_key(settings: Settings, files: DemoFiles, console: Console) -> str:
    """The demo's API key, kept (mode 600) in the data folder; made again if the database lost it."""
    from batchsearch.db import create_db_engine
    from batchsearch.keys import KeyStore

    store = KeyStore(create_db_engine(settings.resolved_database_url()))
    if files.api_key.exists():
        key = files.api_key.read_text().strip()
        if store.get_principal(key) is not None:
            console.print(f"[bold]4/6 api key[/bold]  reused from {files.api_key}")
            return key
    key = store.create("demo")[1]
    fd = os.open(files.api_key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    console.print(f"[bold]4/6 api key[/bold]  created, saved in {files.api_key}")
    return key


# --- step 5: queries ---------------------------------------------------------------------------


@dataclass(frozen=True)
class QueryLine:
    """One batch line and what it demonstrates."""

    kind: str
    query: dict[str, Any]


def write_queries(path: Path, corpus: list[dict[str, Any]], graph: KnowledgeGraph) -> list[QueryLine]:
    """~200 realistic query lines about companies the corpus mentions, plus 2 invalid ones; written as JSONL."""
    rng = random.Random(SEED)
    mentioned = Counter(cid for doc in corpus for cid in {m["id"] for m in doc.get("_mentions", [])})
    companies = [(cid, graph.get_entity(cid)) for cid, _ in mentioned.most_common(30)]
    names = {cid: entity.name for cid, entity in companies if entity is not None}
    ids = list(names) or [None]
    sources = [s for s, _ in Counter(doc["source"]["id"] for doc in corpus).most_common(5)]
    months = sorted({doc["timestamp"][:7] for doc in corpus})
    makers = [(_entity, 60), (_entity_in_window, 40), (_keyword, 30), (_sentiment, 30), (_named, 20), (_source, 18)]
    lines: list[QueryLine] = []
    for maker, count in makers:
        for _ in range(count):
            lines.append(maker(rng, rng.choice(ids), names, months, sources))
    rng.shuffle(lines)
    lines += [QueryLine("invalid: max_chunks over 1000", {"text": "dividend", "max_chunks": 5000}),
              QueryLine("invalid: misspelled filter", {"text": "guidance", "filters": {"entitty": {"any_of": ids[:1]}}})]
    with path.open("w", encoding="utf-8") as out:
        for line in lines[:QUERY_LINES]:
            out.write(json.dumps({"query": line.query}) + "\n")
    return lines[:QUERY_LINES]


def _entity_filter(cid: str | None) -> dict[str, Any]:
    return {"entity": {"any_of": [cid]}} if cid else {}


def _entity(rng: random.Random, cid: str | None, names: dict[str, str], months: list[str],
            sources: list[str]) -> QueryLine:
    return QueryLine("entity", {"text": rng.choice(THEMES), "filters": _entity_filter(cid), "max_chunks": 5})


def _entity_in_window(rng: random.Random, cid: str | None, names: dict[str, str], months: list[str],
                      sources: list[str]) -> QueryLine:
    first = rng.randrange(max(len(months) - 6, 1))
    window = {"start": f"{months[first]}-01", "end": f"{months[min(first + 5, len(months) - 1)]}-28"}
    query = {"text": rng.choice(THEMES), "filters": _entity_filter(cid) | {"timestamp": window}, "max_chunks": 5}
    return QueryLine("entity + date range", query)


def _keyword(rng: random.Random, cid: str | None, names: dict[str, str], months: list[str],
             sources: list[str]) -> QueryLine:
    word = rng.choice(KEYWORDS)
    return QueryLine("keyword", {"text": f"{word} {rng.choice(THEMES)}", "filters": {"keyword": {"any_of": [word]}},
                                 "max_chunks": 5})


def _sentiment(rng: random.Random, cid: str | None, names: dict[str, str], months: list[str],
               sources: list[str]) -> QueryLine:
    tone = rng.choice(list(SENTIMENT))
    filters = {"sentiment": {"ranges": [SENTIMENT[tone]]}} | (_entity_filter(cid) if rng.random() < 0.5 else {})
    return QueryLine(f"{tone} sentiment", {"text": rng.choice(THEMES), "filters": filters, "max_chunks": 5})


def _named(rng: random.Random, cid: str | None, names: dict[str, str], months: list[str],
           sources: list[str]) -> QueryLine:
    name = names.get(cid or "", "the company")
    return QueryLine("company name in text", {"text": f"{name} {rng.choice(THEMES)}", "max_chunks": 5})


def _source(rng: random.Random, cid: str | None, names: dict[str, str], months: list[str],
            sources: list[str]) -> QueryLine:
    filters = {"source": {"mode": "INCLUDE", "values": sources[:2]}} if sources else {}
    return QueryLine("source", {"text": rng.choice(THEMES), "filters": filters, "max_chunks": 5})


# --- step 6: server and batch ------------------------------------------------------------------


@contextmanager
def running_server(settings: Settings) -> Iterator[str]:
    """The API (uvicorn in a thread) on a free 127.0.0.1 port, with batch worker processes; stopped on exit."""
    import uvicorn

    from batchsearch.api.app import create_app
    from batchsearch.jobs.supervisor import WorkerPool

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    settings = settings.model_copy(update={"host": "127.0.0.1", "port": port, "public_url": None})
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="demo-api", daemon=True)
    pool = WorkerPool(settings, max(settings.workers, 1))
    thread.start()
    with _stderr_into(settings.data_dir / "demo" / "workers.log"):
        pool.start()
    try:
        _wait_started(server, thread)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        pool.stop()
        sock.close()


@contextmanager
def _stderr_into(path: Path) -> Iterator[None]:
    """Point fd 2 at a file while worker processes start: they inherit it, so their logs stay out of the demo."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with path.open("ab") as log:
            os.dup2(log.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _wait_started(server: Any, thread: threading.Thread, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the demo server did not start")
        time.sleep(0.05)


def run_batch(base_url: str, key: str, files: DemoFiles, console: Console) -> dict[str, Any]:
    """The queries through the real HTTP API with the SDK: create, upload, wait, download."""
    from batchsearch.cli import BatchView
    from batchsearch.client import Client

    columns = (TextColumn("[bold]{task.description:>10}"), BarColumn(), TextColumn("{task.fields[info]}"),
               TimeElapsedColumn())
    with Client(base_url, key) as client, Progress(*columns, console=console) as bar:
        status = client.batches.run(files.queries, files.results, on_progress=BatchView(bar), timeout=900)
    return status


# --- summary -----------------------------------------------------------------------------------


def summarize(settings: Settings, files: DemoFiles, status: dict[str, Any], lines: list[QueryLine],
              graph: KnowledgeGraph, console: Console) -> dict[str, Any]:
    """Print statuses, speed and three queries with their top hits; return them."""
    from batchsearch.client import iter_results, processing_seconds

    rows = list(iter_results(files.results))
    statuses = dict(Counter(row["status"] for row in rows).most_common())
    seconds = processing_seconds(status)
    speed = round(len(rows) / seconds, 1) if seconds else None
    console.rule("[bold]results")
    console.print(f"batch {status['batch_id']} {status['status']}: {len(rows)} lines"
                  + (f" searched in {seconds:.1f}s ({speed} lines/s)" if seconds else "") + f" -> {files.results}")
    console.print("  " + ", ".join(f"{count} {name}" for name, count in statuses.items()))
    for row in rows:
        if row["status"] != "success":
            console.print(f"  line {row['line_number']} ({lines[row['line_number'] - 1].kind}): "
                          f"{row['code']} {' '.join(str(row.get('error')).split())[:110]}", markup=False, highlight=False)
    examples = _examples(rows, lines)
    for row in examples:
        _print_example(row, lines[row["line_number"] - 1], graph, console)
    return {"batch_id": status["batch_id"], "status": status["status"], "lines": len(rows), "statuses": statuses,
            "seconds": seconds, "lines_per_second": speed, "results": str(files.results),
            "examples": [{"line_number": r["line_number"], "query": r["query"],
                          "top": [d["headline"] for d in r["response"]["results"][:3]]} for r in examples]}


def _examples(rows: list[dict[str, Any]], lines: list[QueryLine]) -> list[dict[str, Any]]:
    """Three successful lines with hits, of three different kinds."""
    picked: dict[str, dict[str, Any]] = {}
    for row in rows:
        kind = lines[row["line_number"] - 1].kind
        if row["status"] == "success" and row["response"]["results"] and kind not in picked:
            picked[kind] = row
    preferred = ["entity + date range", "negative sentiment", "keyword", "entity", "positive sentiment"]
    return [picked[k] for k in preferred if k in picked][:3]


def _print_example(row: dict[str, Any], line: QueryLine, graph: KnowledgeGraph, console: Console) -> None:
    filters = row["query"].get("filters") or {}
    described = []
    for cid in (filters.get("entity") or {}).get("any_of", []):
        entity = graph.get_entity(cid)
        described.append(f"entity {cid} ({entity.name if entity else '?'})")
    if "timestamp" in filters:
        described.append(f"{filters['timestamp']['start']} to {filters['timestamp']['end']}")
    if "keyword" in filters:
        described.append(f"keyword {filters['keyword']['any_of'][0]!r}")
    if "sentiment" in filters:
        described.append(f"sentiment {filters['sentiment']['ranges'][0]['min']}..{filters['sentiment']['ranges'][0]['max']}")
    console.print(f"\n[bold]line {row['line_number']}[/bold] ({line.kind}): {escape(repr(row['query'].get('text')))}"
                  + (f" with {escape(', '.join(described))}" if described else ""), highlight=False)
    table = Table(show_header=True, box=None, padding=(0, 1))
    for column in ("relevance", "published", "source", "headline"):
        table.add_column(column)
    for doc in row["response"]["results"][:3]:
        best = doc["chunks"][0]  # a document's chunks come best first
        cells = (f"{best['relevance']:.3f}", doc["timestamp"][:10], doc["source"]["name"], doc["headline"])
        table.add_row(*(escape(str(cell)) for cell in cells))
    console.print(table)


def print_next_steps(settings: Settings, key: str, files: DemoFiles, lines: list[QueryLine], console: Console) -> None:
    """How to keep a server running and what to try against it."""
    url = settings.resolved_public_url()
    data = "" if settings.data_dir == Path(".batchsearch") else f" --data-dir {settings.data_dir}"
    example: dict[str, Any] = next((ln.query for ln in lines if ln.kind == "entity" and ln.query["filters"]),
                                   {"text": "guidance", "filters": {}})
    entity = f" --entity {example['filters']['entity']['any_of'][0]}" if example["filters"] else ""
    body = json.dumps({"query": {"text": example["text"], "filters": example["filters"], "max_chunks": 3}})
    console.rule("[bold]next")
    console.print(f"""The demo server has stopped. Keep one running (API on {url} plus batch workers):

  batchsearch serve{data}

Your API key (saved in {files.api_key}):

  export BATCHSEARCH_API_KEY={key}

Then, in another terminal:

  batchsearch search "{example['text']}"{entity} --max-chunks 3
  batchsearch kg companies Apple
  batchsearch batch run {files.queries} -o results.jsonl

or with curl (the Bigdata.com wire format):

  curl -s {url}/v1/search -H "X-API-KEY: $BATCHSEARCH_API_KEY" -H "Content-Type: application/json" \\
       -d '{body}'
  curl -s -X POST {url}/v1/search/batches -H "X-API-KEY: $BATCHSEARCH_API_KEY"
  curl -s -X PUT "<presigned_url>" -H "Content-Type: application/jsonl" --data-binary @{files.queries}
  curl -s {url}/v1/search/batches/<batch_id> -H "X-API-KEY: $BATCHSEARCH_API_KEY"
  curl -s "<output_file_url>" -o results.jsonl

API docs while the server runs: {url}/docs
Dashboard (sign in with the API key above): {url}/ui""", markup=False, highlight=False)
