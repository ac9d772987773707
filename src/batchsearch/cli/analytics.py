"""Search analytics and documents on a running server: `volume`, `co-mentions entities|topics`, `documents get`."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from batchsearch.cli.common import ApiKey, JsonOut, Url, client_for, emit_json, stdout, user_errors
from batchsearch.cli.search import search_query

co_mentions_app = typer.Typer(help="Entities and topics mentioned in the chunks a query matches, most mentioned first.",
                              no_args_is_help=True)
documents_app = typer.Typer(help="Whole documents of the corpus by id.", no_args_is_help=True)

Text = Annotated[str | None, typer.Argument(help="Words every matching chunk (or its headline) contains (optional).")]
Entity = Annotated[list[str] | None, typer.Option("--entity", help="Entity id the chunk must mention (repeat: any of).")]
Since = Annotated[str | None, typer.Option("--since", help="Published at or after (ISO date or date-time).")]
Until = Annotated[str | None, typer.Option("--until", help="Published at or before (ISO date or date-time).")]
Source = Annotated[list[str] | None, typer.Option("--source", help="Source id to keep (repeat: any of).")]
Limit = Annotated[int | None, typer.Option("--limit", min=1, max=1000, help="Most items (per category); default 10.")]


def analytics_query(text: str | None, entity: list[str] | None, since: str | None, until: str | None,
                    source: list[str] | None) -> dict[str, Any]:
    """The `query` object the options describe: the search options without max_chunks."""
    query = search_query(text, entity, since, until, source, 1)
    del query["max_chunks"]
    return query


def volume(text: Text = None, entity: Entity = None, since: Since = None, until: Until = None, source: Source = None,
           url: Url = None, api_key: ApiKey = None, json_out: JsonOut = False) -> None:
    """Daily documents, chunks and mean sentiment of what a query matches (POST /v1/search/volume)."""
    with user_errors(), client_for(url, api_key) as client:
        response = client.volume(analytics_query(text, entity, since, until, source))
    if json_out:
        emit_json(response)
        return
    results = response["results"]
    table = Table("date", "documents", "chunks", "sentiment")
    for day in results["volume"]:
        if day["chunks"]:
            table.add_row(day["date"], str(day["documents"]), str(day["chunks"]), f"{day['sentiment']:+.2f}")
    if table.row_count:
        stdout.print(table)
    total = results["total"]
    stdout.print(f"{total['documents']} documents, {total['chunks']} chunks, mean sentiment {total['sentiment']:+.2f} "
                 f"over {len(results['volume'])} days", markup=False)


@co_mentions_app.command("entities")
def co_mentioned_entities(
    text: Text = None, entity: Entity = None, since: Since = None, until: Until = None, source: Source = None,
    category: Annotated[list[str] | None, typer.Option(
        "--category", help="companies, people, places, organizations, products or concepts (repeat; default all).")] = None,
    limit: Limit = None, url: Url = None, api_key: ApiKey = None, json_out: JsonOut = False,
) -> None:
    """Entities mentioned in the matching chunks, by category (POST /v1/search/co-mentions/entities)."""
    query = analytics_query(text, entity, since, until, source)
    if category:
        query["entity_categories"] = category
    with user_errors(), client_for(url, api_key) as client:
        response = client.co_mentions.entities(query, limit=limit)
    if json_out:
        emit_json(response)
        return
    table = Table("category", "id", "name", "chunks", "headlines")
    for name, items in response["results"].items():
        for item in items:
            table.add_row(name, item["id"], escape(str(item.get("name") or "")), str(item["total_chunks_count"]),
                          str(item["total_headlines_count"]))
    stdout.print(table if table.row_count else "no entities")


@co_mentions_app.command("topics")
def co_mentioned_topics(
    text: Text = None, entity: Entity = None, since: Since = None, until: Until = None, source: Source = None,
    limit: Limit = None, url: Url = None, api_key: ApiKey = None, json_out: JsonOut = False,
) -> None:
    """Topics of the matching chunks (POST /v1/search/co-mentions/topics)."""
    with user_errors(), client_for(url, api_key) as client:
        response = client.co_mentions.topics(analytics_query(text, entity, since, until, source), limit=limit)
    if json_out:
        emit_json(response)
        return
    table = Table("id", "name", "chunks", "headlines")
    for item in response["results"]["topics"]:
        table.add_row(escape(item["id"]), escape(item["name"]), str(item.get("total_chunks_count", "")),
                      str(item.get("total_headlines_count", "")))
    stdout.print(table if table.row_count else "no topics")


@documents_app.command("get")
def get_document(
    document_id: Annotated[str, typer.Argument(help="The 32-hex document id (`id` of a search result).")],
    url: Url = None, api_key: ApiKey = None,
) -> None:
    """Print a document's annotated JSON (GET /v1/documents/{id}, then its signed URL)."""
    with user_errors(), client_for(url, api_key) as client:
        emit_json(client.documents.get(document_id))
