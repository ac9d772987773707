"""The `batchsearch` command line: thin wrappers over the library and the SDK.

This module is the command table: top-level commands and groups are registered here, in the order `--help` lists them.
"""

from __future__ import annotations

import typer

from batchsearch.cli import analytics, batch, keys, local, search, server
from batchsearch.cli.batch import BatchView
from batchsearch.cli.search import search_query

__all__ = ["BatchView", "app", "main", "search_query"]

app = typer.Typer(help="batchsearch: hybrid search and Batch Search over financial documents.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
app.command()(local.ingest)
app.command("eval")(local.eval_command)
app.command()(server.serve)
app.command()(server.worker)
app.command()(local.demo)
app.command()(search.search)
app.command()(analytics.volume)
app.add_typer(keys.keys_app, name="keys")
app.add_typer(batch.batch_app, name="batch")
app.add_typer(search.kg_app, name="kg")
app.add_typer(analytics.co_mentions_app, name="co-mentions")
app.add_typer(analytics.documents_app, name="documents")
app.add_typer(local.corpus_app, name="corpus")
app.add_typer(server.db_app, name="db")
app.add_typer(server.index_app, name="index")


def main() -> None:
    """Entry point."""
    app()
