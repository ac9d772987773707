"""The finance sentiment lexicon: scored words and phrases, negators, intensifiers, neutralisers.

Each block below is plain text, one entry group per line: ``<value>: term, term, ...``.
A term is one word or a multi-word phrase (lowercase, hyphens written as spaces because the
tokenizer splits on them). Scores run from 0.5 (faint) to 3.0 (strong); every inflected form
is listed explicitly so that lookup is a single dictionary hit, with no stemming at run time.

Roles:

* sentiment terms add their score (sign = polarity);
* *directional* terms (rise, fall, higher, narrowed, cut...) carry a default polarity that
  flips when they move an *adverse quantity* (costs, losses, debt...): "debt fell" is good news;
* *adverse* terms are those quantities; when a directional term moves one, the adverse term's
  own score is dropped so the pair counts once;
* negators flip and dampen the next few sentiment terms; some ("failed to") also score;
* intensifiers multiply the nearest sentiment term (> 1 boosts, < 1 dampens);
* neutralisers are phrases that mean nothing for sentiment although they contain scored
  words ("declined to comment", "subject to regulatory approval"): matching them consumes
  the words.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Role(str, Enum):
    """What a lexicon term does when it matches."""

    SENTIMENT = "sentiment"
    NEGATOR = "negator"
    INTENSIFIER = "intensifier"
    NEUTRAL = "neutral"


@dataclass(frozen=True, slots=True)
class Term:
    """One lexicon entry: its role, its value (score or multiplier) and its flags."""

    words: tuple[str, ...]
    role: Role
    value: float
    is_directional: bool = False
    is_adverse: bool = False


POSITIVE = """
3.0: skyrocket, skyrocketed, blowout, stellar, outstanding, exceptional, stunning, spectacular, record breaking, all time high, best ever, triumph
2.5: beat expectations, beat estimates, beats estimates, beats expectations, beat forecasts, topped estimates, topped expectations, tops estimates, better than expected, ahead of expectations, ahead of estimates, above expectations, above estimates, above consensus, raised guidance, raised its guidance, raises guidance, lifted guidance, lifted its guidance, raised its outlook, raised its forecast, raises its forecast, lifted its outlook, boosted its outlook, breakthrough, blockbuster
2.0: beat, beats, beating, topped, surpassed, surpasses, exceeded, exceeds, rally, rallies, rallied, rallying, outperform, outperforms, outperformed, outperforming, upgrade, upgrades, upgraded, upgrading, strong, stronger, strongest, robust, successful, success, successfully, profitable, excellent, impressive, boom, booming, cheered, cheer, thrive, thrives, thrived, thriving, win, wins, winning, upbeat, optimistic, optimism, bullish, buy rating, overweight, outperform rating, dividend increase, dividend hike, raised its dividend, raises its dividend, special dividend, returned to profit, returned to profitability, back to profit, new high, record high, record revenue, record sales, record profit, record earnings, 52 week high, week high, approval, approved, approves, wins approval, won approval, dismissed the lawsuit, solid, healthy, resilient, resilience, momentum, tailwind, tailwinds, upside
1.5: sold out, take share, took share, taking share, takes share, gained share, gaining share, growth, gain, gains, gained, gaining, rebound, rebounds, rebounded, rebounding, recover, recovers, recovered, recovering, recovery, improve, improves, improved, improving, improvement, improvements, profitability, won, boost, boosts, boosted, boosting, accretive, favorable, favourable, positive, confident, confidence, record, strength, strengthened, strengthening, expansion, benefit, benefits, benefited, benefiting, benefitted, attractive, opportunity, opportunities, buyback, buybacks, share repurchase, repurchase program, secured, secures, awarded, outpaced, outpacing, exceeding, traction, beneficial, efficient, efficiency, efficiencies, raised its price target, raises price target, raised the price target, lifted its price target, price target raised
1.0: help, helps, helped, helping, meet expectations, met expectations, met its, meet its, met the, meet the, on track, steady, stable, stability, turnaround, upside surprise, welcome, welcomed, praise, praised, innovative, innovation, popular, promising, encouraging, encouraged, progress, advance, advances, advanced, advancing, earned, surplus, well positioned, good, great, best, better, margin expansion, recommended, endorse, endorsed, buy back, buys back, bought back, renew, renews, renewed, renewal, renewals, brisk
0.5: profit, profits, delivered, delivers, deliver, delivering
"""

NEGATIVE = """
3.0: collapse, collapses, collapsed, collapsing, crash, crashes, crashed, crashing, bankruptcy, bankrupt, chapter 11, insolvency, insolvent, fraud, fraudulent, catastrophic, disastrous, disaster, tank, tanks, tanked, tanking, record loss, record losses, wiped out, wiping out, wipes out, profit warning, going concern
2.5: missed expectations, missed estimates, misses estimates, misses expectations, miss estimates, miss expectations, fell short, falls short, fall short, falling short, worse than expected, below expectations, below estimates, below consensus, cut its guidance, cuts its guidance, cut guidance, cuts guidance, lowered guidance, lowered its guidance, lowers guidance, lowers its guidance, slashed its guidance, cut its outlook, lowered its outlook, cut its forecast, lowered its forecast, trimmed its forecast, trimmed its outlook, withdrew its guidance, withdrew guidance, suspended its guidance, deteriorate, deteriorates, deteriorated, deteriorating, deterioration, slump, slumps, slumped, slumping, nosedive, nosedived, class action, sued, sues, sue, suing, indicted, indictment, scandal, default, defaulted, recession
2.0: miss, misses, missed, missing, downgrade, downgrades, downgraded, downgrading, weak, weaker, weakest, weakness, weakening, weakened, disappoint, disappoints, disappointed, disappointing, disappointment, layoff, lay off, lays off, laid off, laying off, job cuts, cut jobs, cutting jobs, eliminate jobs, eliminating jobs, eliminated jobs, redundancies, write down, write downs, writedown, write off, writeoff, recall, recalls, recalled, recalling, faulty, defect, defective, failed, fail, fails, failing, failure, failures, dump, dumps, dumped, dumping, warned, warns, warning, warn, suspended, suspends, suspend, halted, halts, halt, halting, fined, fine of, penalty, penalties, probe, probes, investigation, investigations, subpoena, subpoenaed, misleading, misled, sell rating, underweight, underperform, underperforms, underperformed, underperforming, bearish, pessimistic, pessimism, gloomy, grim, bleak, cyberattack, cyber attack, breach, hack, hacked, ransomware, outage, outages, disrupted, disruption, disruptions, disrupt, strike, strikes, walkout, walked off, walk off, under pressure, pressured, squeeze, squeezed, squeezes, squeezing, headwind, took a hit, take a hit, hit by, hurt, hurts, hurting, bad, poor, poorly, worst, worse, struggle, struggles, struggled, struggling, troubled, trouble, distress, distressed, shortfall, shortfalls, volatile, turmoil, crisis, losing, lost, lose, loses, 52 week low, week low, record low, new low, resigned abruptly, ousted, fired, scrapped, scraps, abandoned, abandons, cancelled, canceled, delisted, delisting, junk, sell off, selloff, antitrust, accused, accusing, accuses, allegations, alleged, violation, violations, worried, worry, feared, concern, concerned
1.5: lost share, losing share, loses share, inquiry, inquiries, drag, drags, dragged, weigh on, weighs on, weighed on, weighing on, weighed, piled up, piling up, tariff, tariffs, restrictions, sanctions, dilutive, delay, delays, delayed, delaying, problem, problems, challenging, challenges, difficult, difficulty, tough, uncertain, negative, adverse, adversely, unfavorable, unfavourable, costly, expensive, downturn, slowdown, sluggish, soft, softer, softness, contraction, shortage, shortages, downside, cautious, caution, overhang, excess inventory, oversupply, glut, bottleneck, bottlenecks, restructuring charge, restructuring charges, dividend cut, cut its dividend, cuts its dividend, slashed its dividend, lowered its price target, cut its price target, cuts price target, price target cut, cut the price target, lowered the price target
1.0: pulled back, pull back, pulls back, pulling back, slow, slower, restructuring, litigation, dispute, disputes, resign, resigned, resigns, resignation, departure, depart, departs, departed, exit, exits, stepped down, steps down, step down, strong dollar, debt burden, accusation, mixed, muted
"""

# Directional terms: their polarity flips when they move an adverse quantity ("costs rose").
# Values are the default polarity, i.e. when the thing moving is neutral or good.
DIRECTIONAL = """
3.0: soar, soars, soared, soaring, skyrocketing
2.0: surge, surges, surged, surging, jump, jumps, jumped, jumping, doubled, tripled
1.5: rise, rises, rose, rising, risen, increase, increases, increased, increasing, expand, expands, expanded, expanding, accelerate, accelerates, accelerated, accelerating, climb, climbs, climbed, climbing, grow, grows, grew, growing, grown
1.0: higher, widened, widening, widen, widens, above, up, raise, raises, raised, raising, lift, lifts, lifted, lifting
-1.0: lower, lowered, lowers, lowering, below, down, narrowed, narrowing, narrows, reduce, reduces, reduced, reducing, reduction, fewer, dismissed, eased, easing, eases, ease, slowed, slowing
-1.5: fall, falls, fell, falling, fallen, decline, declines, declined, declining, decrease, decreases, decreased, decreasing, cut, cuts, cutting, shrink, shrinks, shrank, shrinking, shrunk, contracted, contracting, trimmed, trims, trim, halved
-2.0: drop, drops, dropped, dropping, slash, slashes, slashed, slashing, slide, slides, slid, sliding
-2.5: sink, sinks, sank, sinking, sunk
-3.0: plunge, plunges, plunged, plunging, plummet, plummets, plummeted, plummeting, tumble, tumbles, tumbled, tumbling
"""

# Adverse quantities: going up is bad, going down is good. Score 0 means "no score of its own".
ADVERSE = """
-2.0: loss, losses, net loss, lawsuit, lawsuits, fears, concerns, worries, layoffs, defaults
-1.5: inflation, impairment, impairments, writedowns, headwinds, churn, delinquencies, charge offs, deficit, unemployment, uncertainty
-1.0: risk, risks, volatility, pressure, charges, charge, dilution
0.0: cost, costs, expense, expenses, opex, debt, leverage, liabilities, burn, cash burn, outflows, borrowing, borrowings, provisions, tax rate, spreads, short interest, prices paid
"""

NEGATORS = """
0.0: not, no, never, without, neither, nor, none, nothing, nobody, cannot, cant, don't, doesn't, didn't, isn't, aren't, wasn't, weren't, won't, wouldn't, can't, couldn't, hasn't, haven't, hadn't, shouldn't, no longer, lack of, lacked, lacks, absence of, avoid, avoids, avoided, avoiding, averted, averts, avert, free of, rather than, instead of, far from
-1.5: failed to, fails to, fail to, failing to, unable to, could not, did not manage to, struggled to, struggles to
"""

INTENSIFIERS = """
1.6: sharply, sharp, steeply, steep, dramatically, dramatic, massively, massive, hugely, huge, substantially, substantial, significantly, significant, considerably, considerable, markedly, strongly, extremely, very, deeply, deep, heavily, severely, severe, remarkably, exceptionally, far, well, much, comfortably, abruptly, sudden, suddenly, big, bigger, biggest
1.3: further, more than expected, again, increasingly, notably, solidly
0.5: slightly, slight, marginally, marginal, modestly, modest, somewhat, mildly, mild, partly, partially, a bit, a little, little, fractionally, barely, nominally
"""

NEUTRALISERS = """
declined to comment, declined comment, did not respond, did not immediately respond, no comment, subject to regulatory approval, subject to regulatory approvals, subject to shareholder approval, subject to customary closing conditions, little changed, in line, in line with, unchanged, upgrade cycle, risk factors, forward looking, safe harbor, no obligation, no assurance, not be construed, please go ahead, operator instructions, record date, on record, for the record, rate cut, rate cuts, rate hike, rate hikes, cut rates, cut interest rates, raised rates, raised interest rates, hiked rates, lowered rates, lowered interest rates, held rates, strike price, strike a deal, struck a deal, price target, in the fall, in charge, by default, chief risk officer, risk management, market share, no change, not only, not just, no doubt, as well, so far, up to, set up, sets up, setting up, signed up, make up, makes up, made up, follow up, down payment, more than, top line
"""


def _parse(block: str, role: Role, *, is_directional: bool = False, is_adverse: bool = False) -> list[Term]:
    """Parse one `<value>: term, term` block into terms."""
    terms: list[Term] = []
    for line in block.strip().splitlines():
        value_text, _, items = line.partition(":")
        value = float(value_text)
        for item in items.split(","):
            words = tuple(item.split())
            if words:
                terms.append(Term(words, role, value, is_directional, is_adverse))
    return terms


def _parse_neutralisers(block: str) -> list[Term]:
    """Parse the comma-separated neutraliser phrases."""
    phrases = (item.split() for item in block.replace("\n", " ").split(","))
    return [Term(tuple(words), Role.NEUTRAL, 0.0) for words in phrases if words]


def _signed(terms: list[Term], sign: float) -> list[Term]:
    """The same terms with their values multiplied by `sign`."""
    return [Term(t.words, t.role, t.value * sign, t.is_directional, t.is_adverse) for t in terms]


def build_lexicon() -> dict[str, tuple[Term, ...]]:
    """All terms keyed by their first word, longest phrase first (later blocks win on ties)."""
    merged: dict[tuple[str, ...], Term] = {}
    for term in (
        *_parse(POSITIVE, Role.SENTIMENT),
        *_signed(_parse(NEGATIVE, Role.SENTIMENT), -1.0),
        *_parse(ADVERSE, Role.SENTIMENT, is_adverse=True),
        *_parse(DIRECTIONAL, Role.SENTIMENT, is_directional=True),
        *_parse(INTENSIFIERS, Role.INTENSIFIER),
        *_parse(NEGATORS, Role.NEGATOR),
        *_parse_neutralisers(NEUTRALISERS),
    ):
        merged[term.words] = term
    by_first: dict[str, list[Term]] = {}
    for term in merged.values():
        by_first.setdefault(term.words[0], []).append(term)
    return {word: tuple(sorted(ts, key=lambda t: -len(t.words))) for word, ts in by_first.items()}
