"""Retention: deleting the files of jobs that finished longer ago than the retention period."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from batchsearch.jobs import parts
from batchsearch.jobs.model import Job, JobStore
from batchsearch.storage.protocol import ObjectStore

log = logging.getLogger(__name__)
PURGE_BATCH = 100


def delete_job_files(objects: ObjectStore, job_id: str) -> None:
    """Delete the input, part and output files of a job."""
    for key in objects.list_keys(parts.job_prefix(job_id)):
        objects.delete(key)


def purge_expired(jobs: JobStore, objects: ObjectStore, now: datetime, retention_days: float) -> int:
    """Delete the files of terminal jobs completed more than `retention_days` ago; return how many jobs."""
    purged = 0
    for job in jobs.jobs_to_purge(now - timedelta(days=retention_days), PURGE_BATCH):
        if purge_job(jobs, objects, job, now):
            purged += 1
    return purged


def purge_job(jobs: JobStore, objects: ObjectStore, job: Job, now: datetime) -> bool:
    """Delete one job's files and record it (the record stays, with no output URL)."""
    delete_job_files(objects, job.id)
    marked = jobs.update_fields(job.id, job.status, {"files_deleted_at": now, "output_key": None})
    if marked:
        log.info("deleted the files of batch job %s (retention)", job.id)
    return marked
