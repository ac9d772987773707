"""Wire models of `POST /v1/search`: the request body, its query and every fast-mode filter."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, StrictBool, field_validator, model_validator

from batchsearch.errors import FieldProblem, ValidationError

MAX_IDS = 500  # documented: entity, source (and so every id list) take at most 500 values
MAX_TERM_LENGTH = 1000  # characters of one keyword, id, topic, tag or subtype: far beyond any real one
MAX_ITEMS = 100  # lists of small objects (sentiment ranges, document types and subtypes): far beyond any real one
MAX_PERIODS = 500  # reporting periods: 125 years of quarters
MAX_TEXT_LENGTH = 10_000  # characters of query.text
DOCUMENT_TYPES: dict[str, tuple[str, ...]] = {
    "NEWS": (),
    "FILING": ("SEC_10_K", "SEC_10_Q", "SEC_8_K", "SEC_20_F", "SEC_S_1", "SEC_S_3", "SEC_6_K", "SEC_DEF_14A"),
    "INVESTMENT-RESEARCH": (
        "COMPANY_REPORT", "COVERAGE_ANALYSIS", "ECONOMIC_REPORT", "FIXED_INCOME_REPORT", "FUND_REPORT",
        "FX_AND_DERIVATIVES_REPORT", "GENERIC_REPORT", "INDEX_REPORT", "INDUSTRY_REPORT", "MARKET_UPDATE",
        "PORTFOLIO_STRATEGY", "PORTFOLIO_SUMMARY", "RATING_REPORT", "RESEARCH_NOTE", "THEMATIC_ANALYSIS",
    ),
}
_TRANSCRIPT_SUBTYPES = (
    "EARNINGS_CALL", "EARNINGS_RELEASE", "GUIDANCE_CALL", "SALES_REVENUE_CALL", "SALES_REVENUE_RELEASE",
    "CONFERENCE_CALL", "ANALYST_INVESTOR_SHAREHOLDER_MEETING", "SHAREHOLDERS_MEETING", "GENERAL_PRESENTATION",
    "SPECIAL_SITUATION_MA", "MANAGEMENT_PLAN_ANNOUNCEMENT", "INVESTOR_CONFERENCE_CALL",
)
DOCUMENT_TYPES["TRANSCRIPT"] = _TRANSCRIPT_SUBTYPES
DOCUMENT_TYPES["TRANSCRIPT-PRESENTATION"] = _TRANSCRIPT_SUBTYPES
CATEGORIES = (
    "news", "news_premium", "news_public", "transcripts", "filings", "research",
    "research_investment_research", "research_academic_journals", "podcasts", "expert_interviews",
    "expert_networks", "newsletters", "my_files", "regulatory",
)
SENTIMENT_LABELS = ("positive", "negative", "neutral")
SEARCH_REQUEST_TITLE = "PublicSearchRequest"  # the name validation messages give a search body
SMART_FILTERS = ("timestamp", "source")  # the only filters a caller may set in smart mode (spec 4.1)
SMART_MODE_MESSAGE = ("Search filter not supported in smart search mode. They will be defined automatically. "
                      "Please remove them from the request.")  # Bigdata's own words (spec 4.1)

StrictNumber = Annotated[float, pydantic.Strict(False), Field()]
Term = Annotated[str, Field(max_length=MAX_TERM_LENGTH)]
IdList = Annotated[list[Term], Field(max_length=MAX_IDS)]


class _Model(BaseModel):
    """Base: unknown fields are errors, so a typo in a filter name never silently matches everything."""

    model_config = ConfigDict(extra="forbid", strict=False)


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("Input should be a valid number")
    return value


class TimestampFilter(_Model):
    """Publication time window; each bound optional, ISO 8601 dates or date-times."""

    start: datetime | None = None
    end: datetime | None = None

    @field_validator("start", "end", mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError("Input should be an ISO 8601 date or date-time string")
        return parse_timestamp(value)

    @model_validator(mode="after")
    def _ordered(self) -> TimestampFilter:
        if self.start and self.end and self.start > self.end:
            raise ValueError("start must not be after end")
        return self


SearchIn = Literal["HEADLINE", "BODY", "ALL"]


class EntityFilter(_Model):
    """Entity ids detected in the text (all_of AND, any_of OR, none_of NOT)."""

    any_of: list[Term] = Field(default_factory=list)
    all_of: list[Term] = Field(default_factory=list)
    none_of: list[Term] = Field(default_factory=list)
    search_in: SearchIn = "ALL"

    @field_validator("any_of", "all_of", "none_of", mode="before")
    @classmethod
    def _limit(cls, value: Any) -> Any:
        if isinstance(value, list) and len(value) > MAX_IDS:
            raise ValueError(f"List has {len(value)} ids; at most {MAX_IDS}. Your query is too complex. Simplify your query.")
        return value


class KeywordFilter(_Model):
    """Literal terms, stemmed, in headline and/or chunk text."""

    any_of: IdList = Field(default_factory=list)
    all_of: IdList = Field(default_factory=list)
    none_of: IdList = Field(default_factory=list)
    search_in: SearchIn = "ALL"


class TopicFilter(_Model):
    """Topic taxonomy ids (comma paths), case-insensitive."""

    any_of: IdList = Field(default_factory=list)
    all_of: IdList = Field(default_factory=list)
    none_of: IdList = Field(default_factory=list)
    search_in: SearchIn = "ALL"

    @field_validator("any_of", "all_of", "none_of")
    @classmethod
    def _normalise(cls, value: list[str]) -> list[str]:
        return [normalise_topic(v) for v in value]


class ModeValues(_Model):
    """An INCLUDE/EXCLUDE list of values (source, category, document)."""

    mode: Literal["INCLUDE", "EXCLUDE"] = "INCLUDE"
    values: IdList


class CategoryFilter(ModeValues):
    """Source categories; lowercase values from the documented list."""

    @field_validator("values")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        for item in value:
            if item not in CATEGORIES:
                raise ValueError(f"Unknown category {item!r}; expected one of: {', '.join(CATEGORIES)}")
        return value


class DocumentTypeValue(_Model):
    """A document type with optional subtypes (omitted = all subtypes)."""

    type: str = Field(max_length=64)
    subtypes: Annotated[list[Term], Field(max_length=MAX_ITEMS)] | None = None

    @model_validator(mode="after")
    def _known(self) -> DocumentTypeValue:
        if self.type not in DOCUMENT_TYPES:
            raise ValueError(f"Unknown document type {self.type!r}; expected one of: {', '.join(DOCUMENT_TYPES)}")
        allowed = DOCUMENT_TYPES[self.type]
        for sub in self.subtypes or ():
            if sub not in allowed:
                raise ValueError(f"Unknown subtype {sub!r} for type {self.type}")
        return self


class DocumentTypeFilter(_Model):
    """Document types, as `{type, subtypes}` objects or bare type strings."""

    mode: Literal["INCLUDE", "EXCLUDE"] = "INCLUDE"
    values: list[DocumentTypeValue] = Field(max_length=MAX_ITEMS)

    @field_validator("values", mode="before")
    @classmethod
    def _strings(cls, value: Any) -> Any:
        if isinstance(value, list) and len(value) <= MAX_ITEMS:
            return [{"type": v.upper().replace("_", "-") if v.upper() == "INVESTMENT_RESEARCH" else v}
                    if isinstance(v, str) else v for v in value]
        return value


class SentimentRange(_Model):
    """A closed sentiment interval inside [-1, 1]."""

    min: float = Field(-1.0, ge=-1.0, le=1.0)
    max: float = Field(1.0, ge=-1.0, le=1.0)

    _check_numbers = field_validator("min", "max", mode="before")(classmethod(lambda cls, v: _no_bool(v)))

    @model_validator(mode="after")
    def _ordered(self) -> SentimentRange:
        if self.min > self.max:
            raise ValueError("min must not be greater than max")
        return self


class SentimentFilter(_Model):
    """Chunk sentiment: OR-ed ranges, or the deprecated lowercase labels."""

    ranges: Annotated[list[SentimentRange], Field(max_length=MAX_ITEMS)] | None = None
    values: Annotated[list[Literal["positive", "negative", "neutral"]], Field(max_length=MAX_ITEMS)] | None = None

    @model_validator(mode="after")
    def _one(self) -> SentimentFilter:
        if not self.ranges and not self.values:
            raise ValueError("Give either ranges or values")
        return self


class ReportingPeriod(_Model):
    """A fiscal year, optionally one quarter of it."""

    fiscal_year: int = Field(ge=1900, le=2200)
    fiscal_quarter: int | None = Field(None, ge=1, le=4)


class ChunkRange(_Model):
    """Chunk numbers (1-based, inclusive) inside documents."""

    from_: int = Field(1, alias="from", ge=1)
    to: int | None = Field(None, ge=1)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _ordered(self) -> ChunkRange:
        if self.to is not None and self.from_ > self.to:
            raise ValueError("`from` must be lower than or equal to `to`")
        return self


class TagFilter(_Model):
    """Tags of uploaded documents."""

    any_of: IdList = Field(default_factory=list)
    all_of: IdList = Field(default_factory=list)
    none_of: IdList = Field(default_factory=list)


class Filters(_Model):
    """Every fast-mode filter; all of them are AND-ed."""

    timestamp: TimestampFilter | None = None
    entity: EntityFilter | None = None
    keyword: KeywordFilter | None = None
    topic: TopicFilter | None = None
    source: ModeValues | None = None
    category: CategoryFilter | None = None
    document_type: DocumentTypeFilter | None = None
    sentiment: SentimentFilter | None = None
    reporting_entities: IdList | None = None
    reporting_periods: Annotated[list[ReportingPeriod], Field(max_length=MAX_PERIODS)] | None = None
    document: ModeValues | None = None
    chunk: ChunkRange | None = None
    tag: TagFilter | None = None


class Reranker(_Model):
    """Relevance threshold on the calibrated 0-1 relevance."""

    enabled: StrictBool = True
    threshold: float = Field(0.2, ge=0.0, le=1.0)


class Diversification(_Model):
    """Spread results across documents and sources."""

    enabled: StrictBool = True


class RankingParams(_Model):
    """Ranking knobs of fast mode."""

    freshness_boost: float = Field(1.0, ge=0.0, le=10.0)
    source_boost: float = Field(1.0, ge=0.0, le=10.0)
    content_diversification: Diversification = Field(default_factory=Diversification)
    reranker: Reranker | None = None

    _check_numbers = field_validator("freshness_boost", "source_boost", mode="before")(
        classmethod(lambda cls, v: _no_bool(v))
    )


class ExternalSearch(_Model):
    """Web results are not available in a self-hosted deployment; accepted only as absent."""

    mode: Literal["INCLUDE", "ONLY"]
    values: Annotated[list[Term], Field(max_length=MAX_ITEMS)]


class Query(_Model):
    """The `query` object of a search request and of a batch line."""

    text: str | None = Field(None, max_length=MAX_TEXT_LENGTH)
    filters: Filters = Field(default_factory=Filters)
    ranking_params: RankingParams = Field(default_factory=lambda: RankingParams.model_validate({}))
    max_chunks: int = Field(10, ge=1, le=1000)
    auto_enrich_filters: StrictBool = Field(
        True, description="Add the entities the knowledge graph detects in `text` to the entity filter (unless the "
        "query filters by entity already); `include_audit` shows the query actually run.")
    external_search: ExternalSearch | None = None
    # The request's search_mode and include_audit, kept with the query so a batch line that keeps only its
    # query still runs as its request asked (set by SearchRequest; not part of the wire object).
    _search_mode: str = PrivateAttr("fast")
    _include_audit: bool = PrivateAttr(False)

    _int = field_validator("max_chunks", mode="before")(classmethod(lambda cls, v: _no_fraction(v)))

    @property
    def search_mode(self) -> str:
        """"fast" or "smart": the mode of the request this query came in."""
        return self._search_mode

    @property
    def include_audit(self) -> bool:
        """Whether the request asked for metadata.audit."""
        return self._include_audit

    @model_validator(mode="after")
    def _something(self) -> Query:
        has_filter = any(getattr(self.filters, name) is not None for name in Filters.model_fields)
        if not (self.text and self.text.strip()) and not has_filter:
            raise ValueError("Give a `text`, at least one filter, or both")
        if self.external_search is not None:
            raise ValueError("external_search (web results) is not available in this deployment")
        return self


class SearchRequest(_Model):
    """The body of `POST /v1/search`."""

    search_mode: Literal["fast", "smart"] = Field(
        "fast", description="fast: the caller sets filters and ranking; smart: the server plans the query (detected "
        "entities and reporting periods, dates from phrases such as \"last quarter\"), runs one sub-query each and "
        "fuses them. Smart mode takes only the timestamp and source filters.")
    query: Query
    include_audit: StrictBool = False
    max_chunks: int | None = Field(
        None, ge=1, le=1000, description="Accepted here too, as some clients send it; `query.max_chunks` wins.")
    ranking_params: RankingParams | None = Field(
        None, description="Accepted here too, as some clients send it; `query.ranking_params` wins.")

    _int = field_validator("max_chunks", mode="before")(classmethod(lambda cls, v: _no_fraction(v)))

    @model_validator(mode="after")
    def _settle(self) -> SearchRequest:
        """Top-level max_chunks / ranking_params fill the query's when it has none; the query carries the mode."""
        update: dict[str, Any] = {}
        if self.max_chunks is not None and "max_chunks" not in self.query.model_fields_set:
            update["max_chunks"] = self.max_chunks
        if self.ranking_params is not None and "ranking_params" not in self.query.model_fields_set:
            update["ranking_params"] = self.ranking_params
        if update:
            fields_set = self.query.model_fields_set | set(update)
            self.query = self.query.model_copy(update=update)
            self.query.__pydantic_fields_set__ = fields_set
        self.query._search_mode = self.search_mode
        self.query._include_audit = self.include_audit
        return self


