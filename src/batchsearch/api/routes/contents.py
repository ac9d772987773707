"""Your own content (spec section 6): upload slots, the signed upload, records, tags.

Uploaded files are searchable by their owner only, with `filters.category` INCLUDE `my_files` and
the `tag` filter (tag names).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from batchsearch import clock
from batchsearch.api.bodies import OCTET_STREAM_BODY, STREAMED_BODY, stream_to
from batchsearch.api.deps import CurrentPrincipal
from batchsearch.api.routes.documents import AnnotatedDocument, fetch_visible_document, signed_document_url
from batchsearch.api.upload_gates import upload_gates
from batchsearch.contents.errors import ContentNotFoundError
from batchsearch.contents.model import ContentRecord, ContentStatus
from batchsearch.contents.service import UPLOAD_PATH, ContentService
from batchsearch.contents.store import ListQuery, Origin, Ownership, SortBy, SortOrder
from batchsearch.documents import annotated_document
from batchsearch.errors import ConflictError, ValidationError
from batchsearch.models.search import check_utc_range, parse_timestamp

router = APIRouter(tags=["Content"])

DOCUMENTS = "/contents/v1/documents"
TAGS = "/contents/v1/tags"
MAX_TAG_NAME = 200
MAX_TAGS = 100  # tags on one document, or asked for in one list request
MAX_PAGE = 1_000_000  # keeps the list's OFFSET inside a 64-bit integer (2**62 used to overflow into a 500)
TagName = Annotated[str, Field(max_length=MAX_TAG_NAME)]


# ---- wire models -----------------------------------------------------------------------------
class ContentCreate(BaseModel):
    """Reserve an upload slot; fields other than these (e.g. "enrichments") are accepted and ignored."""

    model_config = ConfigDict(extra="ignore")

    file_name: str = Field(min_length=1, max_length=1024, description="Its extension picks the text extractor.")
    published_ts: datetime | None = Field(None, description="The document's timestamp in search; default upload time.")
    tags: list[TagName] = Field(default_factory=list, max_length=MAX_TAGS,
                                description="Tag names; missing tags are created.")
    share_with_org: bool = Field(False, description="Stored and returned; documents stay private to their owner.")

    @field_validator("file_name")
    @classmethod
    def _file_name(cls, value: str) -> str:
        value = value.strip()
        if not value or any(ord(ch) < 32 for ch in value):
            raise ValueError("file_name must be a non-empty name without control characters")
        return value

    @field_validator("published_ts", mode="before")
    @classmethod
    def _published(cls, value: Any) -> Any:
        return parse_timestamp(value) if isinstance(value, str) else value

    @field_validator("published_ts")
    @classmethod
    def _in_utc_range(cls, value: datetime | None) -> datetime | None:
        return check_utc_range(value) if value is not None else None


class ContentCreated(BaseModel):
    """Where to PUT the file (no API key, single use, expiring) and the content id."""

    url: str
    id: str = Field(pattern=r"^[A-F0-9]{32}$")


class TagOut(BaseModel):
    """A tag: its UUID and its name (the name is what the search `tag` filter matches)."""

    id: str
    name: str


class TagInfo(TagOut):
    """A tag with how many of the caller's files carry it."""

    file_count: int


class TagList(BaseModel):
    """The caller's tags by name."""

    results: list[TagInfo]


class TagCreate(BaseModel):
    """A tag name to create (an existing tag of that name is returned as is)."""

    name: str = Field(min_length=1, max_length=200)


class ContentDocument(BaseModel):
    """The metadata record of an uploaded file (spec section 6); `error` is additive."""

    id: str
    file_name: str
    user_id: str
    org_id: str
    created_at: str
    updated_at: str
    published_at: str | None
    rp_collection_id: str | None = None
    raw_size: int
    content_type: str | None
    shared_with_orgs: list[str]
    connector_id: str | None = None
    error_code: str | None
    error: str | None = Field(None, description="Why processing failed, in plain words.")
    delete_started_ts: str | None = None
    file_metadata: dict[str, Any] | None = None
    tags: list[TagOut]
    status: str = Field(description="pending (waiting for the file), processing, completed or failed.")
    request_origin: str = "file_upload"


class ContentList(BaseModel):
    """One page of the caller's records; `page`, `page_size` and `total` are additive."""

    results: list[ContentDocument]
    page: int
    page_size: int
    total: int


