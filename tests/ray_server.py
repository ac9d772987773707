"""A real local Ray cluster for tests: `ray start --head` on 127.0.0.1 with 2 CPUs, stopped by its process group.

Fixture (registered for every test by conftest.py's pytest_plugins):
- `ray_cluster` (session): starts the head with token authentication on a free port and yields the environment
  a client process needs (RAY_ADDRESS, the token and the loopback/no-telemetry switches). When CI is set, a
  missing `ray` fails the run instead of skipping it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from batch_servers import free_port

START_TIMEOUT = 60
STOP_TIMEOUT = 15
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token"}


def ray_cli() -> Path | None:
    """The `ray` command of this interpreter's environment (None: the ray extra is not installed)."""
    try:
        import ray  # noqa: F401
    except ImportError:
        return None
    found = Path(sys.executable).with_name("ray")
    return found if found.is_file() else None


class RayHead:
    """`ray start --head --block` in its own session (so stopping it stops every process it started)."""

    def __init__(self, cli: Path, num_cpus: int = 2) -> None:
        self.port = free_port()
        self.temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's socket paths must fit
        self.client_env = LOOPBACK_ENV | {"RAY_ADDRESS": f"127.0.0.1:{self.port}",
                                          "RAY_AUTH_TOKEN": secrets.token_hex(32)}
        env = {**os.environ, **self.client_env}
        env.pop("RAY_ADDRESS")
        self.log = open(Path(self.temp_dir) / "head.log", "wb")
        self.process = subprocess.Popen(
            [str(cli), "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={self.port}",
             f"--num-cpus={num_cpus}", "--include-dashboard=false", "--disable-usage-stats",
             f"--temp-dir={self.temp_dir}"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        """Until a client can connect and sees the head's CPUs."""
        probe = "import ray; ray.init(); print(int(ray.cluster_resources().get('CPU', 0)))"
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ray head exited: {(Path(self.temp_dir) / 'head.log').read_text()[-3000:]}")
            done = subprocess.run([sys.executable, "-c", probe], env={**os.environ, **self.client_env},
                                  capture_output=True, text=True, timeout=START_TIMEOUT, check=False)
            if done.returncode == 0 and done.stdout.strip().splitlines()[-1:] != ["0"]:
                return
            time.sleep(1)
        raise TimeoutError("the ray head did not start")

    def stop(self) -> None:
        """SIGTERM the head's process group, then SIGKILL whatever is left."""
        for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
        self.log.close()
        shutil.rmtree(self.temp_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[dict[str, str]]:
    """A local Ray cluster of 2 CPUs on loopback; yields the client environment."""
    cli = ray_cli()
    if cli is None:
        message = "the ray extra is not installed (pip install 'batchsearch[ray]')"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    head = RayHead(cli)
    yield head.client_env
    head.stop()
