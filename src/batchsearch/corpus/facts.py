"""Per-document facts for the templates: numbers, dates and names, drawn lazily and consistently.

A `Facts` mapping draws each slot the first time a template asks for it and then keeps it, so
"{revenue}" is the same figure everywhere in one document. Figures follow the document's
polarity (a beat reports EPS above the estimate, a miss below) and the company's size.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

from batchsearch.corpus import phrases
from batchsearch.corpus.text import Company


def fiscal_period(when: datetime, fy_end_month: int) -> tuple[int, int]:
    """The fiscal (year, quarter) most recently closed about three weeks before `when`."""
    ref = (when - timedelta(days=20)).date()
    month_index = ((ref.month - 1) // 3) * 3  # last quarter-end month, 0 = December of last year
    year, month = (ref.year - 1, 12) if month_index == 0 else (ref.year, month_index)
    quarter = ((month - fy_end_month - 1) % 12) // 3 + 1
    return (year if month <= fy_end_month else year + 1), quarter


def money(billions: float) -> str:
    """ "$12.4 billion", "$840 million" or "$6.2 million"."""
    if billions >= 1:
        return f"${billions:,.1f} billion"
    millions = billions * 1000
    return f"${millions:,.0f} million" if millions >= 10 else f"${millions:,.1f} million"


def long_date(day: date) -> str:
    """ "March 14, 2025"."""
    return f"{phrases.MONTHS[day.month - 1]} {day.day}, {day.year}"


def sector_family(company: Company) -> tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """The sector family (name, keywords, products, segments) matching the entity's sector/industry."""
    text = f"{company.entity.sector or ''} {company.entity.industry or ''} ".lower()
    for family in phrases.SECTOR_FAMILIES:
        if any(keyword in text for keyword in family[1]):
            return family
    return phrases.DEFAULT_FAMILY


def country_name(company: Company) -> str:
    """The company's home country as prose ("the United States"), defaulting to the US."""
    country = company.entity.country or "US"
    return phrases.COUNTRY_NAMES.get(country, country)


