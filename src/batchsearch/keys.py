"""API keys: created once, shown once, stored only as a SHA-256 hash (table created by batchsearch.migrations)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Engine, MetaData, String, Table, insert, select

metadata = MetaData()

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("owner", String(200), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

KEY_PREFIX = "bs_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id and the owner its data belongs to."""

    key_id: str
    owner: str
    name: str


def hash_key(key: str) -> str:
    """The stored form of a key (keys are random, so a plain SHA-256 is enough)."""
    return hashlib.sha256(key.encode()).hexdigest()


class KeyStore:
    """Creates and checks API keys in the service database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(self, name: str, owner: str | None = None) -> tuple[Principal, str]:
        """Make a new key; returns its principal and the plain key, which is never stored."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        principal = Principal(key_id=str(uuid.uuid4()), owner=owner or name, name=name)
        with self._engine.begin() as conn:
            conn.execute(
                insert(api_keys).values(
                    id=principal.key_id,
                    name=name,
                    owner=principal.owner,
                    key_hash=hash_key(key),
                    created_at=datetime.now(UTC),
                )
            )
        return principal, key

    def get_principal(self, key: str) -> Principal | None:
        """The principal for a plain key, or None when the key is unknown."""
        with self._engine.connect() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.key_hash == hash_key(key))).first()
        if row is None:
            return None
        return Principal(key_id=row.id, owner=row.owner, name=row.name)
