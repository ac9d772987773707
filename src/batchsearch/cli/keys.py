"""`batchsearch keys`: create, list and revoke the API keys in the service database."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from batchsearch.cli.common import (
    DataDir,
    JsonOut,
    database_errors,
    emit_json,
    settings_for,
    stdout,
    user_errors,
)

if TYPE_CHECKING:
    from batchsearch.keys import KeyInfo, KeyStore

keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)


def key_store(data_dir: Path | None) -> tuple[KeyStore, str]:
    """The key store of the configured database (upgraded to the newest schema), and its URL."""
    from batchsearch.db import create_db_engine
    from batchsearch.keys import KeyStore

    url = settings_for(data_dir).resolved_database_url()
    with database_errors(url):
        return KeyStore(create_db_engine(url)), url


def key_json(info: KeyInfo) -> dict[str, object]:
    """A key as `keys list --json` prints it (never the key: only its last characters)."""
    return {"id": info.key_id, "name": info.name, "tenant": info.owner, "created_at": info.created_at.isoformat(),
            "key_hint": info.key_hint, "revoked": info.is_revoked,
            "revoked_at": info.revoked_at.isoformat() if info.revoked_at else None}


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option("--name", help="A label for the key; also its tenant unless --tenant.")],
    tenant: Annotated[str | None, typer.Option("--tenant", help="The tenant the key acts for (its jobs and files); "
                                               "required to add a key to an existing tenant.")] = None,
    data_dir: DataDir = None,
    json_out: JsonOut = False,
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    store, url = key_store(data_dir)
    with user_errors(), database_errors(url):
        principal, key = store.create(name, tenant)
    if json_out:
        emit_json({"key": key, "id": principal.key_id, "name": name, "tenant": principal.owner})
    else:
        print(key)


@keys_app.command("list")
def keys_list(data_dir: DataDir = None, json_out: JsonOut = False) -> None:
    """List the API keys (id, name, tenant, created, last characters, revoked); never the keys themselves."""
    store, url = key_store(data_dir)
    with database_errors(url):
        keys = store.list_keys()
    if json_out:
        emit_json([key_json(info) for info in keys])
        return
    if not keys:
        stdout.print("no API keys: make one with `batchsearch keys create --name NAME`", markup=False, highlight=False)
        return
    for info in keys:  # one line per key, the id first and whole so it can be copied into `keys revoke`
        hint = f"...{info.key_hint}" if info.key_hint else "-"
        revoked = f"revoked {info.revoked_at:%Y-%m-%d %H:%M}" if info.revoked_at else "active"
        stdout.print(f"{info.key_id}  {info.name:<16} tenant {info.owner:<16} {hint:<8} "
                     f"created {info.created_at:%Y-%m-%d %H:%M}  {revoked}", markup=False, highlight=False)


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(help="The key's id, or its name when only one active key has it.")],
    data_dir: DataDir = None,
    json_out: JsonOut = False,
) -> None:
    """Revoke an API key: it is refused from the next request on; its tenant's jobs and files stay."""
    store, url = key_store(data_dir)
    with user_errors(), database_errors(url):
        info = store.revoke(key)
    if json_out:
        emit_json(key_json(info))
    else:
        stdout.print(f"revoked key {info.key_id} ({info.name}, tenant {info.owner})", markup=False, highlight=False)