def smart_mode_problems(request: SearchRequest) -> list[FieldProblem]:
    """The fields a smart-mode request may not set (every filter but timestamp and source, ranking_params)."""
    if request.search_mode != "smart":
        return []
    problems = [FieldProblem(f"query.filters.{name}", SMART_MODE_MESSAGE)
                for name in Filters.model_fields if name not in SMART_FILTERS and getattr(request.query.filters, name)
                is not None]
    if request.ranking_params is not None:
        problems.append(FieldProblem("ranking_params", SMART_MODE_MESSAGE))
    elif "ranking_params" in request.query.model_fields_set:
        problems.append(FieldProblem("query.ranking_params", SMART_MODE_MESSAGE))
    return problems


def check_search_mode(request: SearchRequest) -> SearchRequest:
    """`request` when its mode allows what it sets; ValidationError naming the first refused field otherwise."""
    problems = smart_mode_problems(request)
    if problems:
        raise ValidationError(problems=problems, title=SEARCH_REQUEST_TITLE)
    return request


def _no_fraction(value: Any) -> Any:
    if isinstance(value, bool | str) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError("Input should be a valid integer")
    return value


def normalise_topic(value: str) -> str:
    """Topic ids compare case-insensitively and without trailing commas."""
    return value.strip().lower().rstrip(",")


