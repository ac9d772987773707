"""Fetch a document (spec 4.7): `GET /v1/documents/{id}` gives a signed URL, and the URL serves the annotated JSON
(documents.annotated) of the document as the index holds it, with no API key, until it expires."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from batchsearch.api.deps import CurrentPrincipal
from batchsearch.config import Settings
from batchsearch.documents import DocumentUrls, IndexedDocument, annotated_document, find_document
from batchsearch.errors import NotFoundError
from batchsearch.search.engine import SearchEngine

router = APIRouter(tags=["Documents"])

MAX_ID_CHARS = 128  # the longest document id ingestion accepts
DocumentId = Annotated[str, Path(min_length=1, max_length=MAX_ID_CHARS, description="The document's id.")]
Expires = Annotated[str | None, Query(description="Unix time the URL expires at.")]
Signature = Annotated[str | None, Query(description="HMAC-SHA256 of method, document and expiry.")]
BlockType = Literal["HEADING", "TEXT", "TABLE", "LIST_ORDERED", "LIST_UNORDERED"]


# ---- wire models -----------------------------------------------------------------------------
class DocumentLink(BaseModel):
    """Where to GET the annotated JSON (no API key, expires after download_url_ttl_seconds)."""

    url: str
    web_content: bool = Field(description="Always false: every document comes from the index, none from the web.")


class ContentBlock(BaseModel):
    """One block of the body: its type, the chunk it comes from and its span in that chunk's text."""

    type: BlockType
    cnum: int
    start: int
    end: int
    text: str | None = Field(None, description="HEADING and TEXT blocks.")
    items: list[str] | None = Field(None, description="LIST_ORDERED and LIST_UNORDERED blocks, markers removed.")
    rows: list[list[str]] | None = Field(None, description="TABLE blocks: cells of each row.")


class TitleBlock(BaseModel):
    """The document's headline."""

    type: Literal["HEADING"]
    text: str


class DocumentContent(BaseModel):
    """The title and the body blocks, in document order."""

    title: TitleBlock | None
    body: list[ContentBlock]


class Mention(BaseModel):
    """Where an entity or topic was detected: chunk, span and surface text."""

    cnum: int
    start: int
    end: int
    text: str


class Detected(BaseModel):
    """An entity (or topic) id with its mentions."""

    id: str
    count: int
    chunks: list[int]
    mentions: list[Mention]


class ChunkSentiment(BaseModel):
    """The sentiment of one chunk, -1..1."""

    cnum: int
    sentiment: float


class SentimentAnalytics(BaseModel):
    """Document sentiment (when the document has one) and the sentiment of each chunk."""

    document: float | None
    chunks: list[ChunkSentiment]


class Analytics(BaseModel):
    """Entities and topics detected in the chunks, and sentiment."""

    entities: list[Detected]
    topics: list[Detected]
    sentiment: SentimentAnalytics


class Profiling(BaseModel):
    """Sizes: chunks, characters, words and blocks by type."""

    chunks: int
    characters: int
    words: int
    blocks: dict[str, int]


class AnnotatedDocument(BaseModel):
    """The annotated JSON: metadata (as in search results, plus chunk_count), content, profiling, analytics."""

    document: dict[str, Any]
    content: DocumentContent
    profiling: Profiling
    analytics: Analytics


# ---- helpers shared with the content routes --------------------------------------------------
def document_urls(request: Request) -> DocumentUrls:
    """The signer of annotated-document URLs, under the service's public URL."""
    settings: Settings = request.app.state.settings
    return DocumentUrls(settings.resolved_public_url(), settings.resolved_signing_secret())


def signed_document_url(request: Request, document_id: str) -> str:
    """A download URL of the document's annotated JSON, valid for download_url_ttl_seconds."""
    settings: Settings = request.app.state.settings
    return document_urls(request).url(document_id, int(time.time()) + settings.download_url_ttl_seconds)


async def fetch_visible_document(request: Request, document_id: str, owner: str | None, *,
                                 any_owner: bool = False) -> IndexedDocument:
    """The document as the newest index snapshot holds it; NotFoundError when missing or not the owner's to see."""
    engine: SearchEngine = request.app.state.engine
    found = await anyio.to_thread.run_sync(
        lambda: find_document(engine.snapshot(), document_id, owner, any_owner=any_owner))
    if found is None:
        raise NotFoundError("Document not found")
    return found


# ---- routes ----------------------------------------------------------------------------------
@router.get("/v1/documents/{document_id}", summary="Fetch a document", response_model=DocumentLink)
async def get_document(document_id: DocumentId, request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
    """A signed URL to the document's annotated JSON; 404 unless the document is public or the caller's own."""
    await fetch_visible_document(request, document_id, principal.owner)
    return {"url": signed_document_url(request, document_id), "web_content": False}


@router.get("/v1/documents/{document_id}/annotated", summary="Download an annotated document (signed URL)",
            response_model=AnnotatedDocument, responses={403: {"description": "Tampered or expired URL."}})
async def download_annotated(document_id: DocumentId, request: Request, expires: Expires = None,
                             signature: Signature = None) -> JSONResponse:
    """The annotated JSON (no API key: the signature is the access); 404 once the document left the index."""
    document_urls(request).verify(document_id, expires, signature, time.time())
    document = await fetch_visible_document(request, document_id, None, any_owner=True)
    return JSONResponse(annotated_document(document))
