"""Which company and fiscal period a document reports on (`reporting_entities` / `reporting_periods`).

Only documents that *report* on a company carry these fields: transcripts
(`TRANSCRIPT`, `TRANSCRIPT-PRESENTATION`) and filings (`FILING`). News about a company does not.

Rules, in order:

1. Explicit metadata wins. A document may carry `reporting_entities` (list of entity ids) and
   `reporting_periods` (list of `{"fiscal_year": int, "fiscal_quarter": 1-4 | None}`), or the
   flat fields `fiscal_year` / `fiscal_quarter`. They are validated (year 1900-2100, quarter
   1-4) and a bad value raises `ValidationError` naming the field.
2. Otherwise, for a reporting document type, the headline is parsed. Period forms understood
   (case-insensitive): "Q3 2025", "Q3 FY2025", "Q3 FY25", "Q3'25", "3Q25", "2025 Q3",
   "FY2025 Q3", "Third Quarter 2025", "third quarter fiscal 2025", "Fiscal 2025 Third Quarter",
   and year-only forms "FY2024", "Full Year 2024", "Fiscal Year 2024" (quarter None).
   Two-digit years mean 20xx.
3. The reporting entity is the company named at the start of a headline that names a period,
   up to the period, a separator (" - ", " | ", ": "), a bracketed ticker or a form name
   ("Microsoft Corp. (MSFT) Q3 2025 Earnings Call" and "Microsoft Corp. - Form 8-K - ..." both
   give "Microsoft Corp."); the caller's `resolve(name) -> entity id | None` turns it into an id (the knowledge
   graph's name lookup), so this module needs no graph.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from batchsearch.errors import ValidationError

REPORTING_TYPES = frozenset({"TRANSCRIPT", "TRANSCRIPT-PRESENTATION", "FILING"})

_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "1st": 1, "2nd": 2, "3rd": 3, "4th": 4}
_ORD = r"(first|second|third|fourth|1st|2nd|3rd|4th)"
_YEAR = r"(\d{4}|\d{2})"
_QUARTER_FORMS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(rf"\bQ([1-4])\s*(?:FY\s*|')?{_YEAR}\b", re.IGNORECASE), "qy"),
    (re.compile(rf"\b([1-4])Q\s*(?:FY\s*|')?{_YEAR}\b", re.IGNORECASE), "qy"),
    (re.compile(r"\b(?:FY\s*)?(\d{4})\s*Q([1-4])\b", re.IGNORECASE), "yq"),
    (re.compile(rf"\b{_ORD} quarter(?: of)?(?: fiscal(?: year)?| FY)?\s*{_YEAR}\b", re.IGNORECASE), "oy"),
    (re.compile(rf"\b(?:fiscal(?: year)?|FY)\s*{_YEAR},? {_ORD} quarter\b", re.IGNORECASE), "yo"),
)
_YEAR_FORMS = (
    re.compile(r"\bFY\s*'?(\d{4}|\d{2})\b", re.IGNORECASE),
    re.compile(r"\b(?:full[- ]year|fiscal year|fiscal|annual)\s+(\d{4})\b", re.IGNORECASE),
)
_ANY_PERIOD = re.compile(
    "|".join(p.pattern for p, _ in _QUARTER_FORMS) + "|" + "|".join(p.pattern for p in _YEAR_FORMS),
    re.IGNORECASE,
)
# Where the company name in a reporting headline ends: a separator, a ticker in brackets,
# a form name or the period itself.
_SUBJECT_END = re.compile(
    r"\s[-\u2013\u2014|]\s|:\s|\s\(|\bForm\s|\b(?:8-K|10-K|10-Q|20-F|6-K)\b|" + _ANY_PERIOD.pattern,
    re.IGNORECASE,
)
_TRAILING_PUNCTUATION = " ,;:-\u2013\u2014"


@dataclass(frozen=True, slots=True)
class ReportingPeriod:
    """A fiscal year, optionally narrowed to one quarter."""

    fiscal_year: int
    fiscal_quarter: int | None = None

    def to_dict(self) -> dict[str, int | None]:
        """The wire form used by documents and by the `reporting_periods` filter."""
        return {"fiscal_year": self.fiscal_year, "fiscal_quarter": self.fiscal_quarter}


def _full_year(text: str) -> int:
    """A 4-digit year from "2025" or "25"."""
    return int(text) + 2000 if len(text) == 2 else int(text)


def parse_reporting_period(text: str) -> ReportingPeriod | None:
    """The first fiscal period named in `text` (quarter forms before year-only forms), or None."""
    for pattern, order in _QUARTER_FORMS:
        match = pattern.search(text)
        if match is None:
            continue
        first, second = match.group(1), match.group(2)
        if order == "qy":
            return ReportingPeriod(_full_year(second), int(first))
        if order == "yq":
            return ReportingPeriod(int(first), int(second))
        if order == "oy":
            return ReportingPeriod(_full_year(second), _ORDINALS[first.lower()])
        return ReportingPeriod(_full_year(first), _ORDINALS[second.lower()])
    for pattern in _YEAR_FORMS:
        match = pattern.search(text)
        if match is not None:
            return ReportingPeriod(_full_year(match.group(1)))
    return None


def parse_reporting_subject(headline: str) -> str | None:
    """The company name written before the period in a reporting headline, or None."""
    if _ANY_PERIOD.search(headline) is None:
        return None
    match = _SUBJECT_END.search(headline)
    name = headline[: match.start() if match else len(headline)].rstrip(_TRAILING_PUNCTUATION)
    return name or None


def document_type_name(document: Mapping[str, Any]) -> str | None:
    """The `type` of a document's `document_type` (an object or a bare string), upper-cased."""
    value = document.get("document_type")
    if isinstance(value, Mapping):
        value = value.get("type")
    return value.upper() if isinstance(value, str) else None


