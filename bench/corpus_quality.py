"""Synthetic corpus quality: near-duplicate chunk rate, generation speed, annotation speed.

    python bench/corpus_quality.py [--docs 5000] [--sample 5000] [--seed 1] [--memory] [--json]

1. Companies and sources come from the knowledge graph (built from pytickersymbols into a
   temporary folder); if that fails, from a hand-written list of 50 made-up companies.
2. `write_corpus` writes `--docs` documents to a temporary JSONL file: generation docs/s
   includes JSON encoding and the write. `--memory` repeats generation under tracemalloc and
   reports the peak traced memory (streaming: it should not grow with --docs).
3. The first `--sample` documents are split into paragraph chunks (blank-line paragraphs,
   a paragraph under 40 words merged with the next), normalised (lowercase, digit runs -> "0",
   so changed figures do not hide a copied template) and shingled into word 5-grams.
   A chunk is a near-duplicate when another chunk has shingle Jaccard >= 0.8 with it. Candidates
   come from MinHash LSH (64 hashes, 16 bands of 4 rows: a pair at Jaccard 0.8 is found with
   probability 0.9998); each candidate pair is checked with exact Jaccard. Within a bucket,
   each chunk is compared with its next 8 bucket members.
4. Sentiment and topic annotation speed over the same chunks (chunks/s, sentences/s).

Target: near-duplicate rate < 5%.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import numpy as np

from batchsearch.annotate.sentiment import score_sentiment
from batchsearch.annotate.topics import detect_topics
from batchsearch.corpus import generate_documents, write_corpus
from batchsearch.kg.model import Entity, EntityCategory, Source

MIN_CHUNK_WORDS = 40
SHINGLE = 5
THRESHOLD = 0.8
HASHES, BANDS = 64, 16
BUCKET_WINDOW = 8
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_DIGITS = re.compile(r"\d+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"])")

MADE_UP = """Arbor Dynamics Inc.|Technology; Bramblecrest Foods plc|Consumer; Cinderpath Energy Corp.|Energy;
Dovetail Biosciences Inc.|Healthcare; Emberline Logistics Ltd.|Industrials; Fernbrook Bancorp|Financials;
Glasswing Software Inc.|Technology; Harrowgate Mining plc|Materials; Ivorytide Pharmaceuticals AG|Healthcare;
Junipero Retail Group|Consumer; Kelpwater Utilities Corp.|Utilities; Lanternfish Media Inc.|Telecom;
Marrowstone Aerospace Corp.|Industrials; Nettlefield Insurance SE|Financials; Oakhollow Chemicals AG|Materials;
Pinecrest Semiconductors Inc.|Technology; Quillon Motors N.V.|Industrials; Rookwood Telecom plc|Telecom;
Saltbrook Beverages Inc.|Consumer; Thistledown Capital Corp.|Financials; Umberfield Robotics Inc.|Industrials;
Vanterra Oil & Gas Corp.|Energy; Wexmoor Healthcare Inc.|Healthcare; Yarrowby Apparel Ltd.|Consumer;
Zephyrine Cloud Inc.|Technology; Ashmere Steel Corp.|Materials; Brightwell Payments Inc.|Financials;
Coppervale Foods Inc.|Consumer; Drumlin Wind Power plc|Energy; Eastcairn Diagnostics Inc.|Healthcare;
Flintwood Freight Corp.|Industrials; Greyfriar Asset Management plc|Financials; Hollowmere Games Inc.|Telecom;
Ironcliff Defense Corp.|Industrials; Jasperline Networks Inc.|Technology; Kingsmoor Breweries plc|Consumer;
Lindenhall Medical Devices Inc.|Healthcare; Mossgiel Bank AG|Financials; Northwold Solar Inc.|Energy;
Oxenford Machinery Corp.|Industrials; Pebblecreek Homes Inc.|Consumer; Quarrington Data Corp.|Technology;
Redmarsh Airlines plc|Industrials; Silverbirch Insurance Ltd.|Financials; Tamberlane Cosmetics Inc.|Consumer;
Underhill Rail Corp.|Industrials; Veldmark Chips N.V.|Technology; Willowmere Pharma Inc.|Healthcare;
Yewcroft Streaming Inc.|Telecom; Zinnwald Chemicals SE|Materials"""


def made_up_graph() -> tuple[list[Entity], list[Source]]:
    """50 invented companies and 22 invented sources, for when the knowledge graph is unavailable."""
    companies = []
    for index, item in enumerate(line.strip() for line in MADE_UP.replace("\n", " ").split(";")):
        name, sector = item.split("|")
        short = re.sub(r"\s+(Inc\.|plc|Corp\.|Ltd\.|AG|SE|N\.V\.|Group|Bancorp)$", "", name)
        companies.append(Entity(f"M{index:05d}", name, EntityCategory.COMPANIES, aliases=(short,),
                                sector=sector, country="US"))
    sources = [Source(f"N{i:05d}", f"Example Newswire {i}", f"RANK_{i % 5 + 1}", categories=("news",))
               for i in range(20)]
    sources += [Source("T00001", "Example Transcripts", "RANK_1", categories=("transcripts",)),
                Source("F00001", "Example Filings", "RANK_1", categories=("filings",))]
    return companies, sources


def load_graph() -> tuple[list[Entity], list[Source], str]:
    """Companies and sources from the knowledge graph, else the made-up list."""
    try:
        from batchsearch.kg.store import KnowledgeGraph

        graph = KnowledgeGraph.build_default(tempfile.mkdtemp(prefix="bench-kg-"))
        return graph.companies(), graph.sources(), "knowledge_graph"
    except Exception as exc:  # any failure means: use the fallback list
        print(f"knowledge graph unavailable ({exc!r}); using made-up companies", file=sys.stderr)
        companies, sources = made_up_graph()
        return companies, sources, "made_up"


def paragraph_chunks(text: str) -> Iterator[str]:
    """Blank-line paragraphs; a paragraph under MIN_CHUNK_WORDS words is merged with the next."""
    pending: list[str] = []
    for paragraph in text.split("\n\n"):
        pending.append(paragraph)
        if sum(len(p.split()) for p in pending) >= MIN_CHUNK_WORDS:
            yield " ".join(pending)
            pending = []
    if pending:
        yield " ".join(pending)


def shingles(chunk: str, vocabulary: dict[str, int]) -> np.ndarray:
    """Sorted unique 64-bit hashes of the chunk's word 5-grams (digits normalised)."""
    words = _WORD.findall(_DIGITS.sub("0", chunk.lower()))
    ids = np.array([vocabulary.setdefault(w, len(vocabulary) + 1) for w in words] or [0], dtype=np.uint64)
    if len(ids) < SHINGLE:
        ids = np.concatenate([ids, np.zeros(SHINGLE - len(ids), dtype=np.uint64)])
    base = np.uint64(1_000_003)
    hashed = np.zeros(len(ids) - SHINGLE + 1, dtype=np.uint64)
    for offset in range(SHINGLE):
        hashed = hashed * base + ids[offset : len(ids) - SHINGLE + 1 + offset]
    return np.unique(hashed)


