"""API keys: created once, shown once, stored only as a SHA-256 hash (table created by batchsearch.migrations).

A key acts for a tenant (the `owner` column: the jobs and files its calls make belong to the tenant, not the key).
A revoked key stays listed, so its id and name keep explaining the tenant's history; it no longer authenticates.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    MetaData,
    Row,
    String,
    Table,
    insert,
    or_,
    select,
    update,
)

from batchsearch.errors import ConflictError, NotFoundError

metadata = MetaData()

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("owner", String(200), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("key_hint", String(8)),  # the key's last 4 characters (None for keys made before revision 0004)
    Column("revoked_at", DateTime(timezone=True)),
)

KEY_PREFIX = "bs_"
HINT_CHARS = 4


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id and the owner its data belongs to."""

    key_id: str
    owner: str
    name: str


@dataclass(frozen=True)
class KeyInfo:
    """A stored key as `keys list` shows it: never the key itself, only its last characters."""

    key_id: str
    name: str
    owner: str
    created_at: datetime
    key_hint: str | None
    revoked_at: datetime | None

    @property
    def is_revoked(self) -> bool:
        """Whether the key no longer authenticates."""
        return self.revoked_at is not None


def hash_key(key: str) -> str:
    """The stored form of a key (keys are random, so a plain SHA-256 is enough)."""
    return hashlib.sha256(key.encode()).hexdigest()


class KeyStore:
    """Creates, lists, revokes and checks API keys in the service database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(self, name: str, owner: str | None = None) -> tuple[Principal, str]:
        """Make a new key; returns its principal and the plain key, which is never stored.

        Without an owner the key gets a tenant of its own named after it: ConflictError when a key of that name
        or a tenant of that name exists (joining an existing tenant must be asked for by naming it)."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        principal = Principal(key_id=str(uuid.uuid4()), owner=owner or name, name=name)
        with self._engine.begin() as conn:
            if owner is None:
                taken = conn.execute(
                    select(api_keys.c.name, api_keys.c.owner).where(or_(api_keys.c.name == name, api_keys.c.owner == name))
                ).first()
                if taken is not None:
                    what = "a key" if taken.name == name else "a tenant"
                    raise ConflictError(f"{what} named {name!r} already exists: pass --tenant {taken.owner} to add "
                                        f"a key to that tenant, or choose another --name")
            conn.execute(
                insert(api_keys).values(
                    id=principal.key_id,
                    name=name,
                    owner=principal.owner,
                    key_hash=hash_key(key),
                    created_at=datetime.now(UTC),
                    key_hint=key[-HINT_CHARS:],
                )
            )
        return principal, key

    def list_keys(self) -> list[KeyInfo]:
        """Every key, revoked ones included, by tenant then creation time."""
        stmt = select(api_keys).order_by(api_keys.c.owner, api_keys.c.created_at, api_keys.c.id)
        with self._engine.connect() as conn:
            return [_info(row) for row in conn.execute(stmt)]

    def revoke(self, name_or_id: str) -> KeyInfo:
        """Revoke the key with this id, or the one key with this name (it stops authenticating at once; its
        tenant's jobs stay). NotFoundError when none matches, ConflictError when a name is ambiguous."""
        keys = self.list_keys()
        matches = [k for k in keys if k.key_id == name_or_id] or [k for k in keys if k.name == name_or_id]
        if not matches:
            raise NotFoundError(f"no API key has the id or name {name_or_id!r} (see `batchsearch keys list`)")
        active = [k for k in matches if not k.is_revoked]
        if len(active) > 1:
            ids = ", ".join(k.key_id for k in active)
            raise ConflictError(f"{len(active)} keys are named {name_or_id!r}: revoke one by its id ({ids})")
        if not active:
            return matches[0]  # already revoked: nothing changes
        with self._engine.begin() as conn:
            conn.execute(
                update(api_keys)
                .where(api_keys.c.id == active[0].key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
            )
            row = conn.execute(select(api_keys).where(api_keys.c.id == active[0].key_id)).one()
        return _info(row)

    def get_principal(self, key: str) -> Principal | None:
        """The principal for a plain key, or None when the key is unknown or revoked."""
        stmt = select(api_keys).where(api_keys.c.key_hash == hash_key(key), api_keys.c.revoked_at.is_(None))
        with self._engine.connect() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            return None
        return Principal(key_id=row.id, owner=row.owner, name=row.name)


def _info(row: Row[Any]) -> KeyInfo:
    """A KeyInfo from an api_keys row."""
    return KeyInfo(key_id=row.id, name=row.name, owner=row.owner, created_at=row.created_at, key_hint=row.key_hint,
                   revoked_at=row.revoked_at)
