"""Errors of the content API, in the product's one exception tree (see batchsearch.errors).

The first two reach clients as HTTP bodies. The file and processing errors are recorded on a content record that
failed processing (`error_code`, `error`); each says what is wrong with the file in plain words.
"""

from __future__ import annotations

from batchsearch.errors import NotFoundError, ValidationError


class ContentNotFoundError(NotFoundError):
    """The content id is unknown or belongs to another owner (404, spec section 1)."""

    error_code = "PRIVATE_CONTENT_NOT_FOUND"

    def __init__(self, message: str = "Document not found", *, request_id: str | None = None) -> None:
        super().__init__(message, request_id=request_id)


class InvalidTagsError(ValidationError):
    """A tag id given to PATCH does not exist for this owner, or a tag name is unusable (400)."""

    error_code = "INVALID_TAGS_ERROR"


class ContentFileError(ValidationError):
    """An uploaded file whose text cannot be extracted; the subclass names why."""

    error_code = "INVALID_FILE"


class UnsupportedFileTypeError(ContentFileError):
    """The file name's extension is not one we can read."""

    error_code = "UNSUPPORTED_FILE_TYPE"


class CorruptFileError(ContentFileError):
    """The file is not what its extension says, or is damaged (a PDF that cannot be parsed, bad JSON)."""

    error_code = "CORRUPT_FILE"


class EncryptedFileError(ContentFileError):
    """The PDF is password protected."""

    error_code = "ENCRYPTED_FILE"


class FileEncodingError(ContentFileError):
    """A text file that is not UTF-8 (or UTF-16 with a byte order mark)."""

    error_code = "INVALID_ENCODING"


class EmptyTextError(ContentFileError):
    """The file holds no text to index (empty, whitespace only, or a scanned PDF without a text layer)."""

    error_code = "EMPTY_TEXT"


class ProcessingTimeoutError(ContentFileError):
    """Extracting and chunking the file took longer than content_max_seconds; its process was stopped."""

    error_code = "PROCESSING_TIMEOUT"


class ProcessingMemoryError(ContentFileError):
    """Extracting and chunking the file needed more memory than content_max_memory_mb; its process was stopped."""

    error_code = "PROCESSING_MEMORY_LIMIT"


class ProcessingCrashedError(ContentFileError):
    """The process that extracted and chunked the file stopped without an answer (for instance killed)."""

    error_code = "PROCESSING_ERROR"


class ProcessingAbandonedError(ContentFileError):
    """The file was being processed each of the last few times the server stopped; it is not tried again."""

    error_code = "PROCESSING_ABANDONED"