class ContentOriginal(BaseModel):
    """A presigned GET URL of the file as uploaded (no API key; expires after download_url_ttl_seconds)."""

    url: str


class ContentAnnotated(AnnotatedDocument):
    """The annotated JSON of a processed file, and a signed URL that serves the same JSON without an API key."""

    url: str


class ContentUpdate(BaseModel):
    """New tags (ids of existing tags; replaces the set) and/or the sharing flag."""

    model_config = ConfigDict(extra="ignore")

    tags: Annotated[list[TagName], Field(max_length=MAX_TAGS)] | None = None
    share_with_org: bool | None = None


def wire_record(record: ContentRecord) -> dict[str, Any]:
    """The record as the content API returns it; user and org are both the owner (one tenant per owner)."""
    # times to the microsecond, as in the vendor's records
    return {
        "id": record.id, "file_name": record.file_name, "user_id": record.owner, "org_id": record.owner,
        "created_at": clock.iso(record.created_at, "microseconds"),
        "updated_at": clock.iso(record.updated_at, "microseconds"),
        "published_at": clock.iso(record.published_at, "microseconds"),
        "rp_collection_id": None, "raw_size": record.raw_size,
        "content_type": record.content_type, "shared_with_orgs": [record.owner] if record.share_with_org else [],
        "connector_id": None, "error_code": record.error_code, "error": record.error, "delete_started_ts": None,
        "file_metadata": None, "tags": [{"id": t.id, "name": t.name} for t in record.tags],
        "status": record.status.value, "request_origin": "file_upload",
    }


def _from_date(value: str | None) -> datetime | None:
    """The list's from_date (naive values are UTC); 400 naming the parameter when it is no ISO 8601 time."""
    if not value:
        return None
    try:
        return parse_timestamp(value)
    except ValueError as exc:
        raise ValidationError.of("request", "query.from_date", str(exc)) from exc


# ---- dependencies ----------------------------------------------------------------------------
def get_content_service(request: Request) -> ContentService:
    """The app's content service."""
    service: ContentService = request.app.state.contents
    return service


Contents = Annotated[ContentService, Depends(get_content_service)]


def owned_content(content_id: str, principal: CurrentPrincipal, service: Contents) -> ContentRecord:
    """The caller's record (404 PRIVATE_CONTENT_NOT_FOUND when missing or another owner's): the one ownership check."""
    return service.fetch_owned(content_id, principal.owner)


OwnedContent = Annotated[ContentRecord, Depends(owned_content)]
Expires = Annotated[str | None, Query(description="Unix time the URL expires at.")]
Signature = Annotated[str | None, Query(description="HMAC-SHA256 of method, upload slot and expiry.")]


def verified_upload(content_id: str, service: Contents, expires: Expires = None, signature: Signature = None) -> str:
    """The content id of a signed upload URL (403 when tampered with or expired)."""
    service.urls.verify(content_id, expires, signature, time.time())
    return content_id


# ---- routes ----------------------------------------------------------------------------------
@router.post(DOCUMENTS, summary="Create an upload slot", response_model=ContentCreated)
def create_content(body: ContentCreate, principal: CurrentPrincipal, service: Contents) -> dict[str, str]:
    """A pending record and a signed URL to PUT the file to; processing starts when the file arrives."""
    created = service.create(principal.owner, body.file_name, published_at=body.published_ts, tag_names=body.tags,
                             share_with_org=body.share_with_org)
    return {"url": created.url, "id": created.record.id}


@router.put(UPLOAD_PATH + "{content_id}", summary="Upload a file to its signed URL", status_code=200,
            max_body_size=STREAMED_BODY,
            openapi_extra=OCTET_STREAM_BODY)
async def upload_content(request: Request, service: Contents,
                         content_id: Annotated[str, Depends(verified_upload)]) -> Response:
    """The raw file bytes, with any or no Content-Type; no API key. 409 when the URL was already used.

    The body is spooled as it arrives (413 past the size limit, never held whole in memory, no worker thread held
    while the client sends) and counts against the record owner's and the URL's upload limits.
    """
    record = await anyio.to_thread.run_sync(service.store.get, content_id)
    if record is None:
        raise ContentNotFoundError()
    content_type = request.headers.get("content-type")
    settings = request.app.state.settings
    async with upload_gates(request).hold(record.owner, f"contents/{content_id}"):
        await stream_to(request, lambda chunks, _size: service.receive_upload(content_id, chunks, content_type),
                        limit=service.max_bytes, what="File", directory=settings.data_dir)
    return Response(status_code=200)


