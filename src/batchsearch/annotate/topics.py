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
`text[hit.start:hit.end]`, in text order; one phrase can trigger more than one topic, and a hit
inside a longer hit of the same topic is dropped.

Speed: a rule is written as literal lead phrases plus the regex that must follow one of them.
One Aho-Corasick pass over the lowercased text finds which leads occur, and only the rules they
open are run, so the cost is one automaton scan plus the few rules that can match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import ahocorasick


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
_ESTIMATES = r"(?:consensus (?:estimates?|forecasts?|expectations)|expectations|estimates|forecasts?|consensus|projections|the street)\b"
_GUIDANCE = r"(?:guidance|outlook|forecasts?|(?<!price )targets?|projections)\b"
_UP_VERBS = r"(?:rose|rise|rises|rising|jumped|jumps|jumping|surged|surges|surging|soared|soars|soaring|climbed|climbs|gained|gains|rallied|rallies|advanced|advances|spiked|popped|leapt|leaped|were up|was up|closed up|traded up|hit (?:a |an )?(?:record|all-time|52-week) high)\b"
_DOWN_VERBS = r"(?:fell|falls|falling|dropped|drops|dropping|slid|slides|sliding|sank|sinks|sinking|plunged|plunges|plunging|tumbled|tumbles|tumbling|slumped|slumps|declined|declines|lost|sagged|retreated|were down|was down|closed down|traded down|hit (?:a |an )?(?:52-week|multi-year|record) low)\b"
_SHARES = "shares|stock|stocks|share price|stock price"
_SHARES_RE = rf"(?:{_SHARES})"
_EXEC_LEADS = ("chief executive officer|chief executive|ceo|chief financial officer|cfo|chief operating officer|coo|"
               "president|chairman|chairwoman|chair|chief technology officer|cto")
_EXEC = rf"(?:{_EXEC_LEADS})\b"

