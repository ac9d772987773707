"""Ingestion: readers -> documents -> chunks -> annotations -> embeddings -> segments."""
