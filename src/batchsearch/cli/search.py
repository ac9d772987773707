"""Lookups against a running server: search and the knowledge graph's companies."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from batchsearch.cli.common import (
    ApiKey,
    JsonOut,
    Url,
    client_for,
    emit_json,
    stdout,
    user_errors,
)

kg_app = typer.Typer(help="Look up entity ids in the knowledge graph of a running server.", no_args_is_help=True)


def search(
    text: Annotated[str | None, typer.Argument(help="What to search for (optional when filters are given).")] = None,
    entity: Annotated[list[str] | None, typer.Option("--entity", help="Entity id the chunk must mention (repeat: any of).")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Published at or after (ISO date or date-time).")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Published at or before (ISO date or date-time).")] = None,
    source: Annotated[list[str] | None, typer.Option("--source", help="Source id to keep (repeat: any of).")] = None,
    max_chunks: Annotated[int, typer.Option("--max-chunks", help="Most chunks to return (1-1000).")] = 10,
    url: Url = None,
    api_key: ApiKey = None,
    json_out: JsonOut = False,
) -> None:
    """Search a running server (POST /v1/search) and print the hits."""
    query = search_query(text, entity, since, until, source, max_chunks)
    with user_errors(), client_for(url, api_key) as client:
        response = client.search(query)
    if json_out:
        emit_json(response)
    else:
        print_hits(response)


def search_query(text: str | None, entity: list[str] | None, since: str | None, until: str | None,
                 source: list[str] | None, max_chunks: int) -> dict[str, Any]:
    """The `query` object the search options describe."""
    filters: dict[str, Any] = {}
    if entity:
        filters["entity"] = {"any_of": entity}
    if since or until:
        filters["timestamp"] = {k: v for k, v in (("start", since), ("end", until)) if v}
    if source:
        filters["source"] = {"mode": "INCLUDE", "values": source}
    query: dict[str, Any] = {"max_chunks": max_chunks}
    if text:
        query["text"] = text
    if filters:
        query["filters"] = filters
    return query


def print_hits(response: dict[str, Any]) -> None:
    """The documents of a search response as a table, best first, with their best chunk."""
    results = response.get("results") or []
    if not results:
        stdout.print("no results")
        return
    table = Table(show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("relevance", justify="right")
    table.add_column("published")
    table.add_column("source")
    table.add_column("document")
    for rank, doc in enumerate(results, start=1):
        best = (doc.get("chunks") or [{}])[0]  # a document's chunks come best first
        snippet = " ".join(str(best.get("text", "")).split())[:240]
        table.add_row(str(rank), f"{best.get('relevance', 0):.3f}", escape(str(doc.get("timestamp", ""))[:10]),
                      escape(str((doc.get("source") or {}).get("name", ""))),
                      f"[bold]{escape(str(doc.get('headline', '')))}[/bold]\n{escape(snippet)}")
    stdout.print(table)
    units = (response.get("usage") or {}).get("api_query_units")
    stdout.print(f"{len(results)} documents, {sum(len(d.get('chunks') or []) for d in results)} chunks; "
                 f"{units} query units; request {(response.get('metadata') or {}).get('request_id')}")


@kg_app.command("companies")
def kg_companies(
    name: Annotated[str, typer.Argument(help="Part of a name, a ticker, an ISIN, CUSIP or SEDOL.")],
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="Most companies to list.")] = 10,
    url: Url = None,
    api_key: ApiKey = None,
    json_out: JsonOut = False,
) -> None:
    """Find companies and their entity ids (for `search --entity`)."""
    with user_errors(), client_for(url, api_key) as client:
        found = client.kg.find_companies(name, limit=limit)
    if json_out:
        emit_json(found)
        return
    if not found:
        stdout.print(f"no company matches {name!r}", markup=False)
        return
    table = Table("id", "name", "type", "country", "sector", "listings")
    for company in found:
        cells = (company["id"], company.get("name"), company.get("type"), company.get("country"), company.get("sector"),
                 ", ".join(company.get("listing_values") or [])[:40])
        table.add_row(*(escape(str(cell or "")) for cell in cells))
    stdout.print(table)
