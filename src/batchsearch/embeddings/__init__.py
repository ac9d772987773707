"""Sentence embeddings: the Embedder protocol, the numpy and ONNX Runtime all-MiniLM-L6-v2 encoders."""

from batchsearch.embeddings.factory import build_embedder
from batchsearch.embeddings.minilm import EMBEDDING_DIM, MiniLMEmbedder
from batchsearch.embeddings.protocol import Embedder

__all__ = ["EMBEDDING_DIM", "Embedder", "MiniLMEmbedder", "build_embedder"]
