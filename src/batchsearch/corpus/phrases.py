"""Word pools for the synthetic corpus: people, brokers, regulators, sectors and their products.

All names are invented. Surnames avoid words that are also well-known company names
("Ford", "Morgan", "Dell"...) so that people never look like unlabelled company mentions,
and brokers are fictional so that every real company in a text is one we labelled.
"""

from __future__ import annotations

FIRST_NAMES = (
    "Amara Andrea Anika Aurelio Beatriz Benedikt Camille Chiara Dalia Darius Elena Emeka Farah Felipe "
    "Freya Gideon Greta Hana Hiroshi Idris Ines Isak Jonas Josefina Kaito Kamala Karim Katarina Leandro "
    "Leila Lorenzo Lucia Magnus Malik Margit Mateo Mira Nadia Nikolai Noor Oskar Paloma Priya Quentin "
    "Rafael Ravi Rosalind Saoirse Sebastian Selin Soren Tamsin Teodor Thea Ulrich Valentina Vikram "
    "Wen Wilhelmina Xavier Yara Yusuf Zainab Zoltan Adaeze Bjorn Cosima Dmitri Esme Florian Giulia"
).split()

LAST_NAMES = (
    "Abernathy Achterberg Adeyemi Albrecht Alvarado Amundsen Arslan Bancroft Bellamy Bergstrom Brannigan "
    "Castellanos Chakraborty Cielo Dabrowski Delacroix Demir Drummond Eklund Esposito Falkenberg Ferreira "
    "Gallagher Garibaldi Grunewald Halvorsen Haddad Hollister Ibarra Ivanova Jablonski Jaramillo Kaczmarek "
    "Kowalczyk Kuroda Lindqvist Lombardi Maciel Marchetti Mbeki Moreau Nakagawa Nwosu Oyelaran Okonkwo "
    "Ortega Pacheco Pellegrini Quintero Rasmussen Renwick Rinaldi Saarinen Sandoval Sato Schuster "
    "Sekibo Silvestri Solberg Tanaka Thorsen Trevino Udeh Valcourt Vasquez Wachowski Wexford Yamamoto "
    "Zielinski Zubiri Ashcombe Beaumont Carrow Dunmore Ellery Fairbanks Gorecki Hartigan Inglewood"
).split()

BROKERS = (
    "Northcote Capital Markets", "Halvorsen & Pike", "Bellweather Securities", "Crescent Ridge Partners",
    "Ashford Lane Research", "Marlowe Brothers", "Tidemoor Equity Research", "Ironbridge Securities",
    "Falconridge Advisors", "Larkspur Capital", "Quarry Hill Securities", "Redfern & Stoll",
    "Saltmarsh Investment Research", "Vantage Row Partners", "Whitcombe Securities", "Grey Heron Markets",
    "Cobalt Street Research", "Granite Peak Capital", "Harborview Analytics", "Mistral Equity Partners",
)

REGULATORS = (
    "the Securities and Exchange Commission", "the Justice Department", "the Federal Trade Commission",
    "the European Commission", "Britain's Competition and Markets Authority", "a state attorney general",
    "the Consumer Financial Protection Bureau", "Germany's Federal Cartel Office",
)

PLAINTIFFS = (
    "a group of shareholders", "a former supplier", "a rival patent holder", "several pension funds",
    "a consumer advocacy group", "a coalition of franchisees", "former employees", "a state pension fund",
)

REGIONS = (
    "North America", "Europe", "Asia-Pacific", "China", "Latin America", "the Middle East", "Japan",
    "India", "Southeast Asia", "Germany", "the United Kingdom", "Brazil",
)

UNIONS = ("its largest union", "the machinists' union", "unionized warehouse staff", "its pilots' union",
          "factory workers", "dock and logistics staff")

COUNTRY_NAMES = {
    "US": "the United States", "GB": "the United Kingdom", "UK": "the United Kingdom", "DE": "Germany",
    "FR": "France", "JP": "Japan", "CN": "China", "CH": "Switzerland", "NL": "the Netherlands",
    "CA": "Canada", "IT": "Italy", "ES": "Spain", "SE": "Sweden", "FI": "Finland", "DK": "Denmark",
    "NO": "Norway", "BE": "Belgium", "IE": "Ireland", "AU": "Australia", "KR": "South Korea",
    "IN": "India", "BR": "Brazil", "TW": "Taiwan", "HK": "Hong Kong", "SG": "Singapore", "AT": "Austria",
    "United States": "the United States", "United Kingdom": "the United Kingdom",
    "Netherlands": "the Netherlands",
}

