"""Extracting and chunking uploaded files in child processes, under a time and a memory limit.

An uploaded file is whatever a tenant sent: a 100 MB text without punctuation, a PDF that expands without end.
So the steps whose cost the file decides (extracting its text, choosing its chunks) run in a process of their
own, one per document, started from a fork server that has imported this module (a start costs milliseconds,
not an interpreter start-up). The parent streams the file's bytes into a pipe; the child limits its own address
space (RLIMIT_AS: what it has at start plus content_max_memory_mb), extracts, chunks, and answers with a
`Prepared`. A timer kills the child when content_max_seconds pass; `cancel` kills it when the document is
deleted, `close` kills every child at shutdown. A fresh process per document means nothing one file did
(a crash, a heap grown to the limit) outlives it, and there is no worker to replace after a kill.

Annotation, embedding and the index write stay in the API process (the index and the knowledge graph live
there); they take time proportional to the chunks, which chunking bounds.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any

from batchsearch.contents.errors import (
    ContentFileError,
    ProcessingCrashedError,
    ProcessingMemoryError,
    ProcessingTimeoutError,
)
from batchsearch.contents.extract import extract
from batchsearch.ingest.chunking import Span, TokenCounter
from batchsearch.ingest.pipeline import chunk_document

if TYPE_CHECKING:
    from multiprocessing.context import ForkServerContext, SpawnContext

log = logging.getLogger(__name__)

MEMORY_EXIT = 86  # the child's exit status when it ran out of memory before it could answer
_TIMEOUT, _CANCELLED = "timeout", "cancelled"


class PreparationCancelledError(Exception):
    """The child was stopped on purpose (the document was deleted, or the server is stopping)."""


@dataclass(frozen=True)
class PrepareJob:
    """What a child needs besides the file's bytes: the file name and how to count tokens for the chunk budget."""

    file_name: str
    max_tokens: int
    count: TokenCounter  # picklable: it is sent to the child


@dataclass(frozen=True)
class Prepared:
    """A child's answer: the extracted text and metadata, and the chunks chosen for it."""

    title: str | None
    text: str
    document_type: str | None
    document_subtype: str | None
    spans: list[Span]


class WordpieceCounter:
    """Wordpiece tokens of the packaged all-MiniLM-L6-v2 tokenizer (the one both encoders use); picklable,
    so a child process loads the tokenizer itself, once."""

    def __call__(self, texts: Sequence[str]) -> list[int]:
        encodings = _packaged_tokenizer().encode_batch(list(texts), add_special_tokens=False)
        return [len(encoding.ids) for encoding in encodings]


@cache
def _packaged_tokenizer() -> Any:
    from batchsearch.embeddings.model_files import load_tokenizer, packaged_model_dir

    return load_tokenizer(packaged_model_dir(), None)


