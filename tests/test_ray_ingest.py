"""Ingestion on a real local Ray cluster: `batchsearch ingest --executor ray` builds an index that answers as the
local ingest's does, also when an ingest actor is killed mid-run; nothing is published before the end."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from batchsearch.config import Settings
from batchsearch.index.store import IndexStore
from batchsearch.models.search import Query
from batchsearch.search.engine import SearchEngine
from batchsearch.services import build_ingestor

from batch_servers import WORDS

QUERIES = ("cloud computing revenue", "merger acquisition board", "oil gas supply", "dividend shares analyst",
           "inflation rates bank loan", "chief executive lawsuit")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """80 documents of about 5,000 characters (several shards of the ray ingest, several chunks each)."""
    rng = random.Random(11)
    path = tmp_path_factory.mktemp("ray-corpus") / "docs.jsonl"
    with path.open("w") as out:
        for i in range(80):
            text = ". ".join(" ".join(rng.choice(WORDS) for _ in range(12)) for _ in range(60)) + "."
            out.write(json.dumps({"id": f"R{i:03d}", "headline": f"{rng.choice(WORDS)} report {i}", "text": text,
                                  "timestamp": 1_700_000_000 + i * 3600}) + "\n")
        out.write("{not json\n")
    return path


@pytest.fixture(scope="module")
def local_answers(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> list[list[tuple[str, float]]]:
    """What the index of a local ingest answers to QUERIES."""
    data_dir = tmp_path_factory.mktemp("ray-local-ingest")
    report = build_ingestor(Settings(data_dir=data_dir)).ingest_file(str(corpus), "jsonl")
    assert report.documents == 80 and len(report.errors) == 1
    return answers(data_dir)


def answers(data_dir: Path) -> list[list[tuple[str, float]]]:
    """Per query, the (document id, chunk) and relevance of every result."""
    engine = SearchEngine.open(data_dir)
    found = []
    for text in QUERIES:
        response = engine.search(Query.model_validate({"text": text, "max_chunks": 20}))
        found.append([(f"{doc['id']}#{chunk['cnum']}", round(chunk["relevance"], 4))
                      for doc in response["results"] for chunk in doc["chunks"]])
    return found


def ray_ingest(corpus: Path, data_dir: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`batchsearch ingest --executor ray --actors 2` in a process of its own."""
    command = [sys.executable, "-m", "batchsearch.cli", "ingest", str(corpus), "--executor", "ray", "--actors", "2",
               "--data-dir", str(data_dir), "--json"]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BATCHSEARCH_")} | env
    return subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def summary(process: subprocess.Popen[bytes]) -> dict[str, Any]:
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err.decode()[-3000:]
    return json.loads(out)  # type: ignore[no-any-return]


def ingest_actors() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["cmdline"]) if any("IngestActor" in c for c in p.info["cmdline"] or ())]


def test_ingest_on_ray_answers_as_the_local_ingest(corpus: Path, tmp_path: Path, ray_cluster: dict[str, str],
                                                    local_answers: list[list[tuple[str, float]]]) -> None:
    report = summary(ray_ingest(corpus, tmp_path, ray_cluster))
    assert (report["documents"], len(report["errors"]), report["generation"]) == (80, 1, 1)
    assert report["errors"][0]["line"] == 81
    assert answers(tmp_path) == local_answers
    assert ingest_actors() == []  # the actors ended with the run


def test_an_ingest_actor_killed_mid_run_changes_nothing(corpus: Path, tmp_path: Path, ray_cluster: dict[str, str],
                                                        local_answers: list[list[tuple[str, float]]]) -> None:
    process = ray_ingest(corpus, tmp_path, ray_cluster)
    deadline = time.monotonic() + 120
    while len(actors := ingest_actors()) < 2 or not any(a.cpu_percent(0.2) > 50 for a in actors):
        assert time.monotonic() < deadline and process.poll() is None, "the ingest actors never got busy"
    assert IndexStore(tmp_path / "index").current_generation() == 0  # nothing published while it runs
    actors[0].send_signal(signal.SIGKILL)
    report = summary(process)
    assert (report["documents"], report["generation"]) == (80, 1)
    assert answers(tmp_path) == local_answers
