"""A real `batchsearch serve` process for the dashboard tests, and a headless Chromium to drive its pages.

The index is a small generated corpus over the default knowledge graph (built once per session); the server
polls for work fast and searches small micro-batches, so a 200-line job finishes in about a second while a
20,000-line job runs long enough to be cancelled from the page.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from batch_servers import Server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "dashboard"
WIDE = {"width": 1280, "height": 800}
NARROW = {"width": 400, "height": 800}
N_DOCS = 24
SEED = 5


def build_data_dir(root: Path) -> Path:
    """A data folder with the default knowledge graph and N_DOCS generated documents ingested."""
    from batchsearch.config import Settings
    from batchsearch.corpus import write_corpus
    from batchsearch.kg import KnowledgeGraph
    from batchsearch.services import build_ingestor

    graph = KnowledgeGraph.open_or_build(root / "kg")
    write_corpus(root / "corpus.jsonl", graph.companies(), graph.sources(), N_DOCS, SEED)
    build_ingestor(Settings(data_dir=root)).ingest_file(str(root / "corpus.jsonl"), "jsonl")
    return root


class ServeProcess(Server):
    """`batchsearch serve` on 127.0.0.1 with one batch worker process, in its own process group, over a copy of a
    built data folder's index and knowledge graph."""

    def __init__(self, index_dir: Path, data_dir: Path) -> None:
        for folder in ("index", "kg"):
            shutil.copytree(index_dir / folder, data_dir / folder)
        super().__init__(data_dir, command=[sys.executable, "-m", "batchsearch.cli", "serve"], workers=1,
                         poll_seconds=0.05, heartbeat_seconds=1, micro_batch_size=16)


def chromium_or_skip() -> str:
    """The system Chromium; without it the browser tests fail under CI and are skipped elsewhere."""
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    message = f"Chromium not found at {CHROMIUM} (apt-get install chromium chromium-driver)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


class ConsoleWatch:
    """Console errors and uncaught page errors of one page; a test names the failed requests it expects."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        self.allowed: list[re.Pattern[str]] = []
        self.request_urls: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("request", lambda request: self.request_urls.append(request.url))

    def _console(self, message: Any) -> None:
        if message.type == "error":
            location = message.location.get("url", "") if isinstance(message.location, dict) else ""
            self.errors.append(f"{message.text} [{location}]")

    def allow_failed_request(self, status: int, url_part: str) -> None:
        """Chromium logs every 4xx answer to fetch(); this one is what the test provokes."""
        self.allowed.append(re.compile(rf"status of {status} .*\[.*{re.escape(url_part)}"))

    def unexpected(self) -> list[str]:
        """The errors no allowance covers."""
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]


def screenshot(page: Any, name: str) -> None:
    """Save the page at 1280x800 and at a 400 px wide phone size (full height), then restore the size."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size(WIDE)
    page.wait_for_timeout(150)
    page.screenshot(path=str(ARTIFACTS / f"{name}-1280x800.png"))
    page.set_viewport_size(NARROW)
    page.wait_for_timeout(150)
    page.screenshot(path=str(ARTIFACTS / f"{name}-400.png"), full_page=True)
    page.set_viewport_size(WIDE)


UNLABELLED_CONTROLS = """() => [...document.querySelectorAll("input, select, textarea, button")]
  .filter((el) => el.offsetParent !== null)
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label") && !el.textContent.trim())
  .map((el) => el.outerHTML.slice(0, 120))"""


def unlabelled_controls(page: Any) -> list[str]:
    """Visible form controls and buttons without a label, aria-label or text (none expected)."""
    return list(page.evaluate(UNLABELLED_CONTROLS))
