"""One Settings object for the whole service, read from BATCHSEARCH_* environment variables.

Build it only in entrypoints (CLI, app factory callers) and pass it down explicitly.
"""

from __future__ import annotations

import ipaddress
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting of batchsearch; each field maps to the env var BATCHSEARCH_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="BATCHSEARCH_", extra="ignore")

    # --- storage locations ---
    data_dir: Path = Field(Path(".batchsearch"), description="Folder that holds the index, database and files.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the job/key database; default a SQLite file in data_dir."
    )
    object_store_url: str | None = Field(
        None, description="Where batch files and uploads live: file://FOLDER, or s3://BUCKET/PREFIX (needs the s3 "
        "extra); default file://<data_dir>/objects."
    )
    s3_endpoint_url: str | None = Field(
        None, description="Endpoint of an S3-compatible server for s3:// object stores; default AWS. Credentials "
        "come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION."
    )
    index_keep_generations: int = Field(
        3, ge=1, description="How many of the newest index generations garbage collection keeps (embedded or "
        "shared index), besides those unfinished batch jobs pinned."
    )

    # --- HTTP server ---
    host: str = Field("127.0.0.1", description="Address `batchsearch serve` binds to.")
    port: int = Field(8000, description="Port `batchsearch serve` listens on.")
    public_url: str | None = Field(
        None, description="Base URL clients reach the server at, used in signed URLs; default http://host:port."
    )
    signing_secret: SecretStr | None = Field(
        None, description="HMAC secret for signed upload/download URLs; default a random secret kept in data_dir."
    )
    search_threads: int = Field(2, ge=1, description="Threads that run synchronous searches for the API.")
    blas_threads: int | None = Field(
        None, ge=1, description="BLAS threads per process (numpy); default the library's. Set 1 when several "
        "busy processes share a small machine, and when serving searches (a batched search runs two threads of its "
        "own): oversubscribed BLAS threads slow everything down.")

    # --- embeddings ---
    embed_backend: Literal["auto", "numpy", "onnx"] = Field(
        "auto", description="Sentence encoder: onnx (ONNX Runtime, the onnx extra), numpy (no extra dependencies), "
        "or auto: onnx when onnxruntime is installed, else numpy. Both give the same vectors (cosine 0.99999).")
    embed_precision: Literal["auto", "fp32", "int8"] = Field(
        "auto", description="Weights of the ONNX encoder: int8 (dynamic quantisation: about 3x numpy's chunks/s, "
        "SciFact hybrid nDCG@10 as good as fp32), fp32 (the reference vectors), or auto: int8 for ONNX on cpu, fp32 "
        "for numpy and cuda. Embed queries with the precision the index was built with; re-ingest after a change.")
    embed_provider: Literal["cpu", "cuda"] = Field(
        "cpu", description="Where the ONNX encoder runs: cpu, or cuda (needs onnxruntime-gpu and a GPU; it fails "
        "at start otherwise). Vectors from either are interchangeable in one index.")
    embed_cache_dir: Path | None = Field(
        None, description="Folder where the ONNX encoder files are built (once, then verified and reused); default "
        "<data_dir>/models. Several data folders may share one.")

    # --- search ---
    fusion: Literal["rrf", "weighted"] = Field(
        "weighted", description="How lexical and dense candidates are fused: weighted (0.75 x cosine + 0.25 x BM25 / "
        "the query's best BM25) or rrf (reciprocal rank fusion).")
    index_auto_compact: bool = Field(True, description="Merge small index segments after each ingest (index/compact.py).")
    dense: Literal["auto", "exact"] = Field(
        "auto", description="Dense retrieval: auto (segments of 50,000 chunks or more are scored on int8 codes of "
        "their rotated vectors, written at publish, and the float32 rows that can still reach each query's top k are "
        "read and rescored exactly: recall@10 >= 0.98 of exact) or exact (every chunk's float32 vector scored in "
        "full: the reference).")
    query_timeout_seconds: float = Field(30.0, gt=0, description="Per-query deadline for batch lines (504 after).")

    # --- batch jobs ---
    workers: int = Field(1, ge=0, description="Worker processes `batchsearch serve` starts (0: API only).")
    executor: Literal["local", "processes", "ray"] = Field(
        "local", description="Where a worker runs batch lines: local (in the worker process), processes (in search "
        "processes beside it, each holding one engine on one CPU: the fastest on a large index with several CPUs), "
        "or ray (on the actors of the Ray cluster RAY_ADDRESS names, or of a local Ray instance when it is unset; "
        "the ray extra).")
    search_processes: int | None = Field(
        None, ge=1, description="With executor processes: search processes per worker; default one per CPU.")
    ray_actors: int | None = Field(
        None, ge=1, description="With executor ray: search actors per worker, each holding one engine and using one "
        "CPU; default every CPU of the Ray cluster.")
    upload_url_ttl_seconds: int = Field(3600, gt=0, description="Lifetime of a batch upload (PUT) URL.")
    download_url_ttl_seconds: int = Field(86400, gt=0, description="Lifetime of an output_file_url (GET).")
    batch_max_lines: int = Field(100_000, gt=0, description="Most lines one batch file may have.")
    batch_max_bytes: int = Field(256 * 1024 * 1024, gt=0, description="Largest batch file accepted, in bytes.")
    micro_batch_size: int = Field(
        256, gt=0, description="Lines a worker searches together in one pass. Larger passes search a large index "
        "faster (1M chunks, one worker: 256 lines 10-18% more lines/s than 128) and hold one chunk mask per "
        "distinct filter (a byte per chunk); smaller ones spread a job over more Ray actors and checkpoint more often.")
    lease_seconds: float = Field(30.0, gt=0, description="How long a worker's claim on a job lasts without heartbeat.")
    heartbeat_seconds: float = Field(5.0, gt=0, description="How often a worker renews its lease.")
    poll_seconds: float = Field(0.5, gt=0, description="How often an idle worker looks for work.")
    batch_max_attempts: int = Field(
        5, gt=0, description="Claims of one batch job (crashes included) before it is failed as broken."
    )
    eta_default_lines_per_second: float = Field(
        50.0, gt=0, description="Throughput assumed by estimated_completion_time before any worker measured one."
    )
    batch_idempotency_ttl_seconds: int = Field(
        86400, gt=0, description="How long an Idempotency-Key on batch create returns the same job."
    )
    batch_webhook_backoff_seconds: float = Field(
        10.0, gt=0, description="Wait before retrying a failed webhook delivery; doubles after each failure."
    )
    batch_webhook_max_backoff_seconds: float = Field(
        3600.0, gt=0, description="Longest wait between two webhook delivery attempts."
    )
    batch_webhook_give_up_seconds: float = Field(
        86400.0, gt=0, description="How long after a terminal state webhook deliveries are retried before giving up."
    )
    batch_webhook_timeout_seconds: float = Field(10.0, gt=0, description="Timeout of one webhook delivery request.")
    batch_retention_days: float = Field(
        30.0, gt=0, description="Days after a batch job finishes before workers delete its input and output files."
    )

    batch_webhook_allowed_networks: list[str] = Field(
        [], description="Networks (CIDR, e.g. 10.0.0.0/8 or 127.0.0.1/32) webhooks may be delivered to although "
        "they are loopback, private, link-local or reserved; by default webhooks go to public addresses only.")
    batch_webhook_concurrency: int = Field(8, ge=1, description="Webhook deliveries a worker sends at once.")
    batch_webhook_max_attempts: int = Field(
        10, ge=1, description="Delivery attempts of one webhook before it is given up (also bounded by give_up_seconds).")

    # --- content processing (own-content uploads) ---
    content_workers: int = Field(
        2, ge=1, description="Processes that extract and chunk uploaded documents (shared fairly by all keys).")
    content_max_seconds: float = Field(
        300.0, gt=0, description="Longest one document may take to extract and chunk before it is failed.")
    content_max_memory_mb: int = Field(
        1024, ge=64, description="Memory (address space) one document's extraction process may grow by before it "
        "is failed, in MiB.")

    # --- uploads and HTTP limits ---
    upload_max_concurrent_per_key: int = Field(
        4, ge=1, description="Uploads (batch files, documents) one API key may stream at once; more get 429.")
    upload_max_concurrent_per_url: int = Field(
        1, ge=1, description="Uploads to one signed URL at once; more get 409.")
    max_request_header_bytes: int = Field(
        65536, ge=4096, description="Largest request line plus headers the server accepts (431 beyond).")

    # --- quotas (per API key, answered with 429 and Retry-After) ---
    quota_active_jobs: int = Field(
        200, ge=1, description="Batch jobs one tenant (all its API keys) may have pending, queued or processing at once.")
    quota_queued_lines: int = Field(
        2_000_000, ge=1, description="Input lines one tenant (all its API keys) may have waiting or running in batch jobs at once.")
    rate_search_per_second: float = Field(
        50.0, gt=0, description="Sustained search requests per second per API key (each API process).")
    rate_search_burst: int = Field(100, ge=1, description="Search requests one API key may send in a burst.")
    rate_poll_per_second: float = Field(
        50.0, gt=0, description="Sustained batch status/list requests per second per API key (each API process).")
    rate_poll_burst: int = Field(100, ge=1, description="Batch status/list requests one API key may send in a burst.")

    # --- observability ---
    log_format: Literal["text", "json"] = Field(
        "text", description="Log lines as text, or json (one object per line, with request id, key name, batch id).")
    metrics_enabled: bool = Field(True, description="Serve Prometheus metrics at GET /metrics.")

    @field_validator("batch_webhook_allowed_networks")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        """Every allowlisted network is a CIDR network (refused at start, not at the first delivery)."""
        for value in values:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError as exc:
                raise ValueError(f"{value!r} is not a CIDR network such as 10.0.0.0/8 or 127.0.0.1/32") from exc
        return values

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file inside data_dir."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'batchsearch.db').resolve()}"

    def resolved_object_store_url(self) -> str:
        """The object store URL, defaulting to a folder inside data_dir."""
        return self.object_store_url or f"file://{(self.data_dir / 'objects').resolve()}"

    def resolved_public_url(self) -> str:
        """The base URL used when signing URLs for clients."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def resolved_signing_secret(self) -> bytes:
        """The signing secret: the configured one, else one generated once and kept in data_dir."""
        if self.signing_secret is not None:
            return self.signing_secret.get_secret_value().encode()
        path = self.data_dir / "signing.secret"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(secrets.token_hex(32))
            tmp.chmod(0o600)
            tmp.replace(path)
        return path.read_text().strip().encode()