# Each rule: literal lead phrases ("|"-separated) and the regex that must follow one of them.
# A rule is tried only when one of its leads occurs in the text, so a rule costs nothing on
# text that cannot match it; the compiled pattern is \b(?:leads)<tail>, case-insensitive.
Rule = tuple[str, str]
_TAXONOMY: tuple[tuple[str, str, str, tuple[Rule, ...]], ...] = (
    ("business,earnings,earnings-beat", "Earnings beat", "Results above analyst or company expectations.", (
        ("beat|beats|beating|topped|tops|topping|exceeded|exceeds|surpassed|surpasses|came in above|ahead of|above|outpaced", rf" {_GAP4}{_ESTIMATES}"),
        ("better than|better-than|stronger than|stronger-than", r"[- ](?:expected|anticipated|forecast)\b"),
    )),
    ("business,earnings,earnings-miss", "Earnings miss", "Results below analyst or company expectations.", (
        ("missed|misses|missing|miss|came in below|below|short of|trailed|lagged", rf" {_GAP4}{_ESTIMATES}"),
        ("failed to|did not|didn't|could not", rf" (?:beat|meet|match|top|reach) {_GAP4}{_ESTIMATES}"),
        ("fell short|falls short|fall short|falling short|came in short", ""),
        ("weaker than|weaker-than|worse than|worse-than|softer than|softer-than|lower than|lower-than", r"[- ](?:expected|anticipated|forecast)\b"),
    )),
    ("business,guidance,guidance-raised", "Guidance raised", "A company raises its own forecast.", (
        ("raised|raises|raising|lifted|lifts|lifting|boosted|boosts|increased|increases|upped|ups|hiked", rf" {_GAP4}{_GUIDANCE}"),
        ("guidance|outlook|forecast|forecasts|projections", r" (?:was |is |were )?(?:raised|lifted|increased|boosted)\b"),
    )),
    ("business,guidance,guidance-lowered", "Guidance lowered", "A company cuts or withdraws its own forecast.", (
        ("cut|cuts|cutting|lowered|lowers|lowering|slashed|slashes|trimmed|trims|reduced|reduces|withdrew|withdraws|suspended|pulled|scrapped", rf" {_GAP4}{_GUIDANCE}"),
        ("guidance|outlook|forecast|forecasts|projections", r" (?:was |is |were )?(?:cut|lowered|slashed|trimmed|reduced|withdrawn)\b"),
        ("profit warning|profit warnings", ""),
    )),
    ("business,guidance,guidance-reaffirmed", "Guidance reaffirmed", "A company confirms its existing forecast.", (
        ("reaffirmed|reaffirms|reaffirming|reiterated|reiterates|maintained|maintains|confirmed|confirms|affirmed|kept|stood by", rf" {_GAP4}{_GUIDANCE}"),
    )),
    ("business,mergers-acquisitions,acquisition", "Acquisition", "A company agrees to buy or has bought another company or asset.", (
        ("agreed|agrees|agree|plans|plan|offered|offers|moved|moves|is set|deal|move|offer|proposal|bid|bids", r" to (?:acquire|buy|purchase|take over)\b"),
        ("acquired|acquires|acquiring|takeover of|takeover bid|takeover offer|buyout|tender offer|acquisition of", ""),
        ("all-cash|all-stock|cash-and-stock", r" (?:deal|transaction|offer)\b"),
    )),
    ("business,mergers-acquisitions,merger", "Merger", "Two companies combine.", (
        ("merge|merges|merged|merging", r" with\b"),
        ("merger", r" (?:agreement|of equals|with|talks|deal|plan)\b"),
        ("agreed|agree|plan|plans", r" to (?:merge|combine)\b"),
    )),
    ("business,mergers-acquisitions,divestiture", "Divestiture", "A company sells or spins off a unit or stake.", (
        ("sell|sells|selling|sold|offload|offloads|offloaded|dispose of|disposed of", rf" (?:its |the |a |part of its )?{_GAP2}(?:unit|division|business|stake|subsidiary|segment|operations|assets|arm)\b"),
        ("divest|divests|divested|divesting|divestiture|divestment|spin-off|spinoff|spin off|spins off|spun off|carve-out", ""),
    )),
    ("business,labor-issues,layoffs", "Layoffs", "Job cuts and workforce reductions.", (
        ("layoff|layoffs|lay off|lays off|laying off|laid off|job cuts|redundancies|workforce reduction|workforce reductions|reduction in force", ""),
        ("cut|cuts|cutting|eliminate|eliminates|eliminating|shed|sheds|shedding|axe|axes|axing|slash|slashes|slashing", rf" {_GAP4}(?:jobs|positions|roles|employees|workers|staff|of its workforce)\b"),
        ("reduce", r" (?:its |our )?(?:headcount|workforce)\b"),
    )),
    ("business,labor-issues,strike", "Strike", "Workers strike or walk out.", (
        ("went|go|goes|going|are|were|is", r" on strike\b"),
        ("walkout|walked off the job|work stoppage|labor strike|labour strike|strike action", ""),
        ("workers|union|unions|employees|pilots|staff|machinists|dockworkers", r" (?:voted to |threatened to |plan to |launched a |began a )?strike\b"),
    )),
    ("business,legal,lawsuit", "Lawsuit", "A lawsuit is filed against or by the company.", (
        ("lawsuit|lawsuits|class action|class-action|sued|sues|suing|patent infringement|antitrust suit", ""),
        ("filed", r" (?:a )?(?:suit|complaint)\b"),
    )),
    ("business,legal,settlement", "Legal settlement", "A company settles a lawsuit or regulatory case.", (
        ("settle|settled|settles|settling|settlement of|settlement with|settlement to resolve", rf" {_GAP4}(?:lawsuits?|case|cases|claims|charges|suit|dispute|allegations|probe|litigation)\b"),
        ("agreed to pay", r" [^.;]{0,40}?\bto settle\b"),
    )),
    ("business,legal,regulatory-investigation", "Regulatory investigation", "A regulator investigates, fines or subpoenas the company.", (
        ("investigation|investigations|probe|probes|subpoena|subpoenaed|inquiry|investigating|probing|fined|penalty of|wells notice", ""),
    )),
    ("business,products,product-launch", "Product launch", "A new product or service is introduced.", (
        ("launched|launches|launching|launch|unveiled|unveils|unveiling|introduced|introduces|introducing|debuted|debuts|rolled out|rolls out|rolling out|released|releases", r" (?:a |an |its |the |their )?(?:new|next-generation|latest|first|upgraded|flagship)\b"),
        ("product launch|went on sale|goes on sale|general availability|commercial launch", ""),
    )),
    ("business,products,product-recall", "Product recall", "A company recalls products.", (
        ("product|safety|voluntary|vehicle|nationwide", r" recall\b"),
        ("recall|recalls|recalled|recalling", r" (?:of )?(?:about |nearly |more than |some |roughly )?[\d,.]+ (?:million |thousand )?(?:vehicles|cars|units|devices|products|trucks|packages|bottles)\b"),
        ("recalling|recalls|recalled", r" (?:its |some |certain |the )\w+"),
    )),
    ("business,credit-ratings,credit-rating-upgrade", "Credit rating upgrade", "A rating agency raises the company's credit rating.", (
        ("moody's|s&p|fitch|standard & poor's|dbrs", rf" {_GAP2}(?:upgraded|raised|lifted) {_GAP4}(?:rating|outlook)\b"),
        ("credit rating|debt rating|bond rating", r" (?:was |is )?(?:upgraded|raised)\b"),
    )),
    ("business,credit-ratings,credit-rating-downgrade", "Credit rating downgrade", "A rating agency lowers the company's credit rating.", (
        ("moody's|s&p|fitch|standard & poor's|dbrs", rf" {_GAP2}(?:downgraded|lowered|cut) {_GAP4}(?:rating|outlook)\b"),
        ("credit rating|debt rating|bond rating", r" (?:was |is )?(?:downgraded|lowered|cut)\b"),
        ("cut|downgraded|lowered", r" to junk\b"),
    )),
    ("business,analyst-ratings,upgrade", "Analyst upgrade", "A broker raises its rating on the stock.", (
        ("upgraded|upgrades|upgrading|upgrade", r"\b[^.;]{0,50}?\bto (?:buy|strong buy|outperform|overweight|accumulate|add|neutral|hold|equal[- ]weight|market perform|sector perform)\b"),
        ("upgraded|upgrades|upgrade", r" (?:the stock|the shares|shares|its rating|their rating)\b"),
    )),
    ("business,analyst-ratings,downgrade", "Analyst downgrade", "A broker lowers its rating on the stock.", (
        ("downgraded|downgrades|downgrading|downgrade", r"\b[^.;]{0,50}?\bto (?:sell|strong sell|underperform|underweight|reduce|neutral|hold|equal[- ]weight|market perform|sector perform)\b"),
        ("downgraded|downgrades|downgrade", r" (?:the stock|the shares|shares|its rating|their rating)\b"),
    )),
    ("business,analyst-ratings,price-target-raised", "Price target raised", "A broker raises its price target.", (
        ("raised|raises|lifted|lifts|increased|boosted|hiked", r" (?:its |their |the )?price target\b"),
        ("price target", r" (?:was )?(?:raised|lifted|increased)\b"),
    )),
    ("business,analyst-ratings,price-target-lowered", "Price target lowered", "A broker lowers its price target.", (
        ("cut|cuts|lowered|lowers|reduced|trimmed|trims|slashed", r" (?:its |their |the )?price target\b"),
        ("price target", r" (?:was )?(?:cut|lowered|reduced|trimmed)\b"),
    )),
    ("business,executive-changes,executive-appointment", "Executive appointment", "A new executive or board chair is named.", (
        ("appointed|appoints|appointing|appointment of|named|names|naming|hired|hires|promoted|promotes|tapped|taps", rf" {_GAP4}(?:as )?(?:its |the )?(?:new |next |interim )?{_EXEC}"),
        ("new|incoming|interim", rf" {_EXEC}"),
        ("will succeed|to succeed|succeeds|succeeded|will replace|to replace|replaces|replaced", rf" {_GAP4}(?:as )?{_EXEC}"),
        (_EXEC_LEADS, r" succession\b"),
    )),
    ("business,executive-changes,executive-departure", "Executive departure", "An executive resigns, retires or is removed.", (
        ("resigned|resigns|resigning|resignation|stepped down|steps down|step down|stepping down|ousted|departure of|was fired|were fired|retirement of", ""),
        (_EXEC_LEADS, rf" {_GAP4}(?:will retire|retired|is leaving|will leave|left|departed|exits)\b"),
    )),
    ("business,capital-returns,buyback", "Share buyback", "A share repurchase programme.", (
        ("buyback|buybacks|share repurchase|share repurchases|stock repurchase|stock repurchases|repurchase program|repurchase programme|repurchase plan|repurchase authorization|buy back|buys back|bought back|repurchased", ""),
    )),
    ("business,capital-returns,dividend-increase", "Dividend increase", "A higher or special dividend.", (
        ("raised|raises|raising|increased|increases|increasing|hiked|hikes|boosted|boosts|lifted|lifts", r" (?:its |the )?(?:quarterly |annual |regular |interim |final )?(?:cash )?dividends?\b"),
        ("dividend increase|dividend hike|dividend raise|special dividend", ""),
    )),
    ("business,capital-returns,dividend-cut", "Dividend cut", "A lower, suspended or cancelled dividend.", (
        ("cut|cuts|cutting|slashed|slashes|reduced|reduces|suspended|suspends|suspending|eliminated|eliminates|scrapped|scraps|halted|halts|omitted", r" (?:its |the )?(?:quarterly |annual |regular |interim |final )?(?:cash )?dividends?\b"),
        ("dividend cut|dividend suspension|dividend reduction", ""),
    )),
    ("business,bankruptcy,bankruptcy-filing", "Bankruptcy", "Insolvency filings and creditor protection.", (
        ("bankruptcy|bankrupt|chapter 11|chapter 7|insolvency|insolvent|receivership|creditor protection", ""),
    )),
    ("business,cybersecurity,cyber-attack", "Cyber attack", "Hacks, data breaches and ransomware.", (
        ("data breach|security breach|cyberattack|cyberattacks|cyber attack|cyber attacks|cyber-attack|cyber-attacks|ransomware|hackers|was hacked|were hacked|security incident|cyber incident", ""),
    )),
    ("business,contracts,contract-award", "Contract award", "The company wins or signs a significant contract or order.", (
        ("won|wins|winning|awarded|secured|secures|landed|lands|signed|signs|inked|inks", rf" {_GAP4}(?:contract|contracts|order|orders|supply deal|supply agreement|deal with)\b"),
    )),
    ("business,stock-prices,stock-price-volatility,up", "Stock price up", "The company's shares rise.", (
        (_SHARES, rf"\b{_SAME_SENTENCE}\b{_UP_VERBS}"),
        ("sending|sent|pushing|pushed|lifting|lifted|driving|drove", rf" (?:its |the )?{_SHARES_RE} (?:up|higher|soaring|to a record)\b"),
    )),
    ("business,stock-prices,stock-price-volatility,down", "Stock price down", "The company's shares fall.", (
        (_SHARES, rf"\b{_SAME_SENTENCE}\b{_DOWN_VERBS}"),
        ("sending|sent|pushing|pushed|dragging|dragged|driving|drove", rf" (?:its |the )?{_SHARES_RE} (?:down|lower|tumbling|plunging|to a \d+-week low)\b"),
    )),
    ("economy,trade,tariffs", "Tariffs", "Import duties and trade wars.", (
        ("tariff|tariffs|import duties|import duty|import levies|import levy|import taxes|trade war|anti-dumping|countervailing duties", ""),
    )),
    ("economy,trade,export-controls", "Export controls", "Export restrictions and sanctions on trade.", (
        ("export", r" (?:controls?|restrictions?|curbs?|bans?|licen[cs]es?)\b"),
        ("entity list|trade sanctions", ""),
    )),
    ("economy,central-banks,rate-decision", "Central bank rate decision", "A central bank raises, cuts or holds its policy rate.", (
        ("federal reserve|the fed|fomc|european central bank|ecb|bank of england|bank of japan|bank of canada|swiss national bank|reserve bank of australia|people's bank of china|central bank|policymakers",
         rf" {_GAP4}(?:raised|cut|lowered|hiked|held|kept|left|maintained|reduced|paused|raises|cuts|lowers|hikes|holds|keeps|leaves) {_GAP4}(?:interest )?rates?\b"),
        ("rate|interest-rate|interest rate", r" (?:decision|cut|cuts|hike|hikes|increase|reduction)\b"),
        ("cut|raised|lowered|hiked|held|kept", r" (?:its |the )?(?:benchmark|policy|key|main|overnight|deposit) (?:interest )?rate\b"),
    )),
    ("economy,inflation,consumer-prices", "Inflation", "Consumer price data and inflation trends.", (
        ("inflation|consumer price index|consumer prices|cpi|core pce|price pressures", ""),
    )),
)

