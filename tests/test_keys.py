"""KeyStore on a fresh SQLite file and a fresh PostgreSQL database: keys are shown once and stored hashed."""

from __future__ import annotations

from sqlalchemy import select

from batchsearch.db import create_db_engine
from batchsearch.keys import KEY_PREFIX, KeyStore, api_keys, hash_key


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