CENTRAL_BANKS = {
    "the United States": "the Federal Reserve", "the United Kingdom": "the Bank of England",
    "Japan": "the Bank of Japan", "Canada": "the Bank of Canada", "Switzerland": "the Swiss National Bank",
    "Australia": "the Reserve Bank of Australia", "China": "the People's Bank of China",
    "Sweden": "the Riksbank", "India": "the Reserve Bank of India", "Brazil": "Brazil's central bank",
}
EURO_AREA = frozenset({"Germany", "France", "the Netherlands", "Italy", "Spain", "Finland", "Belgium",
                       "Ireland", "Austria"})

# Sector families: keywords matched in the entity's sector/industry, then what such a company sells.
SECTOR_FAMILIES: tuple[tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]], ...] = (
    ("technology", ("tech", "software", "semiconductor", "computer", "internet", "electronic", "it "),
     ("cloud platform", "AI accelerator", "data-center chip", "security software suite", "developer platform",
      "analytics service", "networking switch", "smartphone", "laptop line", "subscription software"),
     ("cloud services", "data center", "enterprise software", "devices", "advertising", "semiconductors")),
    ("healthcare", ("health", "pharma", "biotech", "medical", "drug", "life science"),
     ("cancer drug", "obesity treatment", "diagnostic test", "surgical robot", "vaccine", "insulin pump",
      "gene therapy", "heart valve", "biosimilar", "imaging system"),
     ("pharmaceuticals", "medical devices", "diagnostics", "specialty care", "consumer health")),
    ("financials", ("financ", "bank", "insur", "capital markets", "asset management", "credit"),
     ("credit card", "wealth management platform", "digital banking app", "mortgage product",
      "commercial lending unit", "trading platform", "payments service", "insurance policy"),
     ("investment banking", "consumer banking", "wealth management", "trading", "insurance", "payments")),
    ("energy", ("energy", "oil", "gas", "petroleum", "utilities", "utility", "power", "renewable"),
     ("LNG project", "offshore field", "refinery upgrade", "solar farm", "wind project", "pipeline",
      "battery storage site", "shale acreage"),
     ("upstream", "refining", "renewables", "power generation", "gas distribution")),
    ("consumer", ("consumer", "retail", "food", "beverage", "apparel", "restaurant", "leisure", "household"),
     ("private-label range", "flagship store format", "loyalty program", "sneaker line", "snack brand",
      "beverage line", "delivery service", "skincare range", "home furnishings line"),
     ("grocery", "apparel", "beverages", "restaurants", "e-commerce", "beauty")),
    ("industrials", ("industr", "aerospace", "defense", "machinery", "transport", "logistic", "auto",
                     "material", "chemical", "construction", "basic"),
     ("aircraft engine", "electric truck", "robotics system", "freight network", "battery cell",
      "specialty chemical", "heat pump", "rail signalling system", "construction crane"),
     ("aerospace", "automotive", "logistics", "building products", "chemicals", "defense")),
    ("telecom", ("telecom", "communication", "media", "entertainment"),
     ("5G network", "streaming service", "fiber broadband plan", "satellite service", "sports package"),
     ("wireless", "broadband", "streaming", "content", "enterprise connectivity")),
)
DEFAULT_FAMILY = ("diversified", (), ("product line", "service offering", "flagship product",
                                      "digital platform", "premium range"),
                  ("core operations", "international business", "services", "products"))

PRODUCT_PREFIXES = ("Nova", "Apex", "Helix", "Vertex", "Lumen", "Orbit", "Quanta", "Solace", "Terra",
                    "Zephyr", "Pulse", "Atlas", "Nimbus", "Vela", "Corvid", "Kinetic", "Aurora", "Strata")
PRODUCT_SUFFIXES = ("X", "Pro", "One", "Max", "Edge", "Flow", "360", "Prime", "Core", "Lite", "Ultra")

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")
QUARTER_WORDS = ("first", "second", "third", "fourth")
US_STATES = ("Delaware", "Nevada", "New York", "California", "Texas", "Ohio", "Maryland", "Washington",
             "Pennsylvania", "New Jersey", "Massachusetts", "Minnesota")
STREETS = ("Harbor Boulevard", "Commerce Drive", "Market Street", "Innovation Way", "Lakeside Parkway",
           "Corporate Center Drive", "Ridge Road", "Riverfront Plaza", "Park Avenue South", "Summit Avenue")
CITIES = ("Wilmington", "Austin", "Charlotte", "Columbus", "Denver", "Minneapolis", "Phoenix", "Seattle",
          "Boston", "Atlanta", "San Jose", "Pittsburgh", "Nashville", "Raleigh")
