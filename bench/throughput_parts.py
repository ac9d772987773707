"""What bench/search_throughput.py measures besides time: chunk vectors, projections, recall, resident memory, a batch.

Chunk vectors: `random_unit_vector` (no neighbours worth finding: defeats any approximate search) or
`ComposedVectors`, built from real MiniLM embeddings of generated paragraphs (`paragraph_pool`):
each chunk is normalize(pool[a] + 0.5 pool[b] + 0.25 pool[c] + SIGMA * gaussian / sqrt(dim)).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from batchsearch.index.store import Snapshot
from batchsearch.models.search import Query

if TYPE_CHECKING:
    from batchsearch.search.engine import SearchEngine

DIM = 384
SIGMA = 0.1
POOL_WEIGHTS = np.array([1.0, 0.5, 0.25], dtype=np.float32)
VECTOR_FILES = ("vectors.npy", "rot_head.npy", "rot_tail.npy")  # float32 vectors, int8 codes (index/projection.py)
EMBED_BATCH = 256

ChunkKey = tuple[str, int]


# ---- chunk vectors -------------------------------------------------------------------------------
def random_unit_vector(rng: np.random.Generator, text: str) -> np.ndarray:
    """A random unit vector (the text is ignored)."""
    vec = rng.standard_normal(DIM).astype(np.float32)
    return np.asarray(vec / np.linalg.norm(vec), dtype=np.float32)


class ComposedVectors:
    """Chunk vectors mixed from a pool of real paragraph embeddings, plus a little isotropic noise."""

    def __init__(self, pool: np.ndarray, pool_row: dict[str, int], sigma: float = SIGMA) -> None:
        self.pool = pool
        self.pool_row = pool_row
        self.sigma = sigma

    def __call__(self, rng: np.random.Generator, text: str) -> np.ndarray:
        """normalize(pool[a] + 0.5 pool[b] + 0.25 pool[c] + noise); a is the text's own entry when pooled."""
        picks = rng.integers(0, len(self.pool), len(POOL_WEIGHTS))  # always drawn: the stream stays aligned
        own = self.pool_row.get(text)
        if own is not None:
            picks[0] = own
        vec = POOL_WEIGHTS @ self.pool[picks] + self.sigma * rng.standard_normal(DIM).astype(np.float32) / math.sqrt(DIM)
        return np.asarray(vec / np.linalg.norm(vec), dtype=np.float32)

    @staticmethod
    def describe_recipe(pool_size: int, sigma: float = SIGMA) -> str:
        """The recipe in one line, for the result."""
        return (f"composed from real MiniLM embeddings of {pool_size} distinct generated paragraphs: "
                f"normalize(pool[a] + 0.5 pool[b] + 0.25 pool[c] + {sigma} * gaussian / sqrt({DIM})), "
                f"a the chunk's own paragraph when pooled (the index's first ~{pool_size} chunks), else random "
                "(query texts use the real encoder)")


def knowledge_graph_lists() -> tuple[list[Any], list[Any]]:
    """The default knowledge graph's companies and sources (built in a throwaway folder)."""
    from batchsearch.kg import KnowledgeGraph

    with tempfile.TemporaryDirectory(prefix="bench-kg-") as folder:
        graph = KnowledgeGraph.open_or_build(Path(folder) / "kg")
        return graph.companies(), graph.sources()


def generated_documents(seed: int) -> Iterator[tuple[dict[str, Any], Any, list[str]]]:
    """The generator's documents for `seed`, endlessly: (raw document, parsed document, its paragraphs)."""
    from batchsearch.corpus import generate_documents
    from batchsearch.ingest.documents import parse_native

    companies, sources = knowledge_graph_lists()
    for i, raw in enumerate(generate_documents(companies, sources, n_docs=10**9, seed=seed)):
        doc = parse_native({k: v for k, v in raw.items() if not k.startswith("_")}, i + 1)
        yield raw, doc, [p for p in doc.text.split("\n\n") if p.strip()]


