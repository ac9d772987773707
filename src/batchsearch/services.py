"""Builds the long-lived services (engine, ingestor, annotator) from Settings, for entrypoints."""

from __future__ import annotations

from batchsearch.config import Settings
from batchsearch.index.store import IndexStore
from batchsearch.ingest.pipeline import Annotator, Ingestor


def index_store(settings: Settings) -> IndexStore:
    """The index folder of these settings."""
    return IndexStore(settings.data_dir / "index")


def build_annotator(settings: Settings) -> Annotator:
    """The default annotator over this data dir's knowledge graph (built on first use)."""
    from batchsearch.ingest.annotators import DefaultAnnotator
    from batchsearch.kg import KnowledgeGraph

    return DefaultAnnotator(KnowledgeGraph.open_or_build(settings.data_dir / "kg").detector())


def build_ingestor(settings: Settings, owner: str | None = None) -> Ingestor:
    """An ingestor writing into this data dir with the configured embedder and the default annotator."""
    from batchsearch.embeddings import build_embedder

    return Ingestor(index_store(settings), build_embedder(settings), build_annotator(settings), owner=owner)
