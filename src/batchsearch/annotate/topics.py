"""Rule-based topic detection over a small event taxonomy.

Topic ids use the wire form of the `topic` filter: a comma path from the broad group to the
event, e.g. ``business,earnings,earnings-beat`` or ``business,stock-prices,stock-price-volatility,down``.
Ids are lowercase; filters compare them case-insensitively (`canonical_topic_id`).

Each topic has a few regular-expression rules over phrases that announce the event
("beat analysts' estimates", "cut its full-year guidance", "agreed to acquire"). Rules allow a
few filler words inside a phrase ("raised its full-year 2025 revenue guidance") and never
cross a sentence end. A hit is dropped when a negator ("not", "no", "never", "n't", "without")
stands among the four words before it, so "did not miss estimates" and "no layoffs are
planned" yield nothing; rules that spell the negation themselves ("failed to beat
estimates" -> earnings-miss) are unaffected because the negator is inside the match.

`detect_topics(text)` returns every hit with the character offsets of the triggering phrase,
`text[hit.start:hit.end]`, in text order; one phrase can trigger more than one topic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Topic:
    """One taxonomy entry: wire id, display name and what it covers."""

    id: str
    name: str
    description: str


@dataclass(frozen=True, slots=True)
class TopicHit:
    """A detected topic and the character span of the phrase that triggered it."""

    id: str
    start: int
    end: int


# Up to N filler words inside a phrase ("raised its full-year 2025 revenue guidance").
_GAP2 = r"(?:[\w'$%.,&-]+\s+){0,2}?"
_GAP4 = r"(?:[\w'$%.,&-]+\s+){0,4}?"
# Words up to the end of the sentence (a period only when it is not a sentence end: "Corp. rose").
_SAME_SENTENCE = r"(?:[^.;!?\n]|\.(?=\d|\s(?-i:[a-z0-9]))){0,60}?"
_ESTIMATES = r"(?:expectations|estimates|forecasts?|consensus|projections|the street)"
_GUIDANCE = r"(?:guidance|outlook|forecasts?|(?<!price )targets?|projections)"
_UP_VERBS = r"(?:rose|rise|rises|rising|jumped|jumps|jumping|surged|surges|surging|soared|soars|soaring|climbed|climbs|gained|gains|rallied|rallies|advanced|advances|spiked|popped|leapt|leaped|were up|was up|closed up|traded up|hit (?:a |an )?(?:record|all-time|52-week) high)"
_DOWN_VERBS = r"(?:fell|falls|falling|dropped|drops|dropping|slid|slides|sliding|sank|sinks|sinking|plunged|plunges|plunging|tumbled|tumbles|tumbling|slumped|slumps|declined|declines|lost|sagged|retreated|were down|was down|closed down|traded down|hit (?:a |an )?(?:52-week|multi-year|record) low)"
_SHARES = r"(?:shares|stock|stocks|share price|stock price)"
_EXEC = r"(?:chief executive(?: officer)?|ceo|chief financial officer|cfo|chief operating officer|coo|president|chair(?:man|woman)?|chief technology officer|cto|head of \w+)"

_TAXONOMY: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("business,earnings,earnings-beat", "Earnings beat", "Results above analyst or company expectations.", (
        rf"\b(?:beat|beats|beating|topped|tops|topping|exceeded|exceeds|surpassed|surpasses|came in above|ahead of|above|outpaced) {_GAP4}{_ESTIMATES}",
        r"\b(?:better|stronger)[- ]than[- ](?:expected|anticipated|forecast)\b",
    )),
    ("business,earnings,earnings-miss", "Earnings miss", "Results below analyst or company expectations.", (
        rf"\b(?:missed|misses|missing|miss|came in below|below|short of|trailed|lagged) {_GAP4}{_ESTIMATES}",
        rf"\b(?:failed to|did not|didn't|could not) (?:beat|meet|match|top|reach) {_GAP4}{_ESTIMATES}",
        r"\b(?:fell|falls|fall|falling|came in) short\b",
        r"\b(?:weaker|worse|softer|lower)[- ]than[- ](?:expected|anticipated|forecast)\b",
    )),
    ("business,guidance,guidance-raised", "Guidance raised", "A company raises its own forecast.", (
        rf"\b(?:raised|raises|raising|lifted|lifts|lifting|boosted|boosts|increased|increases|upped|ups|hiked) {_GAP4}{_GUIDANCE}",
        rf"\b{_GUIDANCE} (?:was |is |were )?(?:raised|lifted|increased|boosted)\b",
    )),
    ("business,guidance,guidance-lowered", "Guidance lowered", "A company cuts or withdraws its own forecast.", (
        rf"\b(?:cut|cuts|cutting|lowered|lowers|lowering|slashed|slashes|trimmed|trims|reduced|reduces|withdrew|withdraws|suspended|pulled|scrapped) {_GAP4}{_GUIDANCE}",
        rf"\b{_GUIDANCE} (?:was |is |were )?(?:cut|lowered|slashed|trimmed|reduced|withdrawn)\b",
        r"\bprofit warnings?\b",
    )),
    ("business,guidance,guidance-reaffirmed", "Guidance reaffirmed", "A company confirms its existing forecast.", (
        rf"\b(?:reaffirmed|reaffirms|reaffirming|reiterated|reiterates|maintained|maintains|confirmed|confirms|affirmed|kept|stood by) {_GAP4}{_GUIDANCE}",
    )),
    ("business,mergers-acquisitions,acquisition", "Acquisition", "A company agrees to buy or has bought another company or asset.", (
        r"\b(?:agreed|agrees|agree|plans|plan|offered|offers|moved|moves|is set|deal|move|offer|proposal|bid|bids) to (?:acquire|buy|purchase|take over)\b",
        r"\b(?:acquired|acquires|acquiring|takeover of|takeover bid|takeover offer|buyout|tender offer|acquisition of)\b",
        r"\b(?:all-cash|all-stock|cash-and-stock) (?:deal|transaction|offer)\b",
    )),
    ("business,mergers-acquisitions,merger", "Merger", "Two companies combine.", (
        r"\b(?:merge|merges|merged|merging) with\b",
        r"\bmerger (?:agreement|of equals|with|talks|deal|plan)\b",
        r"\b(?:agreed|agree|plan|plans) to (?:merge|combine)\b",
    )),
    ("business,mergers-acquisitions,divestiture", "Divestiture", "A company sells or spins off a unit or stake.", (
        rf"\b(?:sell|sells|selling|sold|offload|offloads|offloaded|dispose of|disposed of) (?:its |the |a |part of its )?{_GAP2}(?:unit|division|business|stake|subsidiary|segment|operations|assets|arm)\b",
        r"\b(?:divest|divests|divested|divesting|divestiture|divestment|spin-off|spinoff|spin off|spins off|spun off|carve-out)\b",
    )),
    ("business,labor-issues,layoffs", "Layoffs", "Job cuts and workforce reductions.", (
        r"\b(?:layoffs?|lay off|lays off|laying off|laid off|job cuts|redundancies|workforce reductions?|reduction in force)\b",
        rf"\b(?:cut|cuts|cutting|eliminate|eliminates|eliminating|shed|sheds|shedding|axe|axes|axing|slash|slashes|slashing) {_GAP4}(?:jobs|positions|roles|employees|workers|staff|of its workforce)\b",
        r"\breduce (?:its |our )?(?:headcount|workforce)\b",
    )),
    ("business,labor-issues,strike", "Strike", "Workers strike or walk out.", (
        r"\b(?:went|go|goes|going|are|were|is) on strike\b",
        r"\b(?:walkout|walked off the job|work stoppage|labor strike|labour strike|strike action)\b",
        r"\b(?:workers|union|unions|employees|pilots|staff|machinists|dockworkers) (?:voted to |threatened to |plan to |launched a |began a )?strike\b",
    )),
    ("business,legal,lawsuit", "Lawsuit", "A lawsuit is filed against or by the company.", (
        r"\b(?:lawsuits?|class[- ]action|sued|sues|suing|filed (?:a )?(?:suit|complaint)|patent infringement|antitrust suit)\b",
    )),
    ("business,legal,settlement", "Legal settlement", "A company settles a lawsuit or regulatory case.", (
        rf"\b(?:settle|settled|settles|settling|settlement of|settlement with|settlement to resolve) {_GAP4}(?:lawsuits?|case|cases|claims|charges|suit|dispute|allegations|probe|litigation)\b",
        r"\bagreed to pay [^.;]{0,40}?\bto settle\b",
    )),
    ("business,legal,regulatory-investigation", "Regulatory investigation", "A regulator investigates, fines or subpoenas the company.", (
        r"\b(?:investigation|investigations|probe|probes|subpoena|subpoenaed|inquiry|investigating|probing|fined|penalty of|wells notice)\b",
    )),
    ("business,products,product-launch", "Product launch", "A new product or service is introduced.", (
        r"\b(?:launched|launches|launching|launch|unveiled|unveils|unveiling|introduced|introduces|introducing|debuted|debuts|rolled out|rolls out|rolling out|released|releases) (?:a |an |its |the |their )?(?:new|next-generation|latest|first|upgraded|flagship)\b",
        r"\b(?:product launch|went on sale|goes on sale|general availability|commercial launch)\b",
    )),
    ("business,products,product-recall", "Product recall", "A company recalls products.", (
        r"\b(?:product|safety|voluntary|vehicle|nationwide) recall\b",
        r"\brecall(?:s|ed|ing)? (?:of )?(?:about |nearly |more than |some |roughly )?[\d,.]+ (?:million |thousand )?(?:vehicles|cars|units|devices|products|trucks|packages|bottles)\b",
        r"\b(?:recalling|recalls|recalled) (?:its |some |certain |the )\w+",
    )),
    ("business,credit-ratings,credit-rating-upgrade", "Credit rating upgrade", "A rating agency raises the company's credit rating.", (
        rf"\b(?:moody's|s&p|fitch|standard & poor's|dbrs) {_GAP2}(?:upgraded|raised|lifted) {_GAP4}(?:rating|outlook)\b",
        r"\b(?:credit|debt|bond) rating (?:was |is )?(?:upgraded|raised)\b",
    )),
    ("business,credit-ratings,credit-rating-downgrade", "Credit rating downgrade", "A rating agency lowers the company's credit rating.", (
        rf"\b(?:moody's|s&p|fitch|standard & poor's|dbrs) {_GAP2}(?:downgraded|lowered|cut) {_GAP4}(?:rating|outlook)\b",
        r"\b(?:credit|debt|bond) rating (?:was |is )?(?:downgraded|lowered|cut)\b",
        r"\b(?:cut|downgraded|lowered) to junk\b",
    )),
    ("business,analyst-ratings,upgrade", "Analyst upgrade", "A broker raises its rating on the stock.", (
        r"\b(?:upgraded|upgrades|upgrading|upgrade)\b[^.;]{0,50}?\bto (?:buy|strong buy|outperform|overweight|accumulate|add|neutral|hold|equal[- ]weight|market perform|sector perform)\b",
        r"\b(?:upgraded|upgrades|upgrade) (?:the stock|the shares|shares|its rating|their rating)\b",
    )),
    ("business,analyst-ratings,downgrade", "Analyst downgrade", "A broker lowers its rating on the stock.", (
        r"\b(?:downgraded|downgrades|downgrading|downgrade)\b[^.;]{0,50}?\bto (?:sell|strong sell|underperform|underweight|reduce|neutral|hold|equal[- ]weight|market perform|sector perform)\b",
        r"\b(?:downgraded|downgrades|downgrade) (?:the stock|the shares|shares|its rating|their rating)\b",
    )),
    ("business,analyst-ratings,price-target-raised", "Price target raised", "A broker raises its price target.", (
        r"\b(?:raised|raises|lifted|lifts|increased|boosted|hiked) (?:its |their |the )?price target\b",
        r"\bprice target (?:was )?(?:raised|lifted|increased)\b",
    )),
    ("business,analyst-ratings,price-target-lowered", "Price target lowered", "A broker lowers its price target.", (
        r"\b(?:cut|cuts|lowered|lowers|reduced|trimmed|trims|slashed) (?:its |their |the )?price target\b",
        r"\bprice target (?:was )?(?:cut|lowered|reduced|trimmed)\b",
    )),
    ("business,executive-changes,executive-appointment", "Executive appointment", "A new executive or board chair is named.", (
        rf"\b(?:appointed|appoints|appointing|appointment of|named|names|naming|hired|hires|promoted|promotes|tapped|taps) {_GAP4}(?:as )?(?:its |the )?(?:new |next |interim )?{_EXEC}",
        rf"\b(?:new|incoming|interim) {_EXEC}\b",
        rf"\b(?:will succeed|to succeed|succeeds|succeeded|will replace|to replace|replaces|replaced) {_GAP4}(?:as )?{_EXEC}",
        rf"\b{_EXEC} succession\b",
    )),
    ("business,executive-changes,executive-departure", "Executive departure", "An executive resigns, retires or is removed.", (
        r"\b(?:resigned|resigns|resigning|resignation|stepped down|steps down|step down|stepping down|ousted|departure of|was fired|were fired|retirement of)\b",
        rf"\b{_EXEC} {_GAP4}(?:will retire|retired|is leaving|will leave|left|departed|exits)\b",
    )),
    ("business,capital-returns,buyback", "Share buyback", "A share repurchase programme.", (
        r"\b(?:buybacks?|share repurchases?|stock repurchases?|repurchase (?:program|programme|plan|authorization)|buy back|buys back|bought back|repurchased)\b",
    )),
    ("business,capital-returns,dividend-increase", "Dividend increase", "A higher or special dividend.", (
        r"\b(?:raised|raises|raising|increased|increases|increasing|hiked|hikes|boosted|boosts|lifted|lifts) (?:its |the )?(?:quarterly |annual |regular |interim |final )?(?:cash )?dividends?\b",
        r"\b(?:dividend (?:increase|hike|raise)|special dividend)\b",
    )),
    ("business,capital-returns,dividend-cut", "Dividend cut", "A lower, suspended or cancelled dividend.", (
        r"\b(?:cut|cuts|cutting|slashed|slashes|reduced|reduces|suspended|suspends|suspending|eliminated|eliminates|scrapped|scraps|halted|halts|omitted) (?:its |the )?(?:quarterly |annual |regular |interim |final )?(?:cash )?dividends?\b",
        r"\bdividend (?:cut|suspension|reduction)\b",
    )),
    ("business,bankruptcy,bankruptcy-filing", "Bankruptcy", "Insolvency filings and creditor protection.", (
        r"\b(?:bankruptcy|bankrupt|chapter 11|chapter 7|insolvency|insolvent|receivership|creditor protection)\b",
    )),
    ("business,cybersecurity,cyber-attack", "Cyber attack", "Hacks, data breaches and ransomware.", (
        r"\b(?:data breach|security breach|cyber ?attacks?|cyber-attacks?|ransomware|hackers|was hacked|were hacked|security incident|cyber incident)\b",
    )),
    ("business,contracts,contract-award", "Contract award", "The company wins or signs a significant contract or order.", (
        rf"\b(?:won|wins|winning|awarded|secured|secures|landed|lands|signed|signs|inked|inks) {_GAP4}(?:contract|contracts|order|orders|supply deal|supply agreement|deal with)\b",
    )),
    ("business,stock-prices,stock-price-volatility,up", "Stock price up", "The company's shares rise.", (
        rf"\b{_SHARES}\b{_SAME_SENTENCE}\b{_UP_VERBS}\b",
        rf"\b(?:sending|sent|pushing|pushed|lifting|lifted|driving|drove) (?:its |the )?{_SHARES} (?:up|higher|soaring|to a record)\b",
    )),
    ("business,stock-prices,stock-price-volatility,down", "Stock price down", "The company's shares fall.", (
        rf"\b{_SHARES}\b{_SAME_SENTENCE}\b{_DOWN_VERBS}\b",
        rf"\b(?:sending|sent|pushing|pushed|dragging|dragged|driving|drove) (?:its |the )?{_SHARES} (?:down|lower|tumbling|plunging|to a \d+-week low)\b",
    )),
    ("economy,trade,tariffs", "Tariffs", "Import duties and trade wars.", (
        r"\b(?:tariffs?|import (?:duties|duty|levies|levy|taxes)|trade war|anti-dumping|countervailing duties)\b",
    )),
    ("economy,trade,export-controls", "Export controls", "Export restrictions and sanctions on trade.", (
        r"\b(?:export (?:controls?|restrictions?|curbs?|bans?|licen[cs]es?)|entity list|trade sanctions)\b",
    )),
    ("economy,central-banks,rate-decision", "Central bank rate decision", "A central bank raises, cuts or holds its policy rate.", (
        rf"\b(?:federal reserve|the fed|fomc|european central bank|ecb|bank of england|bank of japan|bank of canada|swiss national bank|reserve bank of australia|people's bank of china|central bank|policymakers) {_GAP4}(?:raised|cut|lowered|hiked|held|kept|left|maintained|reduced|paused|raises|cuts|lowers|hikes|holds|keeps|leaves) {_GAP4}(?:interest )?rates?\b",
        r"\b(?:rate|interest-rate|interest rate) (?:decision|cut|cuts|hike|hikes|increase|reduction)\b",
        r"\b(?:cut|raised|lowered|hiked|held|kept) (?:its |the )?(?:benchmark|policy|key|main|overnight|deposit) (?:interest )?rate\b",
    )),
    ("economy,inflation,consumer-prices", "Inflation", "Consumer price data and inflation trends.", (
        r"\b(?:inflation|consumer price index|consumer prices|cpi|core pce|price pressures)\b",
    )),
)

TOPICS: tuple[Topic, ...] = tuple(Topic(tid, name, desc) for tid, name, desc, _ in _TAXONOMY)

_NEGATED = re.compile(r"\b(?:not|no|never|without|nor|cannot)\b|n't\b|\bdenied\b", re.IGNORECASE)
_NEGATION_WORDS = 4
_RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (tid, re.compile("|".join(f"(?:{rule})" for rule in rules), re.IGNORECASE))
    for tid, _, _, rules in _TAXONOMY
)
_BY_ID = {topic.id: topic for topic in TOPICS}


def canonical_topic_id(value: str) -> str:
    """The comparable form of a topic id: lowercase, no spaces around the commas."""
    return ",".join(part.strip() for part in value.lower().split(","))


def get_topic(topic_id: str) -> Topic | None:
    """The taxonomy entry for an id (case-insensitive), or None."""
    return _BY_ID.get(canonical_topic_id(topic_id))


def _is_negated(text: str, start: int) -> bool:
    """True when a negator is among the few words before `start` in the same sentence."""
    window = text[max(0, start - 60) : start]
    window = re.split(r"[.;!?]\s", window)[-1]
    words = window.split()[-_NEGATION_WORDS:]
    return bool(words) and _NEGATED.search(" ".join(words)) is not None


def detect_topics(text: str) -> list[TopicHit]:
    """Every topic phrase in `text`, as (id, start, end) character spans, in text order."""
    hits: list[TopicHit] = []
    for topic_id, pattern in _RULES:
        for match in pattern.finditer(text):
            if not _is_negated(text, match.start()):
                hits.append(TopicHit(topic_id, match.start(), match.end()))
    hits.sort(key=lambda hit: (hit.start, hit.end, hit.id))
    return hits
