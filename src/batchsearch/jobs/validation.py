"""Checking a whole batch file before anything runs: per-line problems, duplicate custom ids, size and cost (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from batchsearch.errors import BatchSearchError, FieldProblem
from batchsearch.jobs.lines import InputInspector, Json, LineResult, ParsedLine, iter_lines, parse_line
from batchsearch.models.search import Query

MAX_PROBLEMS = 1000
CHUNKS_PER_QUERY_UNIT = 10


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the file: its line (None: the whole file), the field and what is wrong."""

    line: int | None
    field: str
    message: str


@dataclass
class ValidationReport:
    """What validating a batch file found; `is_valid` when nothing would become an error line."""

    lines_total: int = 0
    lines_valid: int = 0
    problems: list[Problem] = field(default_factory=list)
    problems_total: int = 0
    custom_ids: dict[str, list[int]] = field(default_factory=dict)
    max_query_units: float = 0.0

    @property
    def duplicate_custom_ids(self) -> dict[str, list[int]]:
        """Custom ids used on more than one line, with those lines."""
        return {cid: lines for cid, lines in self.custom_ids.items() if len(lines) > 1}

    @property
    def is_valid(self) -> bool:
        """No problem and no duplicate custom id."""
        return self.problems_total == 0 and not self.duplicate_custom_ids

    def add(self, problem: Problem) -> None:
        """Record a problem (only the first MAX_PROBLEMS are kept; all are counted)."""
        self.problems_total += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)

    def summary(self, limit: int = 5) -> str:
        """One line for a job's `error`: how many problems, the first few, duplicate ids."""
        parts = [f"{p.field} on line {p.line}: {p.message}" if p.line else f"{p.field}: {p.message}"
                 for p in self.problems[:limit]]
        parts += [f"custom_id {cid!r} on lines {', '.join(map(str, lines[:5]))}"
                  for cid, lines in list(self.duplicate_custom_ids.items())[:limit]]
        more = self.problems_total + len(self.duplicate_custom_ids) - len(parts)
        tail = f"; and {more} more" if more > 0 else ""
        invalid = self.lines_total - self.lines_valid
        return f"Validation failed ({invalid} invalid lines of {self.lines_total}): {'; '.join(parts)}{tail}"

    def to_wire(self) -> dict[str, Json]:
        """The JSON answer of POST /v1/search/batches/validate."""
        return {
            "valid": self.is_valid,
            "lines_total": self.lines_total,
            "lines_valid": self.lines_valid,
            "lines_invalid": self.lines_total - self.lines_valid,
            "problems": [{"line": p.line, "field": p.field, "message": p.message} for p in self.problems],
            "problems_truncated": self.problems_total > len(self.problems),
            "duplicate_custom_ids": [{"custom_id": c, "lines": ls} for c, ls in self.duplicate_custom_ids.items()],
            "max_query_units": round(self.max_query_units, 4),
        }


def line_problem(line: int, problem: FieldProblem) -> Problem:
    """A field problem of one line as the report shows it (JSON errors name the character, on `body`)."""
    if problem.position is not None:
        return Problem(line, "body", f"{problem.message} at character {problem.position}")
    return Problem(line, problem.field, problem.message)


def query_units(query: Query) -> float:
    """The most query units a line can cost: its max_chunks / 10."""
    return query.max_chunks / CHUNKS_PER_QUERY_UNIT


def validate_file(chunks: Iterable[bytes], *, max_bytes: int, max_lines: int) -> ValidationReport:
    """Check every line of a batch file as a worker would parse it, without searching anything."""
    report = ValidationReport()
    inspector = InputInspector(max_bytes=max_bytes, max_lines=max_lines)
    try:
        for line in iter_lines(inspector.wrap(chunks)):
            report.lines_total = line.number
            _check_line(report, parse_line(line))
    except BatchSearchError as exc:
        report.add(Problem(None, "file", exc.message))
    return report


def _check_line(report: ValidationReport, parsed: ParsedLine | LineResult) -> None:
    """Count one parsed line into the report."""
    if parsed.custom_id is not None:
        report.custom_ids.setdefault(parsed.custom_id, []).append(parsed.number)
    if isinstance(parsed, LineResult):
        for problem in parsed.problems or (FieldProblem("body", parsed.error or ""),):
            report.add(line_problem(parsed.number, problem))
        return
    report.lines_valid += 1
    report.max_query_units += query_units(parsed.query)