def distinct_paragraphs(n: int, seed: int) -> list[str]:
    """The first n distinct paragraphs of the generated documents, in order."""
    seen: dict[str, None] = {}
    for _, _, paragraphs in generated_documents(seed):
        seen.update(dict.fromkeys(paragraphs))
        if len(seen) >= n:
            break
    return list(seen)[:n]


def paragraph_pool(cache: Path, n: int, seed: int, embedder: Any, encoder: str) -> tuple[np.ndarray, list[str], float]:
    """Embeddings of the first n distinct generated paragraphs (cached as .npy per n and encoder), the
    paragraphs, and the seconds spent embedding them now (0 when cached)."""
    texts = distinct_paragraphs(n, seed)
    path = cache / f"paragraph-pool-s{seed}-p{n}-{encoder.replace(' ', '-')}.npy"
    if path.exists():
        return np.load(path), texts, 0.0
    started = time.perf_counter()
    parts = []
    for first in range(0, len(texts), EMBED_BATCH):
        parts.append(np.asarray(embedder.embed(texts[first : first + EMBED_BATCH]), dtype=np.float32))
        log(f"embedded {first + len(parts[-1])}/{len(texts)} pool paragraphs")
    pool = np.concatenate(parts)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.save(fh, pool)
    os.replace(tmp, path)
    return pool, texts, time.perf_counter() - started


def mean_top1_cosine(vectors: np.ndarray, n_samples: int = 200, seed: int = 5) -> float:
    """Mean cosine of sampled rows to their nearest other row (reads every row: not in a timed process)."""
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(vectors), min(n_samples, len(vectors)), replace=False))
    scores = vectors[rows] @ vectors.T
    scores[np.arange(len(rows)), rows] = -np.inf
    return float(scores.max(axis=1).mean())


# ---- projections ---------------------------------------------------------------------------------
def build_missing_projections(snap: Snapshot, min_rows: int) -> dict[str, Any]:
    """Write int8 codes for every segment of at least min_rows rows that has none (an index cached before
    they existed); the seconds spent, and what the segments have now (an index cached before a
    builder change keeps what it was built with: its creation time tells)."""
    from batchsearch.index.projection import HEAD, build_projection

    started, built = time.perf_counter(), 0
    for view in snap.views:
        seg = view.segment
        if seg.n_chunks >= min_rows and not (seg.path / f"{HEAD}.npy").exists():
            log(f"coding the {seg.n_chunks} vectors of segment {seg.path.name}")
            build_projection(seg.path / "vectors.npy", seg.path)
            built += 1
    return {"projections_built_by_bench": built, "projection_build_s": round(time.perf_counter() - started, 1),
            "segments": len(snap.views),
            "segments_with_projection": sum((v.segment.path / f"{HEAD}.npy").exists() for v in snap.views),
            "segments_with_filter_fields": sum(view.segment.has_filter_fields for view in snap.views),
            "index_created_at": min(str(view.segment.meta.get("created_at")) for view in snap.views)}


# ---- answers and recall --------------------------------------------------------------------------
def chunk_keys(response: Any, k: int = 10) -> list[ChunkKey]:
    """The first k returned chunks of one response as (document id, cnum); none for an error."""
    if not isinstance(response, dict):
        return []
    keys = [(str(doc["id"]), int(chunk["cnum"])) for doc in response["results"] for chunk in doc["chunks"]]
    return keys[:k]


def filter_kind(query: Query) -> str:
    """The filters a query sets, by name ("none" without any)."""
    names = sorted(query.filters.model_dump(exclude_none=True))
    return "+".join(names) or "none"


def recall_at_k(got: Sequence[Sequence[ChunkKey]], exact: Sequence[Sequence[ChunkKey]],
                kinds: Sequence[str]) -> dict[str, Any]:
    """Mean |got & exact| / |exact| per query, overall and per filter kind; queries with no exact result skipped."""
    shares: dict[str, list[float]] = defaultdict(list)
    for found, wanted, kind in zip(got, exact, kinds, strict=True):
        if wanted:
            shares[kind].append(len(set(found) & set(map(tuple, wanted))) / len(wanted))
    every = [share for values in shares.values() for share in values]
    return {"recall_at_10_vs_exact": round(float(np.mean(every)), 4) if every else None,
            "recall_at_10_by_filter": {kind: round(float(np.mean(v)), 4) for kind, v in sorted(shares.items())},
            "recall_queries": {kind: len(v) for kind, v in sorted(shares.items())}}


