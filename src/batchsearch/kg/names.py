"""Company and person names: cleaning, legal-suffix stripping, aliases and match keys.

Pure functions over strings.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from batchsearch.kg.wordlists import COMMON_WORDS, GENERIC_NAME_WORDS

# Legal-form suffixes, longest first; matched case-insensitively at the end of a name.
_LEGAL_SUFFIXES: tuple[str, ...] = (
    "SE & Co. KGaA", "& Co. KGaA", "AG & Co. KGaA", "S.A.B. de C.V.", "Co., Ltd.", "Co., Ltd", "Co. Ltd",
    "p.l.c.", "S.p.A.", "N.V.", "S.A.", "L.P.", "K.K.", "A/S", "B.V.", "N.A.", "S.A.F.", "AB (publ)",
    "Incorporated", "Corporation", "Corporación", "Company", "Limited", "Inc.", "Inc", "Corp.", "Corp",
    "Co.", "Co", "plc", "PLC", "AG", "SE", "SA", "NV", "Ltd.", "Ltd", "LLC", "LP", "KGaA", "Oyj", "Oy",
    "AB", "ASA", "SpA", "GmbH", "SCA", "& Co.", "& Co",
)
# Descriptive words dropped to make a shorter alias ("CBRE Group" -> "CBRE").
_DESCRIPTOR_SUFFIXES: tuple[str, ...] = ("Holdings", "Holding", "Group", "Gruppe", "Groupe")
_SUFFIX_RE = re.compile(
    r"(?:,?\s+|\s*,\s*)(?:" + "|".join(re.escape(s) for s in _LEGAL_SUFFIXES) + r")\s*$", re.IGNORECASE
)
_DESCRIPTOR_RE = re.compile(r"\s+(?:" + "|".join(_DESCRIPTOR_SUFFIXES) + r")\s*$")
_PERIOD_LABEL = re.compile(r"^(?:Q[1-4]|H[12]|FY\d{0,4})$")
_PARENTHETICAL = re.compile(r"\s*\([^)]*\)\s*")
_SHARE_CLASS_TAIL = re.compile(r"^([A-Z][a-zäöüéå]+)[ABC]$")
_PERSON_TITLES = re.compile(r"^(?:Sir|Dame|Dr\.?|Mr\.?|Mrs\.?|Ms\.?|Prof\.?|Lord|Baroness|Baron)\s+", re.IGNORECASE)
_PERSON_NAME = re.compile(
    r"^(?:[A-ZÀ-ÖØ-Þ][\w'’.\-]*\.?|(?:de|da|di|del|der|van|von|den|du|la|le|bin|al|dos|y)\s)"
    r"(?:\s*(?:[A-ZÀ-ÖØ-Þ][\w'’.\-]*|de|da|di|del|der|van|von|den|du|la|le|bin|al|dos|y|III|II|IV|Jr\.?))+$"
)


def clean_company_name(raw: str) -> str:
    """The display name: no "(Class A)"-style notes, no glued share-class letter, tidy spacing."""
    name = _PARENTHETICAL.sub(" ", raw)
    name = " ".join(name.split()).replace(" ,", ",").replace("–", "-").strip(" ,")
    name = _SHARE_CLASS_TAIL.sub(r"\1", name)
    if re.match(r"^E[A-Z][a-z]", name):  # "EBay" -> "eBay": Wikipedia capitalises the first letter
        name = "e" + name[1:]
    return name


def strip_legal_suffixes(name: str) -> str:
    """"Apple Inc." -> "Apple"; "KSB SE & Co. KGaA" -> "KSB"; a bare suffix is kept as is."""
    current = name.strip()
    while True:
        stripped = _SUFFIX_RE.sub("", current).strip(" ,")
        if stripped == current or not stripped:
            return current
        current = stripped


def strip_article(name: str) -> str:
    """"The Walt Disney Company" -> "Walt Disney Company"."""
    return name[4:] if name.startswith("The ") and len(name) > 4 else name


def ascii_fold(text: str) -> str:
    """Remove diacritics: "Nestlé" -> "Nestle", "Hermès" -> "Hermes"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def match_key(text: str) -> str:
    """Lowercase, accent-free, punctuation-free form used to compare names and queries."""
    folded = ascii_fold(text).lower().replace("&", " and ")
    return " ".join(re.sub(r"[^0-9a-z]+", " ", folded).split())


