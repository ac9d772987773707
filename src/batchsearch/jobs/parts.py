"""Object keys of a batch job and its part files; planning which parts make the output; reading them (never writing
output: jobs/finalize.py is the only writer of output files)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta

from batchsearch.errors import InternalError
from batchsearch.jobs.model import Job
from batchsearch.jobs.states import JobStatus
from batchsearch.storage.protocol import ObjectStore

_PART_RE = re.compile(r"/parts/(\d{9})-(\d{9})\.jsonl$")


def job_prefix(job_id: str) -> str:
    """The prefix every file of a job (input, parts, output) is stored under."""
    return f"batches/{job_id}/"


def upload_key(job_id: str) -> str:
    """The key clients PUT the input file to (the presigned URL's key)."""
    return f"batches/{job_id}/input.jsonl"


def job_id_from_upload_key(key: str) -> str | None:
    """The job id an upload key belongs to, or None when `key` is not an upload key."""
    parts = key.split("/")
    if len(parts) == 3 and parts[0] == "batches" and parts[2] == "input.jsonl":
        return parts[1]
    return None


def stored_input_key(job_id: str, upload_id: str) -> str:
    """Where one upload attempt of the input is stored (unique, so that racing PUTs never mix)."""
    return f"batches/{job_id}/input-{upload_id}.jsonl"


def output_key(job_id: str, retries: int = 0) -> str:
    """Where the output file of a job is stored; every retry writes a new one (the earlier one is read meanwhile)."""
    return f"batches/{job_id}/output.jsonl" if retries == 0 else f"batches/{job_id}/output-retry-{retries}.jsonl"


def parts_prefix(job_id: str) -> str:
    """The prefix all part files of a job share."""
    return f"batches/{job_id}/parts/"


def part_key(job_id: str, first: int, last: int) -> str:
    """The part file holding the output of lines first..last (inclusive)."""
    return f"{parts_prefix(job_id)}{first:09d}-{last:09d}.jsonl"


def part_range(key: str) -> tuple[int, int] | None:
    """The (first, last) line range of a part key, or None for other keys."""
    match = _PART_RE.search(key)
    return (int(match.group(1)), int(match.group(2))) if match else None


def plan_chain(ranges: list[tuple[int, int]], upto: int) -> list[tuple[int, int]]:
    """Contiguous ranges covering lines 1..upto exactly once, preferring long parts (InternalError if impossible)."""
    by_first: dict[int, list[int]] = {}
    for first, last in ranges:
        if first <= last <= upto:
            by_first.setdefault(first, []).append(last)
    reachable_from: dict[int, int] = {upto + 1: upto + 1}
    for first in sorted(by_first, reverse=True):
        lasts = [last for last in sorted(by_first[first], reverse=True) if last + 1 in reachable_from]
        if lasts:
            reachable_from[first] = lasts[0]
    if upto > 0 and 1 not in reachable_from:
        raise InternalError(f"Part files do not cover lines 1..{upto}")
    chain, line = [], 1
    while line <= upto:
        chain.append((line, reachable_from[line]))
        line = reachable_from[line] + 1
    return chain


def job_part_ranges(objects: ObjectStore, job_id: str) -> list[tuple[int, int]]:
    """The line ranges of all part files a job has."""
    return [r for key in objects.list_keys(parts_prefix(job_id)) if (r := part_range(key)) is not None]


def discard_parts_after(objects: ObjectStore, job_id: str, line: int) -> None:
    """Delete part files that reach past the checkpoint (written but never checkpointed)."""
    for first, last in job_part_ranges(objects, job_id):
        if last > line:
            objects.delete(part_key(job_id, first, last))


def delete_parts(objects: ObjectStore, job_id: str) -> None:
    """Delete every part file of a job (after its output was assembled)."""
    for key in objects.list_keys(parts_prefix(job_id)):
        objects.delete(key)


def chain_bytes(objects: ObjectStore, job_id: str, upto: int) -> Iterator[bytes]:
    """The output lines 1..upto from the part files, in order (InternalError when parts are missing)."""
    chain = plan_chain(job_part_ranges(objects, job_id), upto)
    for first, last in chain:
        yield from objects.iter_bytes(part_key(job_id, first, last))


def skip_lines(chunks: Iterator[bytes], n: int) -> Iterator[bytes]:
    """The bytes of a stream after its first `n` lines."""
    for chunk in chunks:
        while n > 0 and chunk:
            newline = chunk.find(b"\n")
            if newline < 0:
                chunk = b""
            else:
                chunk, n = chunk[newline + 1 :], n - 1
        if n == 0 and chunk:
            yield chunk


def iter_finished_parts(objects: ObjectStore, job_id: str, upto: int, from_line: int) -> Iterator[bytes]:
    """Output lines from_line..upto from the part files, in order (NotFoundError once the parts were assembled)."""
    for first, last in plan_chain(job_part_ranges(objects, job_id), upto):
        if last < from_line:
            continue
        chunks = objects.iter_bytes(part_key(job_id, first, last))  # NotFoundError here once assembled
        yield from skip_lines(chunks, max(from_line - first, 0))


def iter_output(objects: ObjectStore, key: str, from_line: int) -> Iterator[bytes]:
    """The lines of an assembled output file from `from_line` on."""
    yield from skip_lines(objects.iter_bytes(key), from_line - 1)


def take_lines(chunks: Iterator[bytes], n: int) -> Iterator[bytes]:
    """The first `n` lines of a stream."""
    for chunk in chunks:
        if n <= 0:
            return
        count = chunk.count(b"\n")
        if count < n:
            n -= count
            yield chunk
            continue
        cut = -1
        for _ in range(n):
            cut = chunk.index(b"\n", cut + 1)
        yield chunk[: cut + 1]
        return


def download_url(objects: ObjectStore, job: Job, now: datetime, ttl_seconds: int) -> str | None:
    """A signed GET URL of the job's output once it has one to show: completed, or cancelled and written."""
    if job.output_key is None or job.output_pending or job.status not in (JobStatus.COMPLETED, JobStatus.CANCELLED):
        return None
    return objects.presign("GET", job.output_key, int((now + timedelta(seconds=ttl_seconds)).timestamp()))