_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_timestamp(value: str) -> datetime:
    """Parse an ISO 8601 date or date-time; naive values are UTC."""
    text = value.strip()
    if text.endswith("Z") or text.endswith("z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"Invalid ISO 8601 timestamp {value!r}") from exc
    if _DATE_ONLY.match(value.strip()):
        parsed = parsed.replace(tzinfo=UTC)
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    check_utc_range(parsed)
    return parsed


def check_utc_range(value: datetime) -> datetime:
    """`value` when it has a UTC time (year 1 at +05:00 or year 9999 at -05:00 has none); ValueError otherwise."""
    try:
        value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("Timestamp is out of range once converted to UTC (years 1 to 9999)") from exc
    return value


def pydantic_problems(exc: pydantic.ValidationError, prefix: str = "") -> list[FieldProblem]:
    """Pydantic's errors as field problems (dotted paths under `prefix`, pydantic's reasons)."""
    problems = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in (prefix.split(".") if prefix else []) + list(err["loc"]))
        problems.append(FieldProblem(loc, err["msg"].removeprefix("Value error, ")))
    return problems


def parse_search_request(payload: Any) -> SearchRequest:
    """Validate a `POST /v1/search` body; raises ValidationError naming the field."""
    if not isinstance(payload, dict):
        raise ValidationError.of(SEARCH_REQUEST_TITLE, "body", "Input should be a JSON object")
    try:
        request = SearchRequest.model_validate(payload)
    except pydantic.ValidationError as exc:
        raise ValidationError(problems=pydantic_problems(exc), title=SEARCH_REQUEST_TITLE) from exc
    return check_search_mode(request)