def dense_recall(got: Sequence[Sequence[tuple[np.ndarray, np.ndarray]]],
                 exact: Sequence[Sequence[tuple[np.ndarray, np.ndarray]]], k: int) -> float | None:
    """Mean share of each query's exact dense top-k (over every segment, by score) that `got` lists in its own
    top-k: the dense candidates alone, before fusion with the lexical side, ranking and the response cut."""
    def top(lists: Sequence[tuple[np.ndarray, np.ndarray]]) -> set[tuple[int, int]]:
        keyed = [(float(score), v, int(row)) for v, (rows, scores) in enumerate(lists)
                 for row, score in zip(rows, scores, strict=True)]
        return {(v, row) for _, v, row in sorted(keyed, key=lambda x: (-x[0], x[1], x[2]))[:k]}

    shares = []
    for found, wanted in zip(got, exact, strict=True):
        want = top(wanted)
        if want:
            shares.append(len(top(found) & want) / len(want))
    return round(float(np.mean(shares)), 4) if shares else None


def write_keys(path: Path, keys: Sequence[Sequence[ChunkKey]]) -> None:
    """The per-query top-k keys as JSON."""
    path.write_text(json.dumps([[list(key) for key in row] for row in keys]))


def read_keys(path: Path) -> list[list[ChunkKey]]:
    """Keys written by write_keys."""
    return [[(str(doc), int(cnum)) for doc, cnum in row] for row in json.loads(path.read_text())]


