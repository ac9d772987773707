"""batchsearch: hybrid search over financial documents with asynchronous Batch Search.

The library surface is the SDK and the exception tree:

    import batchsearch

    with batchsearch.Client("http://127.0.0.1:8000", api_key="bs_...") as client:
        client.search({"text": "guidance cut", "max_chunks": 5})
        client.batches.run("queries.jsonl", "results.jsonl")
"""

from batchsearch.client import (
    APIConnectionError,
    AsyncClient,
    BatchProgress,
    Client,
    count_statuses,
    iter_results,
)
from batchsearch.errors import (
    AuthenticationError,
    BatchSearchError,
    ConflictError,
    InternalError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    SearchTimeoutError,
    ServiceUnavailableError,
    ValidationError,
)

__version__ = "0.1.0"

__all__ = [
    "APIConnectionError",
    "AsyncClient",
    "AuthenticationError",
    "BatchProgress",
    "BatchSearchError",
    "Client",
    "ConflictError",
    "InternalError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "SearchTimeoutError",
    "ServiceUnavailableError",
    "ValidationError",
    "__version__",
    "count_statuses",
    "iter_results",
]
