"""Search and the knowledge graph: lookups against a running server, and `kg load` into the data folder."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from batchsearch.cli.common import (
    ApiKey,
    DataDir,
    JsonOut,
    Url,
    client_for,
    console,
    emit_json,
    settings_for,
    stdout,
    user_errors,
)

if TYPE_CHECKING:
    from batchsearch.kg import KnowledgeGraph, LoadReport

kg_app = typer.Typer(help="The knowledge graph: look up entity ids on a running server, load your own entities.",
                     no_args_is_help=True)
_SHOWN_ROWS = 50


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


@kg_app.command("load")
def kg_load(
    path: Annotated[Path, typer.Argument(help="CSV or JSONL file, one entity (or source) per row.", dir_okay=False)],
    sources: Annotated[bool, typer.Option("--sources", help="The rows are sources (publishers), not entities.")] = False,
    fmt: Annotated[str | None, typer.Option("--format", help="csv or jsonl (default: from the file name).")] = None,
    data_dir: DataDir = None,
    json_out: JsonOut = False,
) -> None:
    """Add your own companies (public or private), people, products or organisations to the data folder's graph.

    Ids are stable: loading the same row again updates the same entity. Bad rows are reported by row number
    and field; the rest loads. Ingest documents afterwards so detection and entity filters cover the new ones.
    """
    from batchsearch.kg import KnowledgeGraph, load_entities, load_sources

    settings = settings_for(data_dir)
    with user_errors():
        graph = KnowledgeGraph.open_or_build(settings.data_dir / "kg")
        report = (load_sources if sources else load_entities)(graph, path, fmt)
    rows = _loaded_rows(graph, report, sources)
    if json_out:
        emit_json({"loaded": report.loaded, "graph": str(graph.folder), "sources" if sources else "entities": rows,
                   "errors": [{"row": e.row, "field": e.field, "message": e.reason} for e in report.errors]})
        return
    for problem in report.errors[:_SHOWN_ROWS]:
        console.print(f"[yellow]skipped[/yellow] {escape(str(problem))}")
    if len(report.errors) > _SHOWN_ROWS:
        console.print(f"... and {len(report.errors) - _SHOWN_ROWS} more bad rows (all of them with --json)")
    if rows:
        table = Table(*rows[0].keys())
        for row in rows[:_SHOWN_ROWS]:
            table.add_row(*(escape(str(cell or "")) for cell in row.values()))
        stdout.print(table)
    what = "sources" if sources else "entities"
    stdout.print(f"loaded {report.loaded} {what} into {graph.folder}; {len(report.errors)} bad rows", markup=False)
    if report.loaded and not sources:
        stdout.print("ingest documents now (`batchsearch ingest FILE`) so their mentions of these entities are "
                     "detected; a running server sees the new entities without a restart", markup=False)


def _loaded_rows(graph: KnowledgeGraph, report: LoadReport, sources: bool) -> list[dict[str, Any]]:
    """id, name and kind of every record the load added or updated, in file order."""
    if sources:
        return [{"id": s.id, "name": s.name, "rank": s.rank}
                for s in (graph.get_source(i) for i in report.ids) if s is not None]
    return [{"id": e.id, "name": e.name, "category": e.category.value, "type": e.type}
            for e in graph.entities_by_ids(report.ids).values()]