def _context() -> ForkServerContext | SpawnContext:
    """A fork server where the platform has one (a fork of a clean process that imported this module), else spawn."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        return context
    return multiprocessing.get_context("spawn")


class Sandbox:
    """Runs PrepareJobs in child processes, one per content id at a time, and stops them on demand."""

    def __init__(self, *, max_seconds: float, max_memory_mb: int | None) -> None:
        self.max_seconds = max_seconds
        self.max_memory_mb = max_memory_mb
        self._context = _context()
        self._lock = threading.Lock()
        self._running: dict[str, BaseProcess] = {}
        self._reasons: dict[str, str] = {}  # why a child was killed on purpose
        self._closed = False

    def running(self) -> set[str]:
        """The content ids whose child process is running now."""
        with self._lock:
            return set(self._running)

    def prepare(self, content_id: str, job: PrepareJob, chunks: Iterable[bytes]) -> Prepared:
        """Extract and chunk a file in a child process: a ContentFileError says why the file failed,
        PreparationCancelledError that cancel() or close() stopped it."""
        ours, theirs = self._context.Pipe()
        process = self._context.Process(target=_child_main, args=(theirs, job, self.max_memory_mb), daemon=True,
                                        name=f"batchsearch-content-{content_id}")
        if self._closed:
            raise PreparationCancelledError()
        process.start()  # outside the lock: the first start also starts the fork server
        with self._lock:
            self._running[content_id] = process
            if self._closed:  # close() ran while it started
                self._reasons[content_id] = _CANCELLED
                process.kill()
        theirs.close()
        timer = threading.Timer(self.max_seconds, self._kill, (content_id, _TIMEOUT))
        timer.daemon = True
        timer.start()
        try:
            answer = _exchange(ours, chunks)
        finally:
            timer.cancel()
            ours.close()
            process.kill()  # a no-op when it has exited; the answer is in hand either way
            process.join()
            with self._lock:
                del self._running[content_id]
                reason = self._reasons.pop(content_id, None)
        return self._result(answer, reason, process.exitcode)

    def cancel(self, content_id: str) -> bool:
        """Kill the child of this content id, if one runs; True when one did."""
        return self._kill(content_id, _CANCELLED)

    def close(self) -> None:
        """Kill every child and refuse new jobs (their documents resume at the next start)."""
        with self._lock:
            self._closed = True
            ids = list(self._running)
        for content_id in ids:
            self._kill(content_id, _CANCELLED)

    def _kill(self, content_id: str, reason: str) -> bool:
        with self._lock:
            process = self._running.get(content_id)
            if process is None:
                return False
            self._reasons.setdefault(content_id, reason)
            process.kill()
        return True

    def _result(self, answer: tuple[Any, ...] | None, reason: str | None, exitcode: int | None) -> Prepared:
        """The child's answer (it wins over a kill that came after it), or the error that says why there is none."""
        if answer is not None and answer[0] == "ok":
            prepared: Prepared = answer[1]
            return prepared
        if answer is not None and answer[0] == "file":
            error_class: type[ContentFileError] = answer[1]
            raise error_class(answer[2])
        if answer is not None:  # "crash": a bug, not the file's fault; the traceback is the child's
            log.error("content processing failed in the child process:\n%s", answer[2])
            raise ProcessingCrashedError(f"Processing failed unexpectedly ({answer[1]}); upload the file again")
        if reason == _TIMEOUT:
            raise ProcessingTimeoutError(
                f"Processing this file took longer than the limit of {self.max_seconds:g} seconds; "
                "split it into smaller files and upload them again")
        if reason == _CANCELLED:
            raise PreparationCancelledError()
        if self.max_memory_mb is not None and exitcode in (MEMORY_EXIT, -signal.SIGABRT):
            raise ProcessingMemoryError(
                f"Processing this file needed more than the limit of {self.max_memory_mb} MiB of memory; "
                "split it into smaller files and upload them again")
        raise ProcessingCrashedError(
            f"The process that read this file stopped unexpectedly (exit status {exitcode}); upload the file again")


def _exchange(conn: Connection, chunks: Iterable[bytes]) -> tuple[Any, ...] | None:
    """Stream the file to the child and read its answer; None when the child died first."""
    try:
        for chunk in chunks:
            if chunk:
                conn.send_bytes(chunk)
        conn.send_bytes(b"")  # end of file
        answer: tuple[Any, ...] = conn.recv()
    except (EOFError, OSError):  # killed (timer, cancel, close), or it crashed
        return None
    return answer


# ---- the child ---------------------------------------------------------------------------------
def _child_main(conn: Connection, job: PrepareJob, max_memory_mb: int | None) -> None:
    """Entry point of a child: limit memory, read the file, extract and chunk it, answer once."""
    try:
        if max_memory_mb is not None:
            _limit_address_space(max_memory_mb)
        answer = _answer(conn, job)
        conn.send(answer)
    except MemoryError:
        os._exit(MEMORY_EXIT)  # nothing can be trusted to allocate any more: the parent reads the status
    finally:
        conn.close()


def _answer(conn: Connection, job: PrepareJob) -> tuple[Any, ...]:
    try:
        data = _receive(conn)
        extracted = extract(job.file_name, data)
        del data
        headline = extracted.title or job.file_name
        spans = chunk_document(headline, extracted.text, job.max_tokens, job.count)
        return "ok", Prepared(extracted.title, extracted.text, extracted.document_type, extracted.document_subtype,
                              spans)
    except ContentFileError as exc:
        return "file", type(exc), exc.message
    except MemoryError:
        raise
    except Exception as exc:
        return "crash", type(exc).__name__, traceback.format_exc()


def _receive(conn: Connection) -> bytes:
    parts = []
    while part := conn.recv_bytes():
        parts.append(part)
    return b"".join(parts)


def _limit_address_space(max_memory_mb: int) -> None:
    """Let the process grow by at most max_memory_mb beyond what it maps now (its interpreter and libraries)."""
    import resource

    import psutil  # type: ignore[import-untyped]

    limit = psutil.Process().memory_info().vms + max_memory_mb * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
