"""Sentence embeddings: the Embedder protocol and the numpy all-MiniLM-L6-v2 encoder."""

from batchsearch.embeddings.minilm import EMBEDDING_DIM, MiniLMEmbedder
from batchsearch.embeddings.protocol import Embedder

__all__ = ["EMBEDDING_DIM", "Embedder", "MiniLMEmbedder"]