class Facts(dict[str, str]):
    """Slot values for one document; unknown slots are drawn on first use by `_<slot>` methods."""

    def __init__(self, rng: random.Random, company: Company, when: datetime, *, is_positive: bool) -> None:
        super().__init__()
        self.rng = rng
        self.company = company
        self.when = when
        self.is_positive = is_positive
        self.fiscal_year, self.fiscal_quarter = fiscal_period(when, company.fy_end_month)
        self._family = sector_family(company)

    def __missing__(self, key: str) -> str:
        value: str = getattr(self, f"_{key}")()
        self[key] = value
        return value

    def _pct(self, low: float, high: float) -> float:
        return round(self.rng.uniform(low, high), 1)

    def _person(self) -> str:
        return f"{self.rng.choice(phrases.FIRST_NAMES)} {self.rng.choice(phrases.LAST_NAMES)}"

    # -- time
    def _weekday(self) -> str:
        return phrases.WEEKDAYS[self.when.weekday()]

    def _date(self) -> str:
        return f"{phrases.MONTHS[self.when.month - 1]} {self.when.day}"

    def _month(self) -> str:
        return phrases.MONTHS[self.when.month - 1]

    def _year(self) -> str:
        return str(self.when.year)

    def _quarter_word(self) -> str:
        return phrases.QUARTER_WORDS[self.fiscal_quarter - 1]

    def _quarter_title(self) -> str:
        return self["quarter_word"].capitalize()

    def _quarter_end(self) -> str:
        months_back = (self.company.fy_end_month + 3 * (self.fiscal_quarter - 4) - 1) % 12 + 1
        year = self.fiscal_year if months_back <= self.company.fy_end_month else self.fiscal_year - 1
        last_day = (date(year + months_back // 12, months_back % 12 + 1, 1) - timedelta(days=1)).day
        return long_date(date(year, months_back, last_day))

    def _next_quarter_word(self) -> str:
        return phrases.QUARTER_WORDS[self.fiscal_quarter % 4]

    def _q(self) -> str:
        return str(self.fiscal_quarter)

    def _fy(self) -> str:
        return str(self.fiscal_year)

    def _call_date(self) -> str:
        return long_date(self.when.date())

    def _report_date(self) -> str:
        day = self.when + timedelta(days=self.rng.randint(20, 80))
        return f"{phrases.MONTHS[day.month - 1]} {day.day}"

    def _effective_date(self) -> str:
        day = self.when + timedelta(days=self.rng.randint(7, 120))
        return long_date(day.date())

    def _close_period(self) -> str:
        year = self.when.year + self.rng.randint(0, 1)
        return self.rng.choice([f"the first half of {year}", f"the second half of {year}", f"the end of {year}",
                                f"early {year}", f"mid-{year}"])

    # -- company and people
    def _ceo(self) -> str:
        return self.company.ceo

    def _cfo(self) -> str:
        return self.company.cfo

    def _ir_head(self) -> str:
        return self.company.ir_head

    def _ceo_first(self) -> str:
        return self.company.ceo.split()[0]

    def _ir_first(self) -> str:
        return self.company.ir_head.split()[0]

    def _operator(self) -> str:
        return self._person()

    def _analyst(self) -> str:
        return self._person()

    def _analyst2(self) -> str:
        return self._person()

    def _analyst3(self) -> str:
        return self._person()

    def _exec_new(self) -> str:
        return self._person()

    def _exec_old(self) -> str:
        return self._person()

    def _broker(self) -> str:
        return self.rng.choice(phrases.BROKERS)

    def _broker2(self) -> str:
        return self.rng.choice([b for b in phrases.BROKERS if b != self["broker"]])

    def _broker3(self) -> str:
        return self.rng.choice(phrases.BROKERS)

    def _exec_title(self) -> str:
        return self.rng.choice(["chief financial officer", "chief operating officer", "chief executive officer",
                                "chief technology officer", "president", "chief commercial officer"])

    def _sector(self) -> str:
        return self._family[0]

    def _product(self) -> str:
        return self.rng.choice(self._family[2])

    def _product2(self) -> str:
        return self.rng.choice([p for p in self._family[2] if p != self["product"]])

    def _product_name(self) -> str:
        return f"{self.rng.choice(phrases.PRODUCT_PREFIXES)} {self.rng.choice(phrases.PRODUCT_SUFFIXES)}"

    def _segment(self) -> str:
        return self.rng.choice(self._family[3])

    def _segment2(self) -> str:
        return self.rng.choice([s for s in self._family[3] if s != self["segment"]])

    def _region(self) -> str:
        return self.rng.choice(phrases.REGIONS)

    def _region2(self) -> str:
        return self.rng.choice([r for r in phrases.REGIONS if r != self["region"]])

    def _country(self) -> str:
        return country_name(self.company)

    def _central_bank(self) -> str:
        country = country_name(self.company)
        if country in phrases.EURO_AREA:
            return "the European Central Bank"
        return phrases.CENTRAL_BANKS.get(country, "the Federal Reserve")

    def _regulator(self) -> str:
        return self.rng.choice(phrases.REGULATORS)

    def _plaintiff(self) -> str:
        return self.rng.choice(phrases.PLAINTIFFS)

    def _union(self) -> str:
        return self.rng.choice(phrases.UNIONS)

    def _state(self) -> str:
        return self.rng.choice(phrases.US_STATES)

    def _address(self) -> str:
        return f"{self.rng.randint(1, 9800)} {self.rng.choice(phrases.STREETS)}, {self.rng.choice(phrases.CITIES)}"

    # -- results
    def _revenue_value(self) -> float:
        return self.company.scale * self.rng.uniform(0.85, 1.15)

    def _revenue(self) -> str:
        value = self._revenue_value()
        self["_revenue_raw"] = repr(value)
        return money(value)

    def _segment_revenue(self) -> str:
        return money(self.company.scale * self.rng.uniform(0.35, 0.6))

    def _segment2_revenue(self) -> str:
        return money(self.company.scale * self.rng.uniform(0.1, 0.3))

    def _tax_rate(self) -> str:
        return f"{self._pct(12, 26)}%"

    def _growth(self) -> str:
        return f"{self._pct(4, 32) if self.is_positive else self._pct(0.5, 6)}%"

    def _decline(self) -> str:
        return f"{self._pct(0.5, 6) if self.is_positive else self._pct(3, 24)}%"

    def _revenue_prev(self) -> str:
        revenue = float(self["_revenue_raw"]) if "_revenue_raw" in self else self.company.scale
        change = float(self["growth"].rstrip("%")) / 100
        return money(revenue / (1 + change if self.is_positive else 1 - change))

    def _rev_est(self) -> str:
        raw = float(self["_revenue_raw"]) if "_revenue_raw" in self else self.company.scale
        return money(raw * (self.rng.uniform(0.93, 0.99) if self.is_positive else self.rng.uniform(1.02, 1.08)))

    def _eps(self) -> str:
        return f"${self.rng.uniform(0.12, 4.8):.2f}"

    def _eps_est(self) -> str:
        eps = float(self["eps"][1:])
        delta = self.rng.uniform(0.02, 0.3) * max(eps, 0.2)
        return f"${max(eps - delta, 0.01) if self.is_positive else eps + delta:.2f}"

    def _eps_prev(self) -> str:
        eps = float(self["eps"][1:])
        return f"${eps * (self.rng.uniform(0.7, 0.95) if self.is_positive else self.rng.uniform(1.05, 1.4)):.2f}"

    def _net_income(self) -> str:
        return money(self.company.scale * self.rng.uniform(0.04, 0.3))

    def _margin(self) -> str:
        return f"{self._pct(8, 68)}%"

    def _margin_bp(self) -> str:
        return f"{self.rng.randrange(20, 420, 10)} basis points"

    def _opex(self) -> str:
        return money(self.company.scale * self.rng.uniform(0.15, 0.45))

    def _fcf(self) -> str:
        return money(self.company.scale * self.rng.uniform(0.05, 0.35))

    def _cash(self) -> str:
        return money(self.company.scale * self.rng.uniform(0.4, 4.0))

    def _debt(self) -> str:
        return money(self.company.scale * self.rng.uniform(0.5, 5.0))

    def _capex(self) -> str:
        return money(self.company.scale * self.rng.uniform(0.04, 0.3))

    def _guide_low(self) -> str:
        low = 4 * self.company.scale * self.rng.uniform(0.92, 1.12)  # full-year revenue
        self["_guide_raw"] = repr(low)
        return money(low)

    def _guide_high(self) -> str:
        low = float(self["_guide_raw"]) if "_guide_raw" in self else 4 * self.company.scale
        return money(low * self.rng.uniform(1.02, 1.06))

    def _guide_old(self) -> str:
        low = float(self["_guide_raw"]) if "_guide_raw" in self else 4 * self.company.scale
        return money(low * (self.rng.uniform(0.9, 0.97) if self.is_positive else self.rng.uniform(1.04, 1.12)))

    def _q_guide_low(self) -> str:
        low = self.company.scale * self.rng.uniform(0.92, 1.12)  # next-quarter revenue
        self["_q_guide_raw"] = repr(low)
        return money(low)

    def _q_guide_high(self) -> str:
        low = float(self["_q_guide_raw"]) if "_q_guide_raw" in self else self.company.scale
        return money(low * self.rng.uniform(1.02, 1.06))

    def _eps_guide_low(self) -> str:
        return f"${4 * float(self['eps'][1:]) * self.rng.uniform(0.9, 1.15):.2f}"  # full-year EPS

    def _eps_guide_high(self) -> str:
        return f"${float(self['eps_guide_low'][1:]) * self.rng.uniform(1.03, 1.1):.2f}"

    # -- market
    def _move(self) -> str:
        return f"{self._pct(1.2, 14.5)}%"

    def _move_small(self) -> str:
        return f"{self._pct(0.2, 1.9)}%"

    def _price(self) -> str:
        return f"${self.rng.uniform(8, 640):.2f}"

    def _target(self) -> str:
        price = float(self["price"][1:])
        return f"${price * (self.rng.uniform(1.1, 1.45) if self.is_positive else self.rng.uniform(0.65, 0.92)):.0f}"

    def _old_target(self) -> str:
        target = float(self["target"][1:])
        return f"${target * (self.rng.uniform(0.8, 0.95) if self.is_positive else self.rng.uniform(1.06, 1.3)):.0f}"

    def _volume_mult(self) -> str:
        return self.rng.choice(["twice", "nearly three times", "more than four times", "about five times"])

    # -- deals, labor, capital, legal, macro
    def _deal_value(self) -> str:
        return money(self.company.scale * self.rng.uniform(0.2, 8.0))

    def _premium(self) -> str:
        return f"{self.rng.randint(12, 61)}%"

    def _offer_price(self) -> str:
        return f"${self.rng.uniform(9, 260):.2f}"

    def _synergies(self) -> str:
        return money(self.company.scale * self.rng.uniform(0.02, 0.4))

    def _jobs(self) -> str:
        return f"{self.rng.randrange(150, 14000, 50):,}"

    def _workforce_pct(self) -> str:
        return f"{self.rng.randint(2, 18)}%"

    def _savings(self) -> str:
        return money(self.company.scale * self.rng.uniform(0.03, 0.3))

    def _charge(self) -> str:
        return money(self.company.scale * self.rng.uniform(0.01, 0.25))

    def _employees(self) -> str:
        return f"{self.rng.randrange(800, 240000, 100):,}"

    def _dividend(self) -> str:
        return f"${self.rng.uniform(0.05, 2.4):.2f}"

    def _dividend_pct(self) -> str:
        return f"{self.rng.randint(3, 25)}%"

    def _buyback(self) -> str:
        return money(self.company.scale * self.rng.uniform(0.05, 1.0))

    def _settlement(self) -> str:
        return money(self.company.scale * self.rng.uniform(0.005, 0.2))

    def _tariff_pct(self) -> str:
        return f"{self.rng.choice([10, 15, 20, 25, 30, 35, 50])}%"

    def _tariff_cost(self) -> str:
        return money(self.company.scale * self.rng.uniform(0.01, 0.2))

    def _units(self) -> str:
        return f"{self.rng.randrange(2000, 900000, 500):,}"

    def _bp(self) -> str:
        return str(self.rng.choice([25, 25, 25, 50, 50, 75]))

    def _policy_rate(self) -> str:
        low = self.rng.randrange(50, 550, 25) / 100
        return f"{low:.2f}%-{low + 0.25:.2f}%"

    def _inflation(self) -> str:
        return f"{self._pct(1.4, 5.8)}%"

    def _years(self) -> str:
        return str(self.rng.randint(3, 28))

    def _customers(self) -> str:
        return f"{self.rng.randrange(120, 48000, 10):,}"

    def _pct_small(self) -> str:
        return f"{self._pct(1, 9)}%"

    def _stake(self) -> str:
        return f"{self.rng.randint(5, 49)}%"

    def _file_number(self) -> str:
        return f"001-{self.rng.randint(10000, 41999)}"

    def _irs_number(self) -> str:
        return f"{self.rng.randint(10, 98)}-{self.rng.randint(1000000, 9999999)}"
