"""Your own content (spec section 6): upload slots, signed uploads, background processing, tags, deletion.

Lifecycle of a record: `create` -> pending (with a signed, expiring, single-use PUT URL) ->
`receive_upload` stores the bytes -> processing -> `process` extracts the text, builds a document
(category `my_files`, the record's tag names as `tags`, private to the owner) and ingests it ->
completed, or failed with an `error_code` and an `error` message that says what is wrong with the file.

Processing runs off the request path on `workers` daemon threads that take tasks from a FairQueue
(round-robin by owner, one owner on at most `workers - 1` of them; a document's tasks in order, one at a
time). The file's own work, extracting its text and choosing its chunks, runs in a child process per
document under a time and a memory limit (contents.processing.Sandbox); annotation and embedding follow
in the thread, outside the index's writer lock, and only the publish takes the lock (the index and the
knowledge graph are in this process). DELETE kills the document's child; `close()` kills
every child and waits only a bounded time for index writes in progress.
Tasks never raise: any failure becomes a failed record and a log line. Records left in `processing`
by a stopped server are queued again by `resume()`, which the app calls at start-up; each start of a
document's processing is counted (a marker object beside its file), and one that was interrupted
MAX_ATTEMPTS times is failed instead of being tried again at every start.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy import Engine

from batchsearch.clock import Clock, utcnow
from batchsearch.config import Settings
from batchsearch.contents.errors import (
    ContentFileError,
    ContentNotFoundError,
    InvalidTagsError,
    ProcessingAbandonedError,
)
from batchsearch.contents.extract import content_type_for
from batchsearch.contents.model import ContentRecord, ContentStatus, Tag
from batchsearch.contents.processing import PreparationCancelledError, PrepareJob, Sandbox, WordpieceCounter
from batchsearch.contents.scheduler import FairQueue
from batchsearch.contents.store import ContentStore, ListQuery
from batchsearch.errors import ConflictError, PayloadTooLargeError
from batchsearch.index.store import IndexStore
from batchsearch.ingest.documents import DocumentIn
from batchsearch.ingest.chunking import TokenCounter
from batchsearch.ingest.pipeline import Annotator, ChunkedDocument, Ingestor, TokenizingEmbedder
from batchsearch.storage import signing
from batchsearch.storage import open_object_store
from batchsearch.storage.protocol import ObjectStore

log = logging.getLogger(__name__)

UPLOAD_PATH = "/contents/v1/uploads/"
MAX_UPLOAD_BYTES = 100 * 1024 * 1024
DOWNLOAD_TTL_SECONDS = 86_400  # original-file URLs live about a day, as the vendor's do (spec section 6)
MAX_TAG_CHARS = 200
MAX_TAGS = 100
MY_FILES_SOURCE = {"id": "MYFILE", "name": "My files", "rank": "RANK_1"}
PROCESSING_ERROR = "PROCESSING_ERROR"
MAX_ATTEMPTS = 3  # starts of one document's processing before one more start fails it instead
CLOSE_TIMEOUT_SECONDS = 10.0  # how long close() waits for index writes in progress
# what clients send when they do not know the type (curl --data-binary sends the form type)
_GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream", "application/x-www-form-urlencoded"})


def new_content_id() -> str:
    """A content id: 32 uppercase hex characters (spec section 1)."""
    return uuid.uuid4().hex.upper()


@dataclass(frozen=True)
class CreatedContent:
    """A new pending record and the URL its file goes to."""

    record: ContentRecord
    url: str


class UploadUrls:
    """Signed, expiring PUT URLs of upload slots, served by `PUT /contents/v1/uploads/{id}` (no API key).

    The signature is storage.signing's HMAC over ("PUT", "content-upload/<id>", expiry) with the
    service's signing secret, the same scheme as the object store's /files URLs.
    """

    def __init__(self, base_url: str, secret: bytes) -> None:
        self._base_url = base_url.rstrip("/")
        self._secret = secret

    def url(self, content_id: str, expires_at: int) -> str:
        """The URL that accepts the file of `content_id` until the unix time `expires_at`."""
        sig = signing.signature(self._secret, "PUT", _slot(content_id), expires_at)
        return f"{self._base_url}{UPLOAD_PATH}{content_id}?{urlencode({'expires': expires_at, 'signature': sig})}"

    def verify(self, content_id: str, expires: str | None, signature: str | None, now: float) -> None:
        """PermissionDeniedError unless the parameters sign an upload of `content_id` that has not expired."""
        signing.verify(self._secret, "PUT", _slot(content_id), expires, signature, now)


def _slot(content_id: str) -> str:
    return f"content-upload/{content_id}"


def _object_prefix(content_id: str) -> str:
    return f"contents/{content_id}/"


def _media_type(header: str | None) -> str | None:
    """The media type an uploader declared, unless it is a generic one that says nothing."""
    value = (header or "").split(";", 1)[0].strip().lower()
    return None if value in _GENERIC_TYPES else value


def clean_tag_names(names: Iterable[str]) -> list[str]:
    """Tag names trimmed and de-duplicated; InvalidTagsError for an empty or over-long one."""
    cleaned = list(dict.fromkeys(name.strip() for name in names))
    for name in cleaned:
        if not name or len(name) > MAX_TAG_CHARS:
            raise InvalidTagsError(f"Tag names must have 1 to {MAX_TAG_CHARS} characters, got {name!r}")
    if len(cleaned) > MAX_TAGS:
        raise InvalidTagsError(f"A document can have at most {MAX_TAGS} tags, got {len(cleaned)}")
    return cleaned


Task = Callable[[str], None]


class ContentService:
    """The content operations behind the routes; owns the records, the files and the background workers."""

    def __init__(self, store: ContentStore, objects: ObjectStore, urls: UploadUrls, index: IndexStore,
                 embedder: TokenizingEmbedder, make_annotator: Callable[[], Annotator | None], *,
                 upload_ttl_seconds: int, download_ttl_seconds: int = DOWNLOAD_TTL_SECONDS,
                 max_bytes: int = MAX_UPLOAD_BYTES, clock: Clock = utcnow,
                 workers: int = 2, max_seconds: float = 300.0, max_memory_mb: int | None = 1024,
                 count_tokens: TokenCounter | None = None) -> None:
        self.store = store
        self.objects = objects
        self.urls = urls
        self.index = index
        self.embedder = embedder
        self.make_annotator = make_annotator  # called per task, so entities added to the graph are detected
        self.upload_ttl_seconds = upload_ttl_seconds
        self.download_ttl_seconds = download_ttl_seconds
        self.max_bytes = max_bytes
        self.clock = clock
        self.count_tokens = count_tokens or WordpieceCounter()  # runs in the child processes: picklable
        self.sandbox = Sandbox(max_seconds=max_seconds, max_memory_mb=max_memory_mb)
        # one owner may use all workers but one: another tenant's upload always finds a worker
        self._queue: FairQueue[Task] = FairQueue(max_per_owner=max(1, workers - 1))
        self._workers = workers
        self._threads: list[threading.Thread] = []  # started by the first task: an idle service holds none
        self._threads_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, db: Engine, *, index: IndexStore, embedder: TokenizingEmbedder,
                      make_annotator: Callable[[], Annotator | None]) -> ContentService:
        """The embedded service: records in the app database, files under data_dir, URLs under the public URL."""
        secret = signing.purpose_key(settings.resolved_signing_secret(), signing.CONTENT_UPLOADS)
        urls = UploadUrls(settings.resolved_public_url(), secret)
        return cls(ContentStore(db), open_object_store(settings), urls, index, embedder, make_annotator,
                   upload_ttl_seconds=settings.upload_url_ttl_seconds,
                   download_ttl_seconds=settings.download_url_ttl_seconds, workers=settings.content_workers,
                   max_seconds=settings.content_max_seconds, max_memory_mb=settings.content_max_memory_mb)

    # ---- records ---------------------------------------------------------------------------
    def create(self, owner: str, file_name: str, *, published_at: datetime | None = None,
               tag_names: Sequence[str] = (), share_with_org: bool = False) -> CreatedContent:
        """A pending record (tags created by name as needed) and its signed upload URL."""
        now = self.clock()
        tags = self.store.ensure_tags(owner, clean_tag_names(tag_names), now)
        record = ContentRecord(
            id=new_content_id(), owner=owner, file_name=file_name, status=ContentStatus.PENDING, created_at=now,
            updated_at=now, published_at=published_at.astimezone(UTC) if published_at else None,
            content_type=content_type_for(file_name), share_with_org=share_with_org, tags=tuple(tags),
        )
        self.store.create(record)
        expires = int((now + timedelta(seconds=self.upload_ttl_seconds)).timestamp())
        return CreatedContent(record, self.urls.url(record.id, expires))

    def fetch_owned(self, content_id: str, owner: str) -> ContentRecord:
        """The owner's record (ContentNotFoundError when missing or another owner's)."""
        return self.store.fetch_owned(content_id, owner)

    def list_records(self, owner: str, query: ListQuery) -> tuple[list[ContentRecord], int]:
        """One page of the owner's records and how many match in all."""
        return self.store.list_records(owner, query)

    def original_url(self, record: ContentRecord) -> str:
        """A presigned GET URL of the uploaded file (ConflictError while no file has arrived)."""
        if record.object_key is None:
            raise ConflictError(f"Document {record.id} has no file yet ({record.status.value}): "
                                "PUT the file to its upload URL first")
        expires = int((self.clock() + timedelta(seconds=self.download_ttl_seconds)).timestamp())
        return self.objects.presign("GET", record.object_key, expires)

    def update(self, record: ContentRecord, *, tag_ids: Sequence[str] | None = None,
               share_with_org: bool | None = None) -> ContentRecord:
        """Replace the tags (ids that must exist, else InvalidTagsError) and/or the sharing flag."""
        changes: dict[str, object] = {"updated_at": self.clock()}
        if share_with_org is not None:
            changes["share_with_org"] = share_with_org
        if tag_ids is not None:
            known = self.store.tags_by_id(record.owner, tag_ids)
            unknown = [tag_id for tag_id in dict.fromkeys(tag_ids) if tag_id not in known]
            if unknown:
                raise InvalidTagsError(
                    f"Unknown tag ids: {', '.join(unknown)}; create tags with POST /contents/v1/tags")
        self.store.update(record.id, changes, tag_ids)
        updated = self.store.fetch_owned(record.id, record.owner)
        if {t.name for t in updated.tags} != {t.name for t in record.tags} and updated.is_indexed:
            self._submit(self._reindex, record.id, record.owner)  # the search `tag` filter reads the indexed names
        return updated

    def delete(self, record: ContentRecord) -> None:
        """Remove the record, its file, and the document from search; stop its processing."""
        if not self.store.delete(record.id):
            raise ContentNotFoundError()
        self._queue.discard(record.id)
        self.sandbox.cancel(record.id)
        # Whatever `record` says (it may be stale: an upload may have landed and been indexed since it was
        # read), remove every file and the document. An upload or task still running finds the record
        # gone when it finishes and removes its own file or document.
        for key in self.objects.list_keys(_object_prefix(record.id)):
            self.objects.delete(key)
        self._unindex(record.id)

    # ---- tags ------------------------------------------------------------------------------
    def list_tags(self, owner: str) -> list[tuple[Tag, int]]:
        """The owner's tags with their file counts, by name."""
        return self.store.list_tags(owner)

    def create_tag(self, owner: str, name: str) -> Tag:
        """The owner's tag with this name, created unless it exists."""
        return self.store.ensure_tags(owner, clean_tag_names([name]), self.clock())[0]

    # ---- upload ----------------------------------------------------------------------------
    def receive_upload(self, content_id: str, chunks: Iterable[bytes], content_type: str | None) -> ContentRecord:
        """Store the file of a pending record and queue its processing (the URL was verified by the caller)."""
        record = self.store.get(content_id)
        if record is None:
            raise ContentNotFoundError()
        if record.status is not ContentStatus.PENDING:
            raise ConflictError(f"Document {content_id} was already uploaded ({record.status.value}); "
                                "upload URLs are single-use")
        key = _object_prefix(content_id) + uuid.uuid4().hex  # one key per attempt: a losing racer removes only its own
        try:
            size = self.objects.put_stream(key, chunks, max_bytes=self.max_bytes)
        except PayloadTooLargeError as exc:
            self._refuse(content_id, exc)
            raise
        now = self.clock()
        changes = {"object_key": key, "raw_size": size, "updated_at": now, "published_at": record.published_at or now,
                   "content_type": _media_type(content_type) or content_type_for(record.file_name)}
        try:
            record = self.store.transition(content_id, ContentStatus.PENDING, ContentStatus.PROCESSING, changes)
        except (ConflictError, ContentNotFoundError):
            self.objects.delete(key)
            raise
        self._submit(self.process, content_id, record.owner)
        return record

    def _refuse(self, content_id: str, exc: PayloadTooLargeError) -> None:
        """Fail a record whose upload was too large (unless something else happened to it meanwhile)."""
        changes = {"error_code": exc.error_code, "error": exc.message, "updated_at": self.clock()}
        try:
            self.store.transition(content_id, ContentStatus.PENDING, ContentStatus.FAILED, changes)
        except (ConflictError, ContentNotFoundError):
            pass

    # ---- processing (worker threads) -------------------------------------------------------
    def process(self, content_id: str) -> None:
        """Extract, annotate and index an uploaded file; completed or failed, never an exception."""
        record = self.store.get(content_id)
        if record is None or record.status is not ContentStatus.PROCESSING:
            return  # deleted, or already finished by an earlier run
        try:
            self._count_attempt(record)
            document = self._document(record)
        except PreparationCancelledError:
            return  # deleted (nothing to record), or the server stops (it resumes at the next start)
        except ContentFileError as exc:
            self._finish(content_id, ContentStatus.FAILED, exc.error_code, exc.message)
            return
        self._index(record.owner, document)
        if not self._finish(content_id, ContentStatus.COMPLETED, None, None):
            self._unindex(content_id)  # deleted while it was being indexed

    def resume(self) -> int:
        """Queue the records a stopped server left in processing; returns how many."""
        queued = 0
        for content_id in self.store.ids_with_status(ContentStatus.PROCESSING):
            record = self.store.get(content_id)
            if record is not None:
                self._submit(self.process, content_id, record.owner)
                queued += 1
        return queued

    def close(self, *, wait: bool = True, timeout: float = CLOSE_TIMEOUT_SECONDS) -> None:
        """Stop processing: queued tasks are dropped and running child processes killed (their records
        resume at the next start); with `wait`, wait at most `timeout` seconds for index writes in progress."""
        self._queue.close()
        self.sandbox.close()
        if wait:
            deadline = time.monotonic() + timeout
            with self._threads_lock:
                threads = list(self._threads)
            for thread in threads:
                if thread is not threading.current_thread():
                    thread.join(max(0.0, deadline - time.monotonic()))

    def _work(self) -> None:
        """One worker thread: tasks in turn until the queue closes."""
        while (item := self._queue.get()) is not None:
            content_id, task = item
            try:
                self._guarded(task, content_id)
            finally:
                self._queue.done(content_id)

    def _reindex(self, content_id: str) -> None:
        """Index a completed document again (its tags changed)."""
        record = self.store.get(content_id)
        if record is None or record.status is not ContentStatus.COMPLETED:
            return
        try:
            document = self._document(record)
        except PreparationCancelledError:
            return
        self._index(record.owner, document)
        if self.store.get(content_id) is None:
            self._unindex(content_id)  # deleted while it was being indexed

    def _count_attempt(self, record: ContentRecord) -> None:
        """Mark one more start of the record's processing; ProcessingAbandonedError after MAX_ATTEMPTS."""
        prefix = _object_prefix(record.id) + "attempt-"
        started = len(self.objects.list_keys(prefix))
        if started >= MAX_ATTEMPTS:
            raise ProcessingAbandonedError(
                f"Processing this file was interrupted {started} times (the server stopped while it ran); "
                "it is not tried again: split it into smaller files and upload them again")
        self.objects.put_stream(f"{prefix}{started + 1}", [b""])

    def _document(self, record: ContentRecord) -> ChunkedDocument:
        """The search document of an uploaded file, extracted and chunked in a child process (ContentFileError
        when its text cannot be extracted or a limit was passed, PreparationCancelledError when stopped)."""
        assert record.object_key is not None and record.published_at is not None
        job = PrepareJob(record.file_name, self.embedder.max_tokens, self.count_tokens)
        prepared = self.sandbox.prepare(record.id, job, self.objects.iter_bytes(record.object_key))
        current = self.store.get(record.id)  # the tags may have changed meanwhile
        if current is None:
            raise PreparationCancelledError()
        document = DocumentIn.model_validate({
            "id": record.id,
            "headline": prepared.title or record.file_name,
            "text": prepared.text,
            "timestamp": int(record.published_at.timestamp()),
            "source": MY_FILES_SOURCE,
            "document_type": {"type": prepared.document_type or "NEWS", "subtype": prepared.document_subtype},
            "category": "my_files",
            "tags": [tag.name for tag in current.tags],
        })
        return ChunkedDocument(document, prepared.spans)

    def _index(self, owner: str, document: ChunkedDocument) -> None:
        """Annotate and embed outside the index's writer lock (a long document holds up no other worker),
        then publish."""
        ingestor = self._ingestor(owner)
        ingestor.publish(ingestor.build([document]))

    def _ingestor(self, owner: str) -> Ingestor:
        return Ingestor(self.index, self.embedder, self.make_annotator(), owner=owner)

    def _unindex(self, content_id: str) -> None:
        Ingestor(self.index, self.embedder).delete({content_id})

    def _finish(self, content_id: str, status: ContentStatus, error_code: str | None, error: str | None) -> bool:
        """Leave processing for `status`; False when the record was deleted or changed meanwhile."""
        changes = {"error_code": error_code, "error": error, "updated_at": self.clock()}
        try:
            self.store.transition(content_id, ContentStatus.PROCESSING, status, changes)
        except (ConflictError, ContentNotFoundError):
            return False
        return True

    def _submit(self, task: Task, content_id: str, owner: str) -> None:
        if not self._queue.put(owner, content_id, task):  # closed: resume() picks processing records up later
            log.warning("content workers stopped; %s of %s not run", task.__name__, content_id)
            return
        with self._threads_lock:
            if not self._threads:
                self._threads = [threading.Thread(target=self._work, name=f"contents-{i}", daemon=True)
                                 for i in range(self._workers)]
                for thread in self._threads:
                    thread.start()

    def _guarded(self, task: Task, content_id: str) -> None:
        """Run a task; an unexpected error fails the record instead of escaping the thread."""
        try:
            task(content_id)
        except Exception as exc:
            log.exception("content task %s failed for %s", task.__name__, content_id)
            message = f"Processing failed unexpectedly ({type(exc).__name__}); upload the file again"
            try:
                self._finish(content_id, ContentStatus.FAILED, PROCESSING_ERROR, message)
            except Exception:  # e.g. the database is gone: the record stays processing and resumes later
                log.exception("could not record the failure of %s", content_id)
