"""Synthetic financial documents for tests, benchmarks and entity-detection evaluation."""

from batchsearch.corpus.generate import document_id, generate_documents, write_corpus

__all__ = ["document_id", "generate_documents", "write_corpus"]
