"""Documents of the index as the fetch-document API returns them: found by id for a caller, turned into the
annotated JSON (metadata, content blocks, analytics), and served through signed GET URLs."""

from batchsearch.documents.annotated import annotated_document, content_blocks
from batchsearch.documents.lookup import IndexedChunk, IndexedDocument, find_document
from batchsearch.documents.urls import DOCUMENT_DOWNLOADS, DocumentUrls

__all__ = ["DOCUMENT_DOWNLOADS", "DocumentUrls", "IndexedChunk", "IndexedDocument", "annotated_document",
           "content_blocks", "find_document"]