def is_common_word(form: str) -> bool:
    """True when a single-word form is an everyday English word ("Apple", "Target", "Shell")."""
    return " " not in form and form.lower() in COMMON_WORDS


def _is_usable_alias(alias: str, full: str, reserved: frozenset[str], is_descriptor_drop: bool) -> bool:
    lower = alias.lower()
    if len(alias) < 2 or lower in GENERIC_NAME_WORDS or alias == full or _PERIOD_LABEL.match(alias):
        return False
    words = lower.split()
    if is_descriptor_drop and len(words) <= 2 and all(w in GENERIC_NAME_WORDS or w in COMMON_WORDS for w in words):
        return False  # "National Bank Holdings" -> "National Bank" would match any national bank
    return lower not in reserved


def company_aliases(name: str, reserved: Iterable[str] = ()) -> tuple[str, ...]:
    """Other names a company is called by, shortest last-resort forms excluded.

    Legal suffixes are always dropped ("Apple Inc." -> "Apple"). Descriptors such as "Group" are
    dropped only when the result is not a common word or a `reserved` name (place names), so
    "Compass Group" keeps no "Compass" alias and "Berkeley Group" no "Berkeley".
    """
    reserved_lower = frozenset(r.lower() for r in reserved)
    full = clean_company_name(name)
    candidates: list[tuple[str, bool]] = []  # (alias, is_descriptor_drop)
    base = strip_legal_suffixes(strip_article(full))
    candidates.append((strip_article(full), False))
    candidates.append((base, False))
    shorter = base
    while _DESCRIPTOR_RE.search(shorter):
        shorter = strip_legal_suffixes(_DESCRIPTOR_RE.sub("", shorter))
        candidates.append((shorter, True))
    aliases: list[str] = []
    for alias, is_descriptor_drop in candidates:
        if is_descriptor_drop and (is_common_word(alias) or alias.lower() in reserved_lower):
            continue
        for variant in (alias, ascii_fold(alias), alias.replace("-", " ")):
            reserved_here = reserved_lower if is_descriptor_drop else frozenset()
            if variant not in aliases and _is_usable_alias(variant, full, reserved_here, is_descriptor_drop):
                aliases.append(variant)
    return tuple(aliases)


def clean_person_name(raw: str) -> str | None:
    """A person's name without honorifics, or None when the text does not look like a name."""
    name = " ".join(_PERSON_TITLES.sub("", raw.strip(" ,;:")).split())
    words = name.split()
    if not 2 <= len(words) <= 5 or any(ch.isdigit() for ch in name):
        return None
    if not _PERSON_NAME.match(name):
        return None
    return name


def parse_key_people(text: str | None) -> list[tuple[str, str | None]]:
    """[(name, role)] from "Satya Nadella ( chairman & CEO ) Brad Smith ( president )" style text."""
    if not text:
        return []
    people: list[tuple[str, str | None]] = []
    with_roles = re.findall(r"([^()]+?)\s*\(\s*([^()]*?)\s*\)", text)
    if with_roles:
        for raw_name, role in with_roles:
            name = clean_person_name(raw_name.strip(" ,"))
            if name:
                people.append((name, " ".join(role.split()) or None))
        return _unique_people(people)
    parts = [part.strip() for part in text.split(",") if part.strip()]
    for index in range(0, len(parts), 2):
        name = clean_person_name(parts[index])
        if name:
            people.append((name, parts[index + 1] if index + 1 < len(parts) else None))
    return _unique_people(people)


def _unique_people(people: list[tuple[str, str | None]]) -> list[tuple[str, str | None]]:
    seen: dict[str, tuple[str, str | None]] = {}
    for name, role in people:
        if name not in seen:
            seen[name] = (name, role)
    return list(seen.values())