def _validated_period(item: Any, field: str) -> ReportingPeriod:
    """One explicit period, checked like the `reporting_periods` filter checks its items."""
    if not isinstance(item, Mapping):
        raise ValidationError(f"{field} must be an object", details={"field": field})
    year, quarter = item.get("fiscal_year"), item.get("fiscal_quarter")
    if not isinstance(year, int) or isinstance(year, bool) or not 1900 <= year <= 2100:
        raise ValidationError(f"{field}.fiscal_year must be a year", details={"field": f"{field}.fiscal_year"})
    if quarter is not None and (not isinstance(quarter, int) or isinstance(quarter, bool) or not 1 <= quarter <= 4):
        raise ValidationError(f"{field}.fiscal_quarter must be 1-4", details={"field": f"{field}.fiscal_quarter"})
    return ReportingPeriod(year, quarter)


def reporting_periods(document: Mapping[str, Any]) -> list[dict[str, int | None]]:
    """The periods a document reports on: explicit metadata, else parsed from its headline."""
    explicit = document.get("reporting_periods")
    if explicit is not None:
        if not isinstance(explicit, list):
            raise ValidationError("reporting_periods must be a list", details={"field": "reporting_periods"})
        periods = [_validated_period(item, f"reporting_periods[{i}]") for i, item in enumerate(explicit)]
        return [period.to_dict() for period in periods]
    if document.get("fiscal_year") is not None:
        flat = {"fiscal_year": document.get("fiscal_year"), "fiscal_quarter": document.get("fiscal_quarter")}
        return [_validated_period(flat, "fiscal_year").to_dict()]
    if document_type_name(document) not in REPORTING_TYPES:
        return []
    period = parse_reporting_period(str(document.get("headline") or ""))
    return [period.to_dict()] if period else []


def reporting_entities(document: Mapping[str, Any], resolve: Callable[[str], str | None]) -> list[str]:
    """The entity ids a document reports on: explicit metadata, else the headline's company resolved."""
    explicit = document.get("reporting_entities")
    if explicit is not None:
        if not isinstance(explicit, list) or not all(isinstance(value, str) for value in explicit):
            raise ValidationError(
                "reporting_entities must be a list of entity ids", details={"field": "reporting_entities"}
            )
        return list(dict.fromkeys(explicit))
    if document_type_name(document) not in REPORTING_TYPES:
        return []
    subject = parse_reporting_subject(str(document.get("headline") or ""))
    entity_id = resolve(subject) if subject else None
    return [entity_id] if entity_id else []