# ---- memory --------------------------------------------------------------------------------------
def resident_vector_bytes(root: Path) -> dict[str, int]:
    """Resident bytes (smaps Rss) of this process's mappings of the VECTOR_FILES under `root`."""
    prefix = str(root.resolve()) + os.sep
    totals = dict.fromkeys(VECTOR_FILES, 0)
    current: str | None = None
    with open("/proc/self/smaps", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            parts = line.split(maxsplit=5)
            if _is_mapping_header(parts):
                path = parts[5].strip() if len(parts) == 6 else ""
                name = os.path.basename(path)
                current = name if name in totals and path.startswith(prefix) else None
            elif current is not None and parts[0] == "Rss:":
                totals[current] += int(parts[1]) * 1024
    return totals | {"total": sum(totals.values())}


def _is_mapping_header(parts: list[str]) -> bool:
    """Whether a split smaps line starts a mapping ("start-end perms offset dev inode [path]")."""
    return len(parts) >= 5 and "-" in parts[0] and not parts[0].endswith(":")


def rss_by_kind_mb() -> dict[str, float]:
    """This process's resident memory now, by kind (/proc/self/status RssAnon, RssFile, RssShmem), in MB."""
    kinds = {"RssAnon:": "anon", "RssFile:": "file", "RssShmem:": "shmem"}
    found = {}
    with open("/proc/self/status", encoding="utf-8") as fh:
        for line in fh:
            name, *value = line.split()
            if name in kinds:
                found[kinds[name]] = round(int(value[0]) / 1024, 1)
    return found


def vector_bytes_on_disk(root: Path) -> dict[str, int]:
    """Bytes of the VECTOR_FILES of every segment under `root`."""
    totals = {name: sum(p.stat().st_size for p in root.glob(f"segments/*/{name}")) for name in VECTOR_FILES}
    return totals | {"total": sum(totals.values())}


# ---- a real batch --------------------------------------------------------------------------------
def batch_file(queries: Sequence[Query]) -> bytes:
    """One batch line per query: {"query": <the query as JSON>}."""
    lines = [json.dumps({"query": q.model_dump(mode="json", by_alias=True, exclude_none=True)}) for q in queries]
    return ("\n".join(lines) + "\n").encode()


def batch_rate(index_root: Path, queries: Sequence[Query], warm: Sequence[Query], workers: int,
               settings: dict[str, str], work: Path) -> dict[str, Any]:
    """Lines/s of one batch end to end (upload to downloaded file) through `batchsearch serve` over the index at
    index_root, after a warm-up batch of `warm`, from a fresh data dir `work` whose index is a symlink to it (the
    server only reads the index; its database, objects and knowledge graph go to `work`)."""
    from batch_throughput import run_batch
    from serving import create_key, start_serve

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    (work / "index").symlink_to(index_root.resolve(), target_is_directory=True)
    try:
        key = create_key(work)
        process, base = start_serve(work, workers=workers, settings=settings)
        try:
            run_batch(base, key, batch_file(warm))  # the worker loads its engine, as a running service has
            seconds, lines = run_batch(base, key, batch_file(queries))
        finally:
            process.terminate()
            process.wait(timeout=60)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if lines != len(queries):
        raise SystemExit(f"the batch returned {lines} lines for {len(queries)}")
    return {"batch_lines": lines, "batch_seconds": round(seconds, 2), "batch_lines_per_s": round(lines / seconds, 1),
            "batch_workers": workers}



def side_by_side(argv: list[str], n_queries: int, processes: int) -> dict[str, Any]:
    """Queries/s of `processes` copies of `argv` (each given --shard i/processes), started together once all
    have loaded: the bench's queries over that many one-CPU processes, as BATCHSEARCH_EXECUTOR=processes runs
    a batch's micro-batches."""
    children = [subprocess.Popen([*argv, "--shard", f"{i}/{processes}"], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True) for i in range(processes)]
    try:
        for child in children:
            assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        found = [json.loads(child.communicate(timeout=3600)[0].strip().splitlines()[-1]) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    if sum(f["queries"] for f in found) != n_queries or any(child.returncode for child in children):
        raise SystemExit(f"side-by-side search failed: {found}")
    seconds = max(f["end"] for f in found) - min(f["start"] for f in found)
    return {"search_many_side_by_side_qps": round(n_queries / seconds, 1), "side_by_side_processes": processes}


# ---- stage times ---------------------------------------------------------------------------------
def stage_seconds(engine: SearchEngine, queries: list[Query], snap: Snapshot, micro: int = 64) -> dict[str, float]:
    """Seconds spent in each step of search_many, run one after another over micro-batches of queries."""
    spent = dict.fromkeys(("plan", "embed", "lexical", "dense", "answer"), 0.0)
    for first in range(0, len(queries), micro):
        lap = time.perf_counter()
        plans = engine._plan(queries[first : first + micro], snap, None)
        lap = add_lap(spent, "plan", lap)
        engine._embed(plans)
        lap = add_lap(spent, "embed", lap)
        lexical = engine._lexical_all(plans, snap)
        lap = add_lap(spent, "lexical", lap)
        dense = engine._dense(plans, snap)
        lap = add_lap(spent, "dense", lap)
        for i, plan in enumerate(plans):
            found = lexical[i]
            assert not isinstance(found, Exception), found
            engine._answer(plan, dense[i], found, snap, engine.fusion, "bench")
        add_lap(spent, "answer", lap)
    return spent


def add_lap(spent: dict[str, float], name: str, since: float) -> float:
    """Add the time since `since` to spent[name]; now, for the next lap."""
    now = time.perf_counter()
    spent[name] += now - since
    return now


def bare_kernels(engine: SearchEngine, queries: list[Query], snap: Snapshot) -> float:
    """The same work without our pipeline: encode texts, tantivy top-100, and a blocked BLAS product over the
    memory-mapped vectors with an argpartition top-100 (no filters; no copy of the vectors, as in search)."""
    seg = snap.views[0].segment
    t0 = time.perf_counter()
    texts = [q.text or "" for q in queries]
    vectors = engine.embedder.embed(texts)
    for text in texts:
        query = engine.lexical.text_query(seg, engine.lexical.terms(text))
        if query is not None:
            seg.searcher.search(query, 100, count=False)
    for first in range(0, len(vectors), 64):
        scores = vectors[first : first + 64] @ seg.vectors.T
        np.argpartition(scores, -100, axis=1)[:, -100:]
    return time.perf_counter() - t0

def log(message: str) -> None:
    """Progress on stderr (stdout carries the JSON)."""
    import sys

    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