def minhash(sets: list[np.ndarray], seed: int = 7) -> np.ndarray:
    """(chunks x HASHES) MinHash signatures with multiply-shift hashing."""
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 2**63, size=HASHES, dtype=np.uint64) | np.uint64(1)
    b = rng.integers(0, 2**63, size=HASHES, dtype=np.uint64)
    signatures = np.empty((len(sets), HASHES), dtype=np.uint64)
    for start in range(0, len(sets), 2000):
        batch = sets[start : start + 2000]
        flat = np.concatenate(batch)
        offsets = np.cumsum([0] + [len(s) for s in batch[:-1]])
        hashed = (flat[:, None] * a[None, :] + b[None, :]) >> np.uint64(16)
        signatures[start : start + len(batch)] = np.minimum.reduceat(hashed, offsets, axis=0)
    return signatures


def jaccard(left: np.ndarray, right: np.ndarray) -> float:
    """Exact Jaccard of two sorted unique arrays."""
    common = len(np.intersect1d(left, right, assume_unique=True))
    return common / (len(left) + len(right) - common)


def near_duplicates(sets: list[np.ndarray]) -> np.ndarray:
    """A boolean per chunk: has another chunk with Jaccard >= THRESHOLD."""
    signatures = minhash(sets)
    flagged = np.zeros(len(sets), dtype=bool)
    checked: set[tuple[int, int]] = set()
    rows = HASHES // BANDS
    for band in range(BANDS):
        key_hash = np.zeros(len(sets), dtype=np.uint64)
        for column in signatures[:, band * rows : (band + 1) * rows].T:
            key_hash = key_hash * np.uint64(0x9E3779B97F4A7C15) + column
        order = np.argsort(key_hash, kind="stable")
        sorted_keys = key_hash[order]
        boundaries = np.flatnonzero(np.diff(sorted_keys)) + 1
        for bucket in np.split(order, boundaries):
            for i, left in enumerate(bucket):
                for right in bucket[i + 1 : i + 1 + BUCKET_WINDOW]:
                    pair = (int(min(left, right)), int(max(left, right)))
                    if pair in checked:
                        continue
                    checked.add(pair)
                    if jaccard(sets[pair[0]], sets[pair[1]]) >= THRESHOLD:
                        flagged[list(pair)] = True
    return flagged


