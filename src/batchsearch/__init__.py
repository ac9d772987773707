"""batchsearch: hybrid search over financial documents with asynchronous Batch Search."""

__version__ = "0.1.0"
