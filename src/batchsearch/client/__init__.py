"""The Python SDK: `Client` and `AsyncClient` over httpx, raising the server's own exceptions."""

from batchsearch.client._shared import APIConnectionError, BatchProgress, ProgressCallback
from batchsearch.client.async_ import (
    AsyncBatches,
    AsyncClient,
    AsyncCoMentions,
    AsyncDocuments,
    AsyncKnowledgeGraphAPI,
)
from batchsearch.client.results import count_statuses, iter_results, processing_seconds
from batchsearch.client.sync import Batches, Client, CoMentions, Documents, KnowledgeGraphAPI

__all__ = [
    "APIConnectionError",
    "AsyncBatches",
    "AsyncClient",
    "AsyncCoMentions",
    "AsyncDocuments",
    "AsyncKnowledgeGraphAPI",
    "BatchProgress",
    "Batches",
    "Client",
    "CoMentions",
    "Documents",
    "KnowledgeGraphAPI",
    "ProgressCallback",
    "count_statuses",
    "iter_results",
    "processing_seconds",
]