@router.get(DOCUMENTS, summary="List your documents", response_model=ContentList)
def list_contents(
    principal: CurrentPrincipal,
    service: Contents,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE, description="1-based page number.")] = 1,
    page_size: Annotated[int, Query(ge=1, le=100, description="Records per page (at most 100).")] = 50,
    file_name: Annotated[str | None, Query(max_length=1024, description="Case-insensitive part of the file name.")] = None,
    tags: Annotated[list[TagName] | None, Query(max_length=MAX_TAGS,
                                                description="Tag ids or names (repeatable; any of them).")] = None,
    sort_by: Annotated[SortBy, Query(description="Column to sort by.")] = "created_at",
    sort_order: Annotated[SortOrder, Query(description="asc or desc.")] = "desc",
    origin: Annotated[Origin | None, Query(description="file_upload (every record) or email (none).")] = None,
    from_date: Annotated[str | None, Query(max_length=64,
                                           description="Records created at or after this ISO 8601 date or time.")] = None,
    ownership: Annotated[Ownership, Query(description="all, owned (both: your records) or shared (none).")] = "all",
) -> dict[str, Any]:
    """The caller's records, newest first unless asked otherwise."""
    query = ListQuery(page=page, page_size=page_size, file_name=file_name or None, tags=tuple(tags or ()),
                      sort_by=sort_by, sort_order=sort_order, origin=origin, from_date=_from_date(from_date),
                      ownership=ownership)
    records, total = service.list_records(principal.owner, query)
    return {"results": [wire_record(r) for r in records], "page": page, "page_size": page_size, "total": total}


@router.get(DOCUMENTS + "/{content_id}", summary="Get a document's metadata and status", response_model=ContentDocument)
def get_content(record: OwnedContent) -> dict[str, Any]:
    """The record; `status` tells where processing is, `error_code` and `error` why it failed."""
    return wire_record(record)


@router.get(DOCUMENTS + "/{content_id}/original", summary="Get a URL to the original file",
            response_model=ContentOriginal)
def get_original(record: OwnedContent, service: Contents) -> dict[str, str]:
    """A presigned GET URL of the file as uploaded; 409 while the file has not arrived."""
    return {"url": service.original_url(record)}


@router.get(DOCUMENTS + "/{content_id}/annotated", summary="Get the annotated document", response_model=ContentAnnotated)
async def get_annotated(record: OwnedContent, request: Request) -> JSONResponse:
    """The annotated JSON of a completed file (as GET /v1/documents/{id} serves it) and a signed URL to it; 409
    until processing completed."""
    if record.status is not ContentStatus.COMPLETED:
        raise ConflictError(f"Document {record.id} is {record.status.value}: the annotated document exists once "
                            "processing completed")
    document = await fetch_visible_document(request, record.id, record.owner)
    return JSONResponse({"url": signed_document_url(request, record.id), **annotated_document(document)})


@router.patch(DOCUMENTS + "/{content_id}", summary="Update tags or sharing", response_model=ContentDocument)
def update_content(body: ContentUpdate, record: OwnedContent, service: Contents) -> dict[str, Any]:
    """Replace the tag set (ids from GET /contents/v1/tags; 400 INVALID_TAGS_ERROR for unknown ones)."""
    return wire_record(service.update(record, tag_ids=body.tags, share_with_org=body.share_with_org))


@router.delete(DOCUMENTS + "/{content_id}", summary="Delete a document", status_code=200)
def delete_content(record: OwnedContent, service: Contents) -> Response:
    """Remove the record, the file and the document from search, permanently."""
    service.delete(record)
    return Response(status_code=200)


@router.get(TAGS, summary="List your tags", response_model=TagList)
def list_tags(principal: CurrentPrincipal, service: Contents) -> dict[str, Any]:
    """The caller's tags with their file counts."""
    return {"results": [{"id": t.id, "name": t.name, "file_count": n} for t, n in service.list_tags(principal.owner)]}


@router.post(TAGS, summary="Create a tag", response_model=TagOut)
def create_tag(body: TagCreate, principal: CurrentPrincipal, service: Contents) -> dict[str, str]:
    """A tag to attach with PATCH; creating an existing name returns that tag."""
    tag = service.create_tag(principal.owner, body.name)
    return {"id": tag.id, "name": tag.name}
