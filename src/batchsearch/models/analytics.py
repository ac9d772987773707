"""Wire models of the search analytics endpoints: `POST /v1/search/volume` and `POST /v1/search/co-mentions/*`.

They take the same filter object as `POST /v1/search` (spec 4.3 and 4.7); their answers count the matching
chunks instead of ranking them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from batchsearch.kg.model import EntityCategory
from batchsearch.models.search import MAX_TEXT_LENGTH, Filters

MAX_VOLUME_DAYS = 1000  # documented: the volume series keeps the newest 1,000 days
DEFAULT_CO_MENTIONS_LIMIT = 10
MAX_CO_MENTIONS_LIMIT = 1000
ENTITY_CATEGORIES: tuple[str, ...] = tuple(c.value for c in EntityCategory)
EntityCategoryName = Literal["companies", "people", "places", "organizations", "products", "concepts"]


class _Model(BaseModel):
    """Base: unknown fields are errors, as in the search request."""

    model_config = ConfigDict(extra="forbid")


def _strict_int(value: Any) -> Any:
    if isinstance(value, bool | str) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError("Input should be a valid integer")
    return value


class AnalyticsQuery(_Model):
    """The `query` of a volume request: optional text (a lexical match) and the search filters."""

    text: str | None = Field(None, max_length=MAX_TEXT_LENGTH,
                             description="Every word (stemmed) must occur in the chunk or its document's headline.")
    filters: Filters = Field(default_factory=Filters, description="The filter object of POST /v1/search.")
    auto_enrich_filters: StrictBool = Field(False, description="Accepted for compatibility; filters are never added.")
    entity_details: StrictBool = Field(False, description="Accepted for compatibility; has no effect.")


class CoMentionsQuery(AnalyticsQuery):
    """The `query` of a co-mentions request: adds the entity categories to count and (topics form) a limit."""

    entity_categories: list[EntityCategoryName] | None = Field(
        None, max_length=len(ENTITY_CATEGORIES), description="Categories to fill (default: all six).")
    limit: int | None = Field(None, ge=1, le=MAX_CO_MENTIONS_LIMIT,
                              description="Items per category when the top-level `limit` is absent.")

    _check_limit = field_validator("limit", mode="before")(classmethod(lambda cls, v: _strict_int(v)))


class VolumeRequest(_Model):
    """The body of `POST /v1/search/volume`."""

    query: AnalyticsQuery


class CoMentionsRequest(_Model):
    """The body of `POST /v1/search/co-mentions/entities` and `.../topics`."""

    query: CoMentionsQuery
    limit: int | None = Field(None, ge=1, le=MAX_CO_MENTIONS_LIMIT,
                              description=f"Items per category (default {DEFAULT_CO_MENTIONS_LIMIT}).")

    _check_limit = field_validator("limit", mode="before")(classmethod(lambda cls, v: _strict_int(v)))

    def effective_limit(self) -> int:
        """The top-level limit, else the query's, else the default."""
        return self.limit or self.query.limit or DEFAULT_CO_MENTIONS_LIMIT


# ---- responses ---------------------------------------------------------------------------------


class Metadata(BaseModel):
    """Request id, answer time and the index snapshot counted."""

    request_id: str
    timestamp: str
    snapshot_id: str


class Usage(BaseModel):
    """Billing units; analytics requests count none here."""

    api_query_units: float


class VolumeDay(BaseModel):
    """One UTC day of the series."""

    date: str = Field(description="YYYY-MM-DD (UTC).")
    documents: int = Field(description="Documents with at least one matching chunk published that day.")
    chunks: int = Field(description="Matching chunks of documents published that day.")
    sentiment: float = Field(description="Mean chunk sentiment of those chunks (0 when there are none).")


class VolumeTotal(BaseModel):
    """The whole set of matching chunks (not only the days kept)."""

    documents: int
    chunks: int
    sentiment: float


class VolumeResults(BaseModel):
    """The daily series and its total."""

    volume: list[VolumeDay]
    total: VolumeTotal


class VolumeResponse(BaseModel):
    """The answer of `POST /v1/search/volume`."""

    results: VolumeResults
    metadata: Metadata
    usage: Usage


class CoMentionedEntity(BaseModel):
    """An entity with its co-mention counts, plus its knowledge-graph fields."""

    model_config = ConfigDict(extra="allow")

    id: str
    name: str
    total_chunks_count: int = Field(description="Matching chunks whose text mentions the entity.")
    total_headlines_count: int = Field(description="Matching documents whose headline mentions the entity.")


class EntityCoMentions(BaseModel):
    """Co-mentioned entities by category, each list ranked by chunk count."""

    companies: list[CoMentionedEntity]
    people: list[CoMentionedEntity]
    places: list[CoMentionedEntity]
    organizations: list[CoMentionedEntity]
    products: list[CoMentionedEntity]
    concepts: list[CoMentionedEntity]


class EntityCoMentionsResponse(BaseModel):
    """The answer of `POST /v1/search/co-mentions/entities`."""

    results: EntityCoMentions
    metadata: Metadata
    usage: Usage


class CoMentionedTopic(BaseModel):
    """A topic with its co-mention counts."""

    id: str
    name: str
    description: str
    total_chunks_count: int = Field(description="Matching chunks whose text carries the topic.")
    total_headlines_count: int = Field(description="Matching documents whose headline carries the topic.")


class TopicCoMentions(BaseModel):
    """Co-mentioned topics ranked by chunk count."""

    topics: list[CoMentionedTopic]


class TopicCoMentionsResponse(BaseModel):
    """The answer of `POST /v1/search/co-mentions/topics`."""

    results: TopicCoMentions
    metadata: Metadata
    usage: Usage
