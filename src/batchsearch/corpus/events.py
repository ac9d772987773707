"""The shape of a news event's wording: headlines, leads, details and quotes per polarity."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Wording:
    """Templates for one polarity of an event."""

    headlines: tuple[str, ...]
    leads: tuple[str, ...]
    details: tuple[str, ...]
    quotes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Event:
    """A kind of news story; `shared` details fit either polarity."""

    name: str
    weight: float
    positive: Wording
    negative: Wording
    shared: tuple[str, ...]
    needs_counterparty: bool = False

    def wording(self, is_positive: bool) -> Wording:
        """The templates for the chosen polarity."""
        return self.positive if is_positive else self.negative
