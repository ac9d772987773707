"""Entity detection quality on the synthetic corpus: precision and recall of company mentions, and speed.

    python bench/kg_detect.py [--docs 200] [--seed 7] [--errors 10] [--json]

1. The default knowledge graph is built into a temporary folder (KnowledgeGraph.open_or_build);
   `generate_documents` writes `--docs` documents about its companies, published by its sources.
   Each document lists every company surface its templates wrote (`_mentions` in the body,
   `_headline_mentions` in the headline) with offsets: the ground truth.
2. Bodies are split into chunks exactly as ingestion does (ingest.chunking.chunk_text with the
   MiniLM token counter and the headline's share of the budget); headlines are units of their own.
   A mention that straddles two chunks (none should: chunks end on sentence boundaries) is counted
   as a miss. The detector's hits in every unit are compared with the ground truth there.
3. Only company detections are scored (people and places are not in the ground truth). A hit is
   correct when (entity id, start, end) equals a true mention's exactly.
   precision = correct / company detections, recall = correct / true mentions; also recall by
   the form the template wrote (name, alias, ticker).
4. Speed: characters of all units divided by the seconds spent in EntityDetector.detect.

Target: precision >= 0.95 and recall >= 0.95.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batchsearch.corpus import generate_documents
from batchsearch.embeddings import MiniLMEmbedder
from batchsearch.ingest.chunking import chunk_text
from batchsearch.ingest.pipeline import HEADLINE_TOKEN_CAP
from batchsearch.kg import EntityDetector, KnowledgeGraph

TARGET = 0.95
Mention = tuple[str, int, int]  # (entity id, start, end) within a unit


@dataclass
class Unit:
    """A piece of text the detector sees (a chunk or a headline) and its true company mentions."""

    text: str
    truth: dict[Mention, str]  # mention -> form ("name", "alias", "ticker")


@dataclass
class Score:
    """Counts for precision and recall, and a few examples of each kind of error."""

    correct: int = 0
    detected: int = 0
    true: int = 0
    by_form: Counter[str] = field(default_factory=Counter)
    found_by_form: Counter[str] = field(default_factory=Counter)
    false_positives: list[str] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)


def chunk_units(document: dict[str, Any], embedder: MiniLMEmbedder) -> tuple[list[Unit], int]:
    """The headline and the ingestion chunks of a document; also the mentions no chunk holds whole."""
    headline, text = document["headline"], document["text"]
    units = [Unit(headline, {(m["id"], m["start"], m["end"]): m["form"] for m in document["_headline_mentions"]})]
    headline_tokens = embedder.count_tokens([headline])[0] if headline else 0
    budget = embedder.max_tokens - 2 - min(headline_tokens, HEADLINE_TOKEN_CAP)
    placed = 0
    for span in chunk_text(text, budget, embedder.count_tokens):
        truth = {(m["id"], m["start"] - span.start, m["end"] - span.start): m["form"]
                 for m in document["_mentions"] if span.start <= m["start"] and m["end"] <= span.end}
        placed += len(truth)
        units.append(Unit(text[span.start : span.end], truth))
    return units, len(document["_mentions"]) - placed


def score_units(units: list[Unit], detector: EntityDetector, companies: set[str], names: dict[str, str],
                keep_errors: int) -> tuple[Score, float]:
    """Compare the detector's company hits with the truth in every unit; also the seconds spent detecting."""
    score = Score()
    seconds = 0.0
    for unit in units:
        started = time.perf_counter()
        detections = detector.detect(unit.text)
        seconds += time.perf_counter() - started
        found = {(d.id, d.start, d.end) for d in detections if d.id in companies}
        score.detected += len(found)
        score.true += len(unit.truth)
        score.correct += len(found & unit.truth.keys())
        score.by_form.update(unit.truth.values())
        score.found_by_form.update(form for mention, form in unit.truth.items() if mention in found)
        for kind, mentions in (("false_positives", found - unit.truth.keys()), ("misses", unit.truth.keys() - found)):
            examples = getattr(score, kind)
            for entity_id, start, end in sorted(mentions, key=lambda m: m[1]):
                if len(examples) < keep_errors:
                    context = unit.text[max(0, start - 30) : end + 30].replace("\n", " ")
                    name = names.get(entity_id, "?")
                    examples.append(f"{unit.text[start:end]!r} as {entity_id} ({name}): ...{context}...")
    return score, seconds


def ratio(part: int, whole: int) -> float:
    """part / whole, 1.0 for an empty whole."""
    return part / whole if whole else 1.0


def run(n_docs: int, seed: int, keep_errors: int) -> dict[str, Any]:
    """Build the graph, generate and chunk the corpus, score the detector; the report as a dict."""
    with tempfile.TemporaryDirectory(prefix="bench-kg-") as folder:
        graph = KnowledgeGraph.open_or_build(Path(folder) / "kg")
    companies = graph.companies()
    started = time.perf_counter()
    detector = graph.detector()
    build_seconds = time.perf_counter() - started
    embedder = MiniLMEmbedder()
    units: list[Unit] = []
    straddling = 0
    for document in generate_documents(companies, graph.sources(), n_docs=n_docs, seed=seed):
        doc_units, lost = chunk_units(document, embedder)
        units.extend(doc_units)
        straddling += lost
    score, seconds = score_units(units, detector, {c.id for c in companies}, {c.id: c.name for c in companies},
                                 keep_errors)
    true = score.true + straddling
    chars = sum(len(u.text) for u in units)
    precision, recall = ratio(score.correct, score.detected), ratio(score.correct, true)
    return {
        "docs": n_docs, "seed": seed, "units": len(units), "chunks": len(units) - n_docs, "companies": len(companies),
        "true_mentions": true, "company_detections": score.detected, "correct": score.correct,
        "straddling_mentions": straddling,
        "precision": round(precision, 4), "recall": round(recall, 4),
        "recall_by_form": {form: round(ratio(score.found_by_form[form], n), 4)
                           for form, n in sorted(score.by_form.items())},
        "detect_chars_per_s": round(chars / seconds) if seconds else None,
        "detect_seconds": round(seconds, 3), "detector_build_seconds": round(build_seconds, 3),
        "meets_target": precision >= TARGET and recall >= TARGET,
        "false_positive_examples": score.false_positives, "miss_examples": score.misses,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=200, help="documents to generate")
    parser.add_argument("--seed", type=int, default=7, help="corpus seed")
    parser.add_argument("--errors", type=int, default=10, help="examples of each kind of error to keep")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    report = run(args.docs, args.seed, args.errors)
    if args.json:
        print(json.dumps(report))
        return
    print(f"{report['docs']} docs -> {report['chunks']} chunks + {report['docs']} headlines "
          f"over {report['companies']} companies")
    print(f"company mentions: {report['true_mentions']} true, {report['company_detections']} detected, "
          f"{report['correct']} exact (id + span)")
    print(f"precision {report['precision']:.4f}   recall {report['recall']:.4f}   "
          f"(target >= {TARGET}: {'met' if report['meets_target'] else 'NOT met'})")
    print("recall by form: " + ", ".join(f"{k} {v:.4f}" for k, v in report["recall_by_form"].items()))
    print(f"detection: {report['detect_chars_per_s']:,} chars/s "
          f"(detector built in {report['detector_build_seconds']} s)")
    for title, key in (("false positives", "false_positive_examples"), ("misses", "miss_examples")):
        if report[key]:
            print(f"\n{title}:")
            for line in report[key]:
                print(f"  {line}")


if __name__ == "__main__":
    main()
