"""Countries, US states and headquarters parsing: turn "Redmond, Washington , U.S." into a city and a country.

Pure functions over small built-in tables; no IO.
"""

from __future__ import annotations

import re

# ISO 3166-1 alpha-2 -> (English name, other names used in prose). The other names are also
# detection aliases, so only unambiguous ones are listed ("Georgia" and "Jersey" are left out:
# in financial news they are far more often the US state / "New Jersey").
COUNTRIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "AE": ("United Arab Emirates", ("UAE",)),
    "AR": ("Argentina", ()),
    "AT": ("Austria", ()),
    "AU": ("Australia", ()),
    "BE": ("Belgium", ()),
    "BM": ("Bermuda", ()),
    "BR": ("Brazil", ()),
    "BS": ("Bahamas", ("The Bahamas",)),
    "CA": ("Canada", ()),
    "CH": ("Switzerland", ()),
    "CL": ("Chile", ()),
    "CN": ("China", ("People's Republic of China", "PRC")),
    "CO": ("Colombia", ()),
    "CY": ("Cyprus", ()),
    "CZ": ("Czech Republic", ("Czechia",)),
    "DE": ("Germany", ()),
    "DK": ("Denmark", ()),
    "EG": ("Egypt", ()),
    "ES": ("Spain", ()),
    "FI": ("Finland", ()),
    "FR": ("France", ()),
    "GB": ("United Kingdom", ("UK", "U.K.", "Britain", "Great Britain")),
    "GG": ("Guernsey", ()),
    "GR": ("Greece", ()),
    "HK": ("Hong Kong", ()),
    "HU": ("Hungary", ()),
    "ID": ("Indonesia", ()),
    "IE": ("Ireland", ()),
    "IL": ("Israel", ()),
    "IM": ("Isle of Man", ()),
    "IN": ("India", ()),
    "IS": ("Iceland", ()),
    "IT": ("Italy", ()),
    "JP": ("Japan", ()),
    "KR": ("South Korea", ("Korea",)),
    "KY": ("Cayman Islands", ()),
    "KZ": ("Kazakhstan", ()),
    "LU": ("Luxembourg", ()),
    "MA": ("Morocco", ()),
    "MC": ("Monaco", ()),
    "MX": ("Mexico", ()),
    "MY": ("Malaysia", ()),
    "NG": ("Nigeria", ()),
    "NL": ("Netherlands", ("The Netherlands", "Holland")),
    "NO": ("Norway", ()),
    "NZ": ("New Zealand", ()),
    "PE": ("Peru", ()),
    "PH": ("Philippines", ()),
    "PL": ("Poland", ()),
    "PR": ("Puerto Rico", ()),
    "PT": ("Portugal", ()),
    "QA": ("Qatar", ()),
    "RO": ("Romania", ()),
    "RU": ("Russia", ("Russian Federation",)),
    "SA": ("Saudi Arabia", ()),
    "SE": ("Sweden", ()),
    "SG": ("Singapore", ()),
    "TH": ("Thailand", ()),
    "TR": ("Turkey", ("Türkiye",)),
    "TW": ("Taiwan", ()),
    "UA": ("Ukraine", ()),
    "US": ("United States", ("United States of America", "USA", "U.S.", "U.S.A.", "US")),
    "VN": ("Vietnam", ()),
    "ZA": ("South Africa", ()),
}

# Names that identify a country when parsing addresses, but are not detection aliases.
_PARSE_ONLY_COUNTRY_NAMES: dict[str, str] = {
    "us": "US", "u.s": "US", "united states": "US", "england": "GB", "scotland": "GB", "wales": "GB",
    "northern ireland": "GB", "jersey": "JE", "the netherlands": "NL", "deutschland": "DE",
}

US_STATES: frozenset[str] = frozenset(
    """Alabama Alaska Arizona Arkansas California Colorado Connecticut Delaware Florida Georgia Hawaii
    Idaho Illinois Indiana Iowa Kansas Kentucky Louisiana Maine Maryland Massachusetts Michigan Minnesota
    Mississippi Missouri Montana Nebraska Nevada Ohio Oklahoma Oregon Pennsylvania Tennessee Texas Utah
    Vermont Virginia Washington Wisconsin Wyoming""".split()
) | frozenset(
    ["New Hampshire", "New Jersey", "New Mexico", "New York", "North Carolina", "North Dakota",
     "Rhode Island", "South Carolina", "South Dakota", "West Virginia", "D.C.", "DC", "District of Columbia"]
)