TOPICS: tuple[Topic, ...] = tuple(Topic(tid, name, desc) for tid, name, desc, _ in _TAXONOMY)

_NEGATED = re.compile(r"\b(?:not|no|never|without|nor|cannot)\b|n't\b|\bdenied\b", re.IGNORECASE)
_NEGATION_WORDS = 4
_BY_ID = {topic.id: topic for topic in TOPICS}


def _compile_rule(leads: str, tail: str) -> re.Pattern[str]:
    """\\b(?:lead|lead...)<tail>, with a closing word boundary when the tail is empty."""
    alternatives = "|".join(re.escape(lead) for lead in sorted(leads.split("|"), key=len, reverse=True))
    return re.compile(rf"\b(?:{alternatives})" + (tail or r"\b"), re.IGNORECASE)


def _build_rules() -> tuple[tuple[tuple[str, re.Pattern[str]], ...], ahocorasick.Automaton]:
    """The compiled rules, and an automaton mapping each lowercase lead to the rules it opens."""
    rules: list[tuple[str, re.Pattern[str]]] = []
    opens: dict[str, set[int]] = {}
    for topic_id, _, _, topic_rules in _TAXONOMY:
        for leads, tail in topic_rules:
            for lead in leads.split("|"):
                opens.setdefault(lead.lower(), set()).add(len(rules))
            rules.append((topic_id, _compile_rule(leads, tail)))
    automaton = ahocorasick.Automaton()
    for lead, indexes in opens.items():
        automaton.add_word(lead, tuple(sorted(indexes)))
    automaton.make_automaton()
    return tuple(rules), automaton


_RULES, _LEADS = _build_rules()


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
    opened: set[int] = set()
    for _, indexes in _LEADS.iter(text.lower()):
        opened.update(indexes)
    hits: list[TopicHit] = []
    for index in sorted(opened):
        topic_id, pattern = _RULES[index]
        for match in pattern.finditer(text):
            if not _is_negated(text, match.start()):
                hits.append(TopicHit(topic_id, match.start(), match.end()))
    return _drop_nested(hits)


def _drop_nested(hits: list[TopicHit]) -> list[TopicHit]:
    """Hits in text order, without those inside a longer hit of the same topic."""
    kept: list[TopicHit] = []
    last_end: dict[str, int] = {}
    for hit in sorted(hits, key=lambda h: (h.start, -h.end, h.id)):
        if hit.end <= last_end.get(hit.id, -1):
            continue
        kept.append(hit)
        last_end[hit.id] = hit.end
    return kept
