"""Input documents: the native JSONL format and BEIR corpora, validated line by line."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from batchsearch.models.search import CATEGORIES, DOCUMENT_TYPES, parse_timestamp

BEIR_TIMESTAMP = 0


class SourceIn(BaseModel):
    """Publisher of a document."""

    id: str = Field(default="000000", min_length=1, max_length=64)
    name: str = "Unknown"
    rank: Literal["RANK_1", "RANK_2", "RANK_3", "RANK_4", "RANK_5"] = "RANK_5"


class DocumentTypeIn(BaseModel):
    """Type and optional subtype from the documented table."""

    type: str = "NEWS"
    subtype: str | None = None

    @model_validator(mode="after")
    def _known(self) -> DocumentTypeIn:
        if self.type not in DOCUMENT_TYPES:
            raise ValueError(f"unknown type {self.type!r}; expected one of {', '.join(DOCUMENT_TYPES)}")
        if self.subtype is not None and self.subtype not in DOCUMENT_TYPES[self.type]:
            raise ValueError(f"unknown subtype {self.subtype!r} for type {self.type}")
        return self


class EntityMention(BaseModel):
    """A pre-annotated entity: offsets into `text` (or `headline` when field is "headline")."""

    id: str
    start: int | None = Field(None, ge=0)
    end: int | None = Field(None, ge=0)
    field: Literal["text", "headline"] = "text"


class PeriodIn(BaseModel):
    """A fiscal period the document reports on."""

    fiscal_year: int = Field(ge=1900, le=2200)
    fiscal_quarter: int | None = Field(None, ge=1, le=4)


class DocumentIn(BaseModel):
    """One native input document."""

    model_config = ConfigDict(extra="ignore")

    id: str | None = Field(None, min_length=1, max_length=128)
    headline: str = ""
    text: str = Field(min_length=1)
    timestamp: int
    url: str = ""
    source: SourceIn = Field(default_factory=SourceIn)
    document_type: DocumentTypeIn = Field(default_factory=DocumentTypeIn)
    category: str = "news"
    language: str = "en"
    tags: list[str] = Field(default_factory=list)
    entities: list[EntityMention] | None = None
    sentiment: float | None = Field(None, ge=-1.0, le=1.0)
    topics: list[str] | None = None
    reporting_entities: list[str] = Field(default_factory=list)
    reporting_periods: list[PeriodIn] = Field(default_factory=list)

    @field_validator("timestamp", mode="before")
    @classmethod
    def _ts(cls, value: Any) -> Any:
        if isinstance(value, str):
            return int(parse_timestamp(value).timestamp())
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("expected an ISO 8601 string")
        return int(value)

    @field_validator("entities", mode="before")
    @classmethod
    def _bare_ids(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"id": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("category")
    @classmethod
    def _category(cls, value: str) -> str:
        if value not in CATEGORIES:
            raise ValueError(f"unknown category {value!r}")
        return value

    @model_validator(mode="after")
    def _spans(self) -> DocumentIn:
        for i, ent in enumerate(self.entities or ()):
            if (ent.start is None) != (ent.end is None):
                raise ValueError(f"entities[{i}]: give both start and end, or neither")
            target = self.headline if ent.field == "headline" else self.text
            if ent.start is not None and ent.end is not None and not ent.start < ent.end <= len(target):
                raise ValueError(f"entities[{i}]: span {ent.start}..{ent.end} is outside the {ent.field}")
        return self

    def resolved_id(self) -> str:
        """The given id, else a stable 32-hex id derived from the content."""
        if self.id:
            return self.id
        digest = hashlib.sha256("\x1f".join([self.url, self.headline, self.text]).encode()).hexdigest()
        return digest[:32].upper()


class DocumentLineError(ValueError):
    """A document line that cannot be ingested: its line number and reason."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


def _describe(exc: pydantic.ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "document"
        parts.append(f"{loc}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def parse_native(obj: Any, line: int) -> DocumentIn:
    """Validate one native document object."""
    if not isinstance(obj, dict):
        raise DocumentLineError(line, "expected a JSON object")
    try:
        return DocumentIn.model_validate(obj)
    except pydantic.ValidationError as exc:
        raise DocumentLineError(line, _describe(exc)) from exc


def parse_beir(obj: Any, line: int) -> DocumentIn:
    """A BEIR corpus row `{_id, title, text}` as a document (timestamp 1970-01-01, original id kept)."""
    if not isinstance(obj, dict) or "_id" not in obj:
        raise DocumentLineError(line, "_id: field required")
    return parse_native({"id": str(obj["_id"]), "headline": obj.get("title") or "", "text": obj.get("text") or "",
                         "timestamp": BEIR_TIMESTAMP}, line)


def read_documents(path: str, fmt: str) -> Iterator[DocumentIn | DocumentLineError]:
    """Stream documents from a JSONL file; bad lines are yielded as errors, never raised."""
    parse = parse_beir if fmt == "beir" else parse_native
    with open(path, "rb") as fh:  # decoded per line, so one bad byte costs one line, not the file
        for number, data in enumerate(fh, start=1):
            try:
                raw = data.decode("utf-8-sig" if number == 1 else "utf-8")  # tolerate a BOM
            except UnicodeDecodeError as exc:
                yield DocumentLineError(number, f"invalid UTF-8 at byte {exc.start}")
                continue
            if not raw.strip():
                continue
            try:
                yield parse(json.loads(raw), number)
            except json.JSONDecodeError as exc:
                yield DocumentLineError(number, f"invalid JSON: {exc.msg} at column {exc.colno}")
            except DocumentLineError as exc:
                yield exc