def time_generation(companies: list[Entity], sources: list[Source], docs: int, seed: int, folder: Path) -> tuple[Path, float]:
    """Write the corpus; returns its path and the seconds it took."""
    path = folder / "corpus.jsonl"
    started = time.perf_counter()
    write_corpus(path, companies, sources, docs, seed)
    return path, time.perf_counter() - started


def traced_peak_mib(companies: list[Entity], sources: list[Source], docs: int, seed: int) -> float:
    """Peak Python memory while streaming `docs` documents (each encoded, then dropped)."""
    tracemalloc.start()
    for document in generate_documents(companies, sources, n_docs=docs, seed=seed):
        json.dumps(document)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def annotation_speed(chunks: list[str]) -> dict[str, float]:
    """Sentiment and topic throughput over the chunks."""
    sentences = [s for chunk in chunks for s in _SENTENCE.split(chunk)]
    started = time.perf_counter()
    for chunk in chunks:
        score_sentiment(chunk)
    sentiment_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for sentence in sentences:
        score_sentiment(sentence)
    sentence_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for chunk in chunks:
        detect_topics(chunk)
    topic_seconds = time.perf_counter() - started
    return {
        "sentiment_chunks_per_s": round(len(chunks) / sentiment_seconds),
        "sentiment_sentences_per_s": round(len(sentences) / sentence_seconds),
        "topics_chunks_per_s": round(len(chunks) / topic_seconds),
    }


def run(args: argparse.Namespace) -> dict[str, object]:
    """Every measurement, as one result object."""
    companies, sources, origin = load_graph()
    with tempfile.TemporaryDirectory(prefix="bench-corpus-") as folder:
        path, seconds = time_generation(companies, sources, args.docs, args.seed, Path(folder))
        with path.open(encoding="utf-8") as lines:
            sample = [json.loads(line) for line in islice(lines, min(args.sample, args.docs))]
    chunks = [chunk for doc in sample for chunk in paragraph_chunks(doc["text"])]
    vocabulary: dict[str, int] = {}
    sets = [shingles(chunk, vocabulary) for chunk in chunks]
    flagged = near_duplicates(sets)
    exact = len(chunks) - len({s.tobytes() for s in sets})
    result: dict[str, object] = {
        "companies": len(companies), "companies_from": origin, "sources": len(sources),
        "docs": args.docs, "seed": args.seed,
        "generation_seconds": round(seconds, 2), "generation_docs_per_s": round(args.docs / seconds),
        "sample_docs": len(sample), "chunks": len(chunks),
        "mean_chunk_words": round(sum(len(c.split()) for c in chunks) / max(len(chunks), 1), 1),
        "near_duplicate_chunks": int(flagged.sum()),
        "near_duplicate_rate": round(float(flagged.mean()), 4) if chunks else 0.0,
        "exact_duplicate_rate": round(exact / max(len(chunks), 1), 4),
        "threshold": THRESHOLD, "shingle_words": SHINGLE,
        **annotation_speed(chunks),
    }
    if args.memory:
        result["peak_traced_mib"] = round(traced_peak_mib(companies, sources, args.docs, args.seed), 2)
    return result


def main() -> None:
    """Parse arguments, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=5000, help="documents to generate (timed)")
    parser.add_argument("--sample", type=int, default=5000, help="documents checked for near-duplicates")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--memory", action="store_true", help="also measure peak traced memory while streaming")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = run(args)
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:28} {value}")


if __name__ == "__main__":
    main()
