"""Countries, US states and headquarters parsing: turn "Redmond, Washington , U.S." into a city and a country.

Pure functions over small built-in tables; no IO.
"""

from __future__ import annotations

import re

from batchsearch.kg.names import ascii_fold

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
    "LB": ("Lebanon", ()),
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

US_STATE_CODES: frozenset[str] = frozenset(
    """AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC
    ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY""".split()
)

# Sub-national regions elsewhere that appear in headquarters strings; never a city.
_OTHER_REGIONS: frozenset[str] = frozenset(
    ["Ontario", "Quebec", "British Columbia", "Alberta", "New South Wales", "Victoria", "Bavaria",
     "Upper Bavaria", "Hesse", "Baden-Württemberg", "North Rhine-Westphalia", "Lower Saxony",
     "Rhineland-Palatinate", "Saxony", "Île-de-France", "Hauts-de-Seine", "Essonne", "Yvelines",
     "Catalonia", "Galicia", "Andalusia", "Basque Country", "Community of Madrid", "Emilia-Romagna",
     "Piedmont", "Lombardy", "Aichi", "Kanagawa", "Hyogo", "Saitama", "Ibaraki", "Gunma", "Tochigi",
     "Nagano", "Gifu", "Mie", "Yamanashi", "Ishikawa", "Shiga", "Flanders", "Wallonia", "Zug", "Vaud",
     "Uusimaa", "Skåne", "Brabant", "North Brabant", "South Holland", "North Holland", "Berkshire",
     "Hertfordshire", "Surrey", "Essex", "Kent", "Greater London", "Greater Manchester",
     "West Midlands", "Merseyside"]
)

_CITY_RENAMES: dict[str, str] = {"New York City": "New York", "NYC": "New York"}
_WASHINGTON_DC = re.compile(r"Washington,?\s*D\.?\s?C\b")

# Words of an address or a building, never of a city name.
_ADDRESS_WORDS = re.compile(
    r"\b(campus|center|centre|tower|towers|building|street|road|avenue|drive|plaza|square|rue|"
    r"arrondissement|headquarters|house|boulevard|way|lane|and|ku|chome|floor|suite|fl|st\.(?= \w+ \w+))\b",
    re.IGNORECASE,
)
_CITY_SHAPE = re.compile(r"^[^\W\d_][\w.'’\- ]*$")
_LOWER_JOINERS = frozenset(
    ["of", "de", "del", "la", "le", "am", "an", "aan", "den", "en", "sur", "upon", "on", "im", "der", "di"]
)


def _build_country_lookup() -> dict[str, str]:
    lookup = {name.lower(): code for code, (name, _aliases) in COUNTRIES.items()}
    for code, (_name, aliases) in COUNTRIES.items():
        for alias in aliases:
            lookup[alias.lower().rstrip(".")] = code
    lookup.update(_PARSE_ONLY_COUNTRY_NAMES)
    return lookup


_COUNTRY_LOOKUP = _build_country_lookup()
_US_STATES_LOWER = frozenset(state.lower() for state in US_STATES)
_REGIONS_LOWER = frozenset(ascii_fold(region).lower() for region in _OTHER_REGIONS)


def country_name(code: str) -> str | None:
    """The English name of an ISO alpha-2 code we know, else None."""
    entry = COUNTRIES.get(code.upper())
    return entry[0] if entry else None


def country_code(text: str | None) -> str | None:
    """ISO alpha-2 code for a country name, alias or code ("U.S.", "Russian Federation", "FR")."""
    if not text:
        return None
    key = text.strip()
    if len(key) == 2 and key.upper() in COUNTRIES:
        return key.upper()
    return _country_from_name(key)


def _country_from_name(text: str) -> str | None:
    """Like country_code, but names only: in addresses "CA" or "IN" are US states, not countries."""
    return _COUNTRY_LOOKUP.get(text.strip().rstrip(".").lower())


def _leading_words(token: str) -> str:
    """The text of a token before any digits or coordinates ("Ohio 39°57′N" -> "Ohio")."""
    match = re.match(r"[^\d°(]+", token)
    return match.group(0).strip(" .") if match else ""


