"""Template rendering that records where each company surface form lands in the text.

Template syntax (parsed once and cached):

* ``{slot}``: a fact from the document's `Facts` (numbers, names, dates...);
* ``{co}``, ``{co2}``, ``{peer}``: a company playing that role; the first mention in a text is
  the full name, later ones an alias or the full name. ``{co:full}``, ``{co:short}`` and
  ``{co:ticker}`` force a form;
* ``[a|b|c]``: one option at random (options may hold slots, not brackets).

Every company surface is recorded as a mention ``{"id", "start", "end", "form"}`` with
``text[start:end]`` equal to the surface; `form` is "name", "alias" or "ticker".
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from batchsearch.kg.model import Entity

COMPANY_ROLES = frozenset({"co", "co2", "peer"})
_TOKEN = re.compile(r"\{(\w+)(?::(\w+))?\}|\[([^\[\]]*)\]")
_LEGAL_SUFFIX = re.compile(
    r"[,\s]+(?:inc\.?|incorporated|corp\.?|corporation|co\.|company|ltd\.?|limited|plc|llc|l\.p\.|lp|"
    r"n\.v\.|nv|s\.a\.|sa|se|ag|a/s|asa|oyj|ab|spa|s\.p\.a\.|holdings?|group|& co\.?)$",
    re.IGNORECASE,
)
_TICKER = re.compile(r"^[A-Z][A-Z0-9]{0,4}(?:\.[A-Z])?$")

# A parsed template is a tuple of parts: ("lit", text), ("slot", name, form), ("alt", options).
Part = tuple[str, object, object]


@dataclass(frozen=True, slots=True)
class Company:
    """An entity with the surface forms and house facts the templates use."""

    entity: Entity
    aliases: tuple[str, ...]
    ticker: str | None
    scale: float
    fy_end_month: int
    ceo: str
    cfo: str
    ir_head: str

    @property
    def id(self) -> str:
        """The entity id."""
        return self.entity.id

    @property
    def name(self) -> str:
        """The full name."""
        return self.entity.name


def short_names(entity: Entity) -> tuple[str, ...]:
    """Aliases usable in prose: the entity's own non-ticker aliases, else its name without a legal suffix."""
    tickers = set(entity.tickers)
    aliases = tuple(a for a in entity.aliases if a and a != entity.name and a not in tickers and len(a) > 2)
    if aliases:
        return aliases
    stripped = _LEGAL_SUFFIX.sub("", entity.name).strip(" ,")
    return (stripped,) if stripped and stripped != entity.name and len(stripped) > 2 else ()


def prose_ticker(entity: Entity) -> str | None:
    """The first ticker that looks like an exchange symbol ("MSFT", "BRK.B"), if any."""
    return next((t for t in entity.tickers if _TICKER.match(t)), None)


@lru_cache(maxsize=8192)
def parse_template(template: str) -> tuple[Part, ...]:
    """Split a template into literal, slot and alternative parts."""
    parts: list[Part] = []
    position = 0
    for match in _TOKEN.finditer(template):
        if match.start() > position:
            parts.append(("lit", template[position : match.start()], None))
        if match.group(3) is not None:
            options = tuple(parse_template(option) for option in match.group(3).split("|"))
            parts.append(("alt", options, None))
        else:
            parts.append(("slot", match.group(1), match.group(2)))
        position = match.end()
    if position < len(template):
        parts.append(("lit", template[position:], None))
    return tuple(parts)


class TextBuilder:
    """Appends rendered sentences and paragraphs, tracking company mentions by offset."""

    def __init__(self, rng: random.Random, companies: Mapping[str, Company], facts: Mapping[str, str]) -> None:
        self._rng = rng
        self._companies = companies
        self._facts = facts
        self._chunks: list[str] = []
        self._length = 0
        self._seen: set[str] = set()
        self._paragraph_open = False
        self._sentence_start = 0
        self._after_period = False
        self.mentions: list[dict[str, object]] = []

    def text(self) -> str:
        """Everything appended so far."""
        return "".join(self._chunks)

    def _append(self, piece: str) -> None:
        self._chunks.append(piece)
        self._length += len(piece)

    def _company(self, role: str, form: str | None) -> None:
        company = self._companies[role]
        kind, surface = self._surface(company, form)
        self._seen.add(company.id)
        start = self._length
        self._append(surface)
        self._after_period = surface.endswith(".")
        self.mentions.append({"id": company.id, "start": start, "end": start + len(surface), "form": kind})

    def _surface(self, company: Company, form: str | None) -> tuple[str, str]:
        if form == "ticker" and company.ticker:
            return "ticker", company.ticker
        if form == "full" or not company.aliases:
            return "name", company.name
        if form == "short" or (company.id in self._seen and self._rng.random() < 0.75):
            return "alias", self._rng.choice(company.aliases)
        return "name", company.name

    def render(self, template: str) -> None:
        """Append one rendered template."""
        self._render_parts(parse_template(template))

    def _render_parts(self, parts: tuple[Part, ...]) -> None:
        for kind, value, form in parts:
            if kind == "lit":
                text = str(value)
                if self._after_period and text[0] == ".":
                    text = text[1:]  # "Acme Corp." at a sentence end: one period, not two
                self._after_period = False
                self._append(text)
            elif kind == "alt":
                self._render_parts(self._rng.choice(value))  # type: ignore[arg-type]
            elif value in COMPANY_ROLES:
                self._company(str(value), form if isinstance(form, str) else None)
            else:
                fact = self._facts[str(value)]
                if self._length == self._sentence_start and fact:
                    fact = fact[0].upper() + fact[1:]  # "the Federal Reserve" opening a sentence
                self._after_period = False
                self._append(fact)

    def sentence(self, template: str) -> None:
        """Append a sentence to the open paragraph (opening one if needed)."""
        if self._paragraph_open:
            self._append(" ")
        elif self._chunks:
            self._append("\n\n")
        self._paragraph_open = True
        self._sentence_start = self._length
        self.render(template)

    def paragraph(self, templates: list[str]) -> None:
        """Append a paragraph made of the given sentence templates."""
        self._paragraph_open = False
        for template in templates:
            self.sentence(template)
        self._paragraph_open = False
