"""Your own content: uploaded files, extracted, annotated and indexed privately for their owner."""

from batchsearch.contents.model import ContentRecord, ContentStatus, Tag
from batchsearch.contents.service import ContentService, CreatedContent, UploadUrls
from batchsearch.contents.store import ContentStore, ListQuery

__all__ = [
    "ContentRecord",
    "ContentService",
    "ContentStatus",
    "ContentStore",
    "CreatedContent",
    "ListQuery",
    "Tag",
    "UploadUrls",
]