def _split_glued_country(token: str) -> list[str]:
    """Split a country name glued to a neighbour: "Alabama United States", "Netherlands Blagnac"."""
    words = token.split()
    if _is_region(token) or _country_from_name(token) is not None:
        return [token]
    for size in (3, 2, 1):
        if len(words) > size and _country_from_name(" ".join(words[-size:])) is not None:
            return [" ".join(words[:-size]), " ".join(words[-size:])]
        rest = " ".join(words[size:])
        if len(words) > size and _country_from_name(" ".join(words[:size])) is not None and rest != "City":
            return [" ".join(words[:size]), rest]
    return [token]


def _tokens(text: str) -> list[str]:
    without_notes = re.sub(r"\([^)]*\)", ",", text)
    first_location = re.split(r";| / ", without_notes)[0]
    tokens: list[str] = []
    for raw in re.split(r",", first_location):
        for part in _split_glued_country(" ".join(raw.split())):
            if part:
                tokens.append(part)
    return tokens


def looks_like_city(token: str) -> bool:
    """A plausible city name: 1-4 capitalised words, no digits, no street or building words."""
    if not token or not _CITY_SHAPE.match(token) or _ADDRESS_WORDS.search(token):
        return False
    words = token.split()
    if len(words) > 4:
        return False
    return all(word[0].isupper() or word.lower() in _LOWER_JOINERS for word in words)


def _is_region(token: str) -> bool:
    lower = ascii_fold(token).lower()
    if token in US_STATE_CODES or lower.startswith("canton of "):
        return True
    if lower.endswith((" prefecture", " county", " region", " district")):
        return True
    return lower in _US_STATES_LOWER or lower in _REGIONS_LOWER


def _is_us_region(token: str) -> bool:
    return token in US_STATE_CODES or token.lower() in _US_STATES_LOWER


def parse_location(text: str | None) -> tuple[str | None, str | None]:
    """(city, country code) from "City, State", "Campus, City, Country" and similar strings."""
    if not text or text.strip().lower() == "none":
        return None, None
    if _WASHINGTON_DC.search(text):
        return "Washington", "US"
    tokens = _tokens(text)
    anchor, country = _anchor(tokens)
    if anchor is None:
        return (_clean_city(tokens[0]) if len(tokens) == 1 else None), country
    if anchor + 1 < len(tokens) and _is_us_region(tokens[anchor]) and _is_region(_leading_words(tokens[anchor + 1])):
        # "New York, NY": a city named like its state
        return _CITY_RENAMES.get(tokens[anchor], tokens[anchor]), country
    if anchor > 0:
        return _clean_city(tokens[anchor - 1]), country
    return None, country


def _anchor(tokens: list[str]) -> tuple[int | None, str | None]:
    """Index of the first region or country token, and the country the tokens name."""
    country: str | None = None
    anchor: int | None = None
    for index, token in enumerate(tokens):
        words = _leading_words(token)
        code = _country_from_name(words)
        if code is not None:
            return (index if anchor is None else anchor), code
        if _is_region(words):
            country = country or ("US" if _is_us_region(words) else None)
            anchor = index if anchor is None else anchor
    return anchor, country


def _clean_city(token: str | None) -> str | None:
    """The city in a token: the token itself, or what follows the address in "1725 3rd St. San Francisco"."""
    if token is None or _is_region(token.strip()):
        return None
    city = token.strip()
    if not looks_like_city(city):
        leading = _leading_words(city)  # "Tokyo 100-0006": a postcode after the city
        city = leading if looks_like_city(leading) else _after_address(city)
    if not city or not looks_like_city(city) or _country_from_name(city) is not None or _is_region(city):
        return None
    return _CITY_RENAMES.get(city, city)


def _after_address(token: str) -> str:
    """"388 Greenwich Street New York City" -> "New York City"; "22 Avenue Montaigne Paris" -> "Paris"."""
    words = token.split()
    last_address = -1
    for index, word in enumerate(words):
        if any(ch.isdigit() for ch in word) or _ADDRESS_WORDS.fullmatch(word.rstrip(".,")):
            last_address = index
    rest = words[last_address + 1 :]
    is_european = last_address >= 1 and any(ch.isdigit() for ch in words[last_address - 1])
    if is_european and words[last_address].lower() in ("avenue", "rue", "boulevard"):
        # "22 Avenue Montaigne Paris": the street name follows the word, the city comes last
        rest = rest[-1:] if len(rest) > 1 else []
    if not rest:
        return ""
    if len(rest) > 1 and rest[0] in ("St.", "St"):
        rest = rest[1:]
    return " ".join(rest) if len(rest) <= 3 else ""
