"""Knowledge-graph endpoints (spec section 5): find companies, sources and entities by id or details."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from batchsearch.api.deps import CurrentPrincipal
from batchsearch.errors import NotFoundError, ServiceUnavailableError
from batchsearch.kg.store import KnowledgeGraph
from batchsearch.kg.wire import company_to_wire, entity_to_wire, source_to_wire

router = APIRouter(tags=["Knowledge graph"])

IdentifierKind = Literal["isin", "cusip", "sedol", "listing", "ticker"]
MAX_IDENTIFIER_VALUES = 500
MAX_ENTITY_IDS = 100


class FindCompaniesRequest(BaseModel):
    """`POST /v1/knowledge-graph/companies`: at least one of query, types, countries, sectors."""

    model_config = ConfigDict(extra="ignore")

    query: str | None = Field(None, description="Partial or complete name, ticker, ISIN, CUSIP, SEDOL or web page.")
    types: list[str] | None = Field(None, description='"PUBLIC" and/or "PRIVATE".')
    countries: list[str] | None = Field(None, description="ISO 3166-1 alpha-2 codes.")
    sectors: list[str] | None = Field(None, description="Names from GET /v1/knowledge-graph/companies/sectors.")
    limit: int = Field(20, ge=1, le=1000, description="Most companies returned.")

    @model_validator(mode="after")
    def _has_criterion(self) -> FindCompaniesRequest:
        if not (self.query or self.types or self.countries or self.sectors):
            raise ValueError("At least one of query, types, countries or sectors is required")
        return self


class IdentifierValuesRequest(BaseModel):
    """`POST /v1/knowledge-graph/companies/{kind}`: the identifiers to resolve."""

    model_config = ConfigDict(extra="ignore")

    values: list[str] = Field(..., min_length=1, max_length=MAX_IDENTIFIER_VALUES)


class EntityIdsRequest(BaseModel):
    """`POST /v1/knowledge-graph/entities/id`: 1 to 100 entity ids."""

    model_config = ConfigDict(extra="ignore")

    values: list[str] = Field(..., min_length=1, max_length=MAX_ENTITY_IDS)


class FindSourcesRequest(BaseModel):
    """`POST /v1/knowledge-graph/sources`: at least one criterion."""

    model_config = ConfigDict(extra="ignore")

    query: str | None = Field(None, description="Partial or complete source name.")
    countries: list[str] | None = None
    ranks: list[str] | None = Field(None, description="RANK_1 (best) .. RANK_5.")
    categories: list[str] | None = Field(None, description="news, news_premium, transcripts, filings, ...")
    packages: list[str] | None = None

    @model_validator(mode="after")
    def _has_criterion(self) -> FindSourcesRequest:
        if not (self.query or self.countries or self.ranks or self.categories or self.packages):
            raise ValueError("At least one of query, countries, ranks, categories or packages is required")
        return self


class IdentifierResults(BaseModel):
    """Every input value mapped to its company, `{}` when it resolves to none."""

    results: dict[str, dict[str, Any]] = Field(
        ..., description="One entry per input value: a Company object, or {} when the value is unknown.")
    metadata: dict[str, str] = Field(..., description="request_id and timestamp.")


def _graph(request: Request) -> KnowledgeGraph:
    graph: KnowledgeGraph | None = getattr(request.app.state, "kg", None)
    if graph is None:
        raise ServiceUnavailableError("The knowledge graph is not loaded")
    graph.refresh()  # entities `batchsearch kg load` appended while the server runs
    return graph


def _metadata(request: Request) -> dict[str, str]:
    return {"request_id": request.state.request_id, "timestamp": datetime.now(UTC).isoformat()}


@router.post("/v1/knowledge-graph/companies", summary="Find companies by details")
def find_companies(body: FindCompaniesRequest, request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
    """Companies matching a name, ticker or identifier and the filters, well-known companies first."""
    found = _graph(request).find_companies(body.query, types=body.types, countries=body.countries,
                                           sectors=body.sectors, limit=body.limit)
    return {"results": [company_to_wire(e) for e in found], "metadata": _metadata(request)}


@router.get("/v1/knowledge-graph/companies/sectors", summary="List sectors")
def list_sectors(request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
    """The sector names accepted by the `sectors` filter."""
    return {"results": _graph(request).sectors(), "metadata": _metadata(request)}


@router.get("/v1/knowledge-graph/companies/{kind}/{value}", summary="Get a company by identifier")
def get_company(kind: IdentifierKind, value: Annotated[str, Path(min_length=1)], request: Request,
                principal: CurrentPrincipal) -> dict[str, Any]:
    """The company with this ISIN, CUSIP, SEDOL, listing (MIC:TICKER) or ticker; 404 when none."""
    entity = _graph(request).find_by_identifier(kind, [value])[value]
    if entity is None:
        raise NotFoundError(f"No company with {kind} {value}")
    return company_to_wire(entity)


@router.post("/v1/knowledge-graph/companies/{kind}", summary="Find companies by identifiers",
             response_model=IdentifierResults)
def find_by_identifiers(kind: IdentifierKind, body: IdentifierValuesRequest, request: Request,
                        principal: CurrentPrincipal) -> dict[str, Any]:
    """Each identifier mapped to its company, or to `{}` when unknown (up to 500 values).

    Every input value gets an entry, so a client may call `.get()` on each one. CUSIPs resolve for every
    company with a US or Canadian ISIN (characters 3-11), SEDOLs for every GB00 ISIN.
    """
    found = _graph(request).find_by_identifier(kind, body.values)
    results = {value: (company_to_wire(e) if e is not None else {}) for value, e in found.items()}
    return {"results": results, "metadata": _metadata(request)}


@router.post("/v1/knowledge-graph/entities/id", summary="Get entities by id")
def entities_by_id(body: EntityIdsRequest, request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
    """The entities with these ids (1 to 100); unknown ids are left out of `results`."""
    found = _graph(request).entities_by_ids(body.values)
    return {"results": {i: entity_to_wire(e) for i, e in found.items()}, "metadata": _metadata(request)}


@router.post("/v1/knowledge-graph/sources", summary="Find sources by details")
def find_sources(body: FindSourcesRequest, request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
    """Sources matching a name and the filters, best match then best rank first."""
    found = _graph(request).find_sources(body.query, countries=body.countries, ranks=body.ranks,
                                         categories=body.categories, packages=body.packages)
    return {"results": [source_to_wire(s) for s in found], "metadata": _metadata(request)}