# Sub-national regions elsewhere that appear in headquarters strings; never a city.
_OTHER_REGIONS: frozenset[str] = frozenset(
    ["Ontario", "Quebec", "British Columbia", "Alberta", "Bavaria", "Hesse", "Baden-Württemberg",
     "North Rhine-Westphalia", "Lower Saxony", "Rhineland-Palatinate", "Saxony", "Île-de-France",
     "Catalonia", "Aichi", "Kanagawa", "Hyogo", "Saitama", "Ibaraki", "Gunma", "Tochigi", "Nagano",
     "Gifu", "Mie", "Yamanashi", "Ishikawa", "Shiga", "Chiba Prefecture", "North-East Region",
     "Flanders", "Wallonia", "Lombardy", "Zug", "Canton of Zug", "Uusimaa", "Skåne", "Brabant",
     "North Brabant", "South Holland", "North Holland"]
)

_CITY_RENAMES: dict[str, str] = {"New York City": "New York", "NYC": "New York"}
_WASHINGTON_DC = re.compile(r"Washington,?\s*D\.?\s?C\b")

_NOT_CITY_WORDS = re.compile(
    r"\b(campus|center|centre|park|tower|building|street|st|road|avenue|drive|plaza|field|square|"
    r"arrondissement|headquarters|house|place|boulevard|way|lane|and|ku|chome|floor|suite)\b",
    re.IGNORECASE,
)
_CITY_SHAPE = re.compile(r"^[^\W\d_][\w.'’\- ]*$")
_LOWER_JOINERS = frozenset(["of", "de", "del", "la", "le", "am", "an", "sur", "upon", "on", "im", "der", "di"])


def _build_country_lookup() -> dict[str, str]:
    lookup = {name.lower(): code for code, (name, _aliases) in COUNTRIES.items()}
    for code, (_name, aliases) in COUNTRIES.items():
        for alias in aliases:
            lookup[alias.lower().rstrip(".")] = code
    lookup.update(_PARSE_ONLY_COUNTRY_NAMES)
    return lookup


_COUNTRY_LOOKUP = _build_country_lookup()
_US_STATES_LOWER = frozenset(state.lower() for state in US_STATES)
_REGIONS_LOWER = frozenset(region.lower() for region in _OTHER_REGIONS)


def country_name(code: str) -> str | None:
    """The English name of an ISO alpha-2 code we know, else None."""
    entry = COUNTRIES.get(code.upper())
    return entry[0] if entry else None


def country_code(text: str | None) -> str | None:
    """ISO alpha-2 code for a country name, alias or code ("U.S.", "Russian Federation", "FR")."""
    if not text:
        return None
    key = text.strip().rstrip(".").lower()
    if key.upper() in COUNTRIES and len(key) == 2:
        return key.upper()
    return _COUNTRY_LOOKUP.get(key)


def _leading_words(token: str) -> str:
    """The text of a token before any digits or coordinates ("Ohio 39°57′N" -> "Ohio")."""
    match = re.match(r"[^\d°(]+", token)
    return match.group(0).strip(" .") if match else ""


def _split_trailing_country(token: str) -> list[str]:
    """"Alabama United States" -> ["Alabama", "United States"]; other tokens unchanged."""
    for name in ("United States", "United Kingdom", "U.S.", "US", "UK"):
        if token.endswith(" " + name) and len(token) > len(name) + 1:
            return [token[: -len(name)].strip(), name]
    return [token]


def _tokens(text: str) -> list[str]:
    first_location = re.split(r";", text)[0]
    tokens: list[str] = []
    for raw in re.split(r",", first_location):
        for part in _split_trailing_country(" ".join(raw.split())):
            if part:
                tokens.append(part)
    return tokens


def looks_like_city(token: str) -> bool:
    """A plausible city name: 1-4 capitalised words, no digits, no street or building words."""
    if not token or not _CITY_SHAPE.match(token) or _NOT_CITY_WORDS.search(token):
        return False
    words = token.split()
    if len(words) > 4:
        return False
    return all(word[0].isupper() or word.lower() in _LOWER_JOINERS for word in words)


def _is_region(token: str) -> bool:
    lower = token.lower()
    return lower in _US_STATES_LOWER or lower in _REGIONS_LOWER


def parse_location(text: str | None) -> tuple[str | None, str | None]:
    """(city, country code) from "City, State", "Campus, City, Country" and similar strings."""
    if not text or text.strip().lower() == "none":
        return None, None
    if _WASHINGTON_DC.search(text):
        return "Washington", "US"
    tokens = _tokens(text)
    country: str | None = None
    anchor: int | None = None
    for index, token in enumerate(tokens):
        words = _leading_words(token)
        code = country_code(words)
        if code is not None:
            country = code
            anchor = index if anchor is None else anchor
            break
        if _is_region(words):
            country = country or ("US" if words.lower() in _US_STATES_LOWER else None)
            anchor = index if anchor is None else anchor
    if anchor is None:
        city = tokens[-1] if len(tokens) == 1 else None
    else:
        city = tokens[anchor - 1] if anchor > 0 else None
    return _clean_city(city), country


def _clean_city(city: str | None) -> str | None:
    if city is None:
        return None
    city = _CITY_RENAMES.get(city, city).strip()
    if not looks_like_city(city) or country_code(city) is not None or _is_region(city):
        return None
    return city
