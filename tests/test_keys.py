"""API keys: KeyStore on a fresh SQLite file and a fresh PostgreSQL database (shown once, stored hashed, a name or
tenant in use refused unless the tenant is named, list, revoke), the `keys` commands, and revocation over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from batch_servers import Server
from batchsearch.cli import app
from batchsearch.db import create_db_engine
from batchsearch.errors import ConflictError, NotFoundError
from batchsearch.keys import KEY_PREFIX, KeyStore, api_keys, hash_key

runner = CliRunner()


def test_a_created_key_finds_its_principal_and_only_its_hash_is_stored(database_url: str) -> None:
    engine = create_db_engine(database_url)
    store = KeyStore(engine)
    principal, key = store.create("ci", owner="acme")
    assert key.startswith(KEY_PREFIX) and (principal.owner, principal.name) == ("acme", "ci")
    assert store.get_principal(key) == principal
    assert store.get_principal(key + "x") is None
    assert store.create("alice")[0].owner == "alice"  # the name is the owner unless one is given
    with engine.connect() as conn:
        row = conn.execute(select(api_keys).where(api_keys.c.id == principal.key_id)).one()
    assert row.key_hash == hash_key(key) and key not in [str(value) for value in row]
    assert row.created_at is not None


def test_a_name_or_tenant_in_use_is_refused_unless_the_tenant_is_named(database_url: str) -> None:
    store = KeyStore(create_db_engine(database_url))
    first = store.create("a")[0]
    with pytest.raises(ConflictError, match="--tenant a"):
        store.create("a")  # before: a second key silently joined tenant a
    store.create("ci", owner="team")
    with pytest.raises(ConflictError, match="tenant named 'team'"):
        store.create("team")  # no key is named team, but the tenant exists
    second = store.create("a", owner="a")[0]  # naming the tenant joins it
    assert (second.owner, second.name) == ("a", "a") and second.key_id != first.key_id
    assert store.create("b", owner="a")[0].owner == "a"


def test_list_shows_keys_without_the_secret_and_revoke_stops_a_key_at_once(database_url: str) -> None:
    store = KeyStore(create_db_engine(database_url))
    ci, ci_key = store.create("ci", owner="acme")
    ops, ops_key = store.create("ops", owner="acme")
    listed = {info.key_id: info for info in store.list_keys()}
    assert set(listed) == {ci.key_id, ops.key_id}
    assert listed[ci.key_id].key_hint == ci_key[-4:] and not listed[ci.key_id].is_revoked
    revoked = store.revoke("ci")
    assert revoked.key_id == ci.key_id and revoked.is_revoked
    assert store.get_principal(ci_key) is None and store.get_principal(ops_key) == ops
    assert store.revoke(ci.key_id).is_revoked  # again: nothing changes
    with pytest.raises(NotFoundError):
        store.revoke("nobody")
    store.create("ops", owner="other")
    with pytest.raises(ConflictError, match="revoke one by its id"):
        store.revoke("ops")  # two active keys are named ops
    assert store.revoke(ops.key_id).key_id == ops.key_id and store.get_principal(ops_key) is None


def test_keys_cli_create_refusal_list_and_revoke(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path)]
    made = json.loads(runner.invoke(app, ["keys", "create", "--name", "a", *data, "--json"]).stdout)
    again = runner.invoke(app, ["keys", "create", "--name", "a", *data])
    assert again.exit_code == 1 and again.stdout == ""
    assert again.stderr.strip().startswith("error: a key named 'a' already exists: pass --tenant a")
    joined = json.loads(runner.invoke(app, ["keys", "create", "--name", "a", "--tenant", "a", *data, "--json"]).stdout)
    assert joined["tenant"] == made["tenant"] == "a"
    listing = runner.invoke(app, ["keys", "list", *data, "--json"])
    assert listing.exit_code == 0 and made["key"] not in listing.stdout and joined["key"] not in listing.stdout
    rows = json.loads(listing.stdout)
    assert [(r["id"], r["tenant"], r["key_hint"], r["revoked"]) for r in rows] == [
        (made["id"], "a", made["key"][-4:], False), (joined["id"], "a", joined["key"][-4:], False)]
    ambiguous = runner.invoke(app, ["keys", "revoke", "a", *data])
    assert ambiguous.exit_code == 1 and "revoke one by its id" in ambiguous.stderr
    revoked = runner.invoke(app, ["keys", "revoke", made["id"], *data])
    assert revoked.exit_code == 0 and made["id"] in revoked.stdout
    table = runner.invoke(app, ["keys", "list", *data]).stdout
    assert made["key"] not in table and f"...{made['key'][-4:]}" in table and "revoked" in table
    missing = runner.invoke(app, ["keys", "revoke", "nobody", *data])
    assert missing.exit_code == 1 and "no API key" in missing.stderr


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A real `serve`-like process (no worker: these tests only create and read jobs)."""
    running = Server(tmp_path, workers=0)
    yield running
    running.stop()


def cli_key(server: Server, *args: str) -> dict[str, object]:
    """`batchsearch keys create ... --json` on the server's database."""
    result = runner.invoke(app, ["keys", "create", *args, "--data-dir", str(server.data_dir), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_a_revoked_key_is_refused_on_its_next_request_and_its_jobs_stay(server: Server) -> None:
    ci, ops = cli_key(server, "--name", "ci", "--tenant", "acme"), cli_key(server, "--name", "ops", "--tenant", "acme")
    with httpx.Client(base_url=server.base_url, headers={"X-API-KEY": str(ci["key"])}, timeout=30) as http:
        created = http.post("/v1/search/batches")
        assert created.status_code == 200, created.text
        assert http.get("/v1/search/batches").status_code == 200
        revoked = runner.invoke(app, ["keys", "revoke", "ci", "--data-dir", str(server.data_dir)])
        assert revoked.exit_code == 0, revoked.output
        refused = http.get("/v1/search/batches")
        assert refused.status_code in (401, 403) and refused.json()["errorCode"] in ("UNAUTHENTICATED", "FORBIDDEN")
        assert http.post("/v1/search/batches").status_code in (401, 403)
    batch_id = created.json()["batch_id"]
    other = httpx.get(f"{server.base_url}/v1/search/batches/{batch_id}", headers={"X-API-KEY": str(ops["key"])})
    assert other.status_code == 200 and other.json()["batch_id"] == batch_id  # the tenant's job stays


def test_two_keys_of_one_tenant_with_the_same_idempotency_key_get_two_jobs(server: Server) -> None:
    keys = [cli_key(server, "--name", name, "--tenant", "acme")["key"] for name in ("ci", "ops")]
    ids = []
    for key in keys:
        created = httpx.post(f"{server.base_url}/v1/search/batches", timeout=30,
                             headers={"X-API-KEY": str(key), "Idempotency-Key": "nightly-2026-12-01"})
        assert created.status_code == 200, created.text
        ids.append(created.json()["batch_id"])
    retried = httpx.post(f"{server.base_url}/v1/search/batches", timeout=30,
                         headers={"X-API-KEY": str(keys[0]), "Idempotency-Key": "nightly-2026-12-01"})
    assert retried.json()["batch_id"] == ids[0]  # the same key still gets its own job back
    assert ids[0] != ids[1]
