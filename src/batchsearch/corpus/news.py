"""News articles: an event's lead and details, then sections drawn from shared pools.

An article is a headline and 2-8 paragraphs. The first paragraph is the event lead plus a
detail; each further paragraph is one section (details, quote, market reaction, analyst view,
competitor context, company background, macro backdrop, what comes next), in that order, with
sections chosen at random and 2-3 sentences sampled from each section's pool.
"""

from __future__ import annotations

import random

from batchsearch.corpus import events_corporate, events_results
from batchsearch.corpus.events import Event
from batchsearch.corpus.text import TextBuilder

EVENTS: tuple[Event, ...] = events_results.EVENTS + events_corporate.EVENTS

REACTION_UP = (
    "Shares of {co} [rose|climbed|jumped|gained] {move} in [early|afternoon|late|extended] trading [on {weekday}|after the announcement], [outpacing|beating|outperforming] the broader market.",
    "The stock [closed|ended the session|finished] up {move} at {price}, [its biggest one-day gain|its strongest showing|the best performance] [since the spring|in several months|in more than a year].",
    "Trading volume was {volume_mult} the [30-day|three-month|daily] average as investors [piled into|bought|added to positions in] the stock.",
    "[With the move|After the rally|Following the gain], {co:short} shares are up [about|roughly|nearly] {pct_small} [this year|year to date|over the past 12 months].",
    "Options traders [bet on|positioned for] further gains, [with call volume surging|as call activity spiked|as call buying picked up] [in the afternoon|after the release].",
    "[The gain|The rise] added [about|roughly|more than] {deal_value} to the company's market value.",
    "The shares [hit|touched|reached] [an all-time high|a record|a 52-week high] of {price} [before paring gains|in intraday trading|shortly after the open].",
)
REACTION_DOWN = (
    "Shares of {co} [fell|slid|dropped|tumbled] {move} in [early|afternoon|late|extended] trading [on {weekday}|after the announcement], [underperforming|lagging|trailing] the broader market.",
    "The stock [closed|ended the session|finished] down {move} at {price}, [its biggest one-day drop|its worst showing|the steepest decline] [since the spring|in several months|in more than a year].",
    "Trading volume was {volume_mult} the [30-day|three-month|daily] average as investors [dumped|sold|cut positions in] the stock.",
    "[With the move|After the sell-off|Following the drop], {co:short} shares are down [about|roughly|nearly] {pct_small} [this year|year to date|over the past 12 months].",
    "Options traders [bought protection|positioned for further losses], [with put volume surging|as put activity spiked|as demand for puts jumped] [in the afternoon|after the release].",
    "[The decline|The drop] [wiped|erased] [about|roughly|more than] {deal_value} from the company's market value.",
    "The shares [hit|touched|sank to] [a 52-week low|a multi-year low|their lowest level since {month} of last year] of {price} [in intraday trading|shortly after the open].",
)
ANALYST_UP = (
    "\"[This was a clean quarter|These are strong numbers|The update was better than feared],\" {analyst}, an analyst at {broker}, wrote in a note to clients.",
    "{analyst} of {broker} said the [results|update] [should reassure investors|should support a higher valuation|showed the strategy was working].",
    "At least [two|three|four] brokerages, including {broker}, [raised|lifted] their price targets [after the report|on {weekday}].",
    "{broker} [reiterated|kept] its buy rating, [saying|noting] that {co:short} [remains|is still] [a top pick|its favourite name] in {sector}.",
    "\"[The market has been too pessimistic|Investors underestimated the recovery] on {co:short},\" said {analyst2}, [a portfolio manager|a fund manager] at {broker2}.",
)
ANALYST_DOWN = (
    "\"[This was a messy quarter|These are weak numbers|The update was worse than feared],\" {analyst}, an analyst at {broker}, wrote in a note to clients.",
    "{analyst} of {broker} said the [results|update] [raised questions about|cast doubt on|undermined] [the turnaround|management's targets|the growth story].",
    "At least [two|three|four] brokerages, including {broker}, [cut|lowered] their price targets [after the report|on {weekday}].",
    "{broker} [reiterated|kept] its sell rating, [saying|noting] that {co:short} [faces|is exposed to] [structural pressure|tougher competition|weaker pricing] in {sector}.",
    "\"[Investors had been too optimistic|The market was pricing in a recovery that isn't coming] on {co:short},\" said {analyst2}, [a portfolio manager|a fund manager] at {broker2}.",
)
PEER = (
    "Rival {peer} [reports|will report] results [next week|later this month|in the coming weeks], and investors will [watch for|look for] [signs of|clues about] demand in {segment}.",
    "Shares of {peer} [were little changed|moved in a narrow range|ended the day mixed] [on {weekday}|in the same session].",
    "The [update|news] [follows|comes after] comments from {peer}, which [recently|last month|this week] [pointed to|described] [similar|different] trends in {region}.",
    "{co:short} and {peer} [together account for|control] [about|roughly] {stake} of the {product} market, [according to|based on] [industry estimates|figures from {broker}].",
    "{peer} [has been investing heavily|is expanding capacity|has cut prices] in {segment}, [adding to|intensifying] competition [for|with] {co:short}.",
)
BACKGROUND = (
    "{co:short}, [based in|headquartered in] {country}, [employs|has] [about|roughly|more than] {employees} people [worldwide|across {region} and {region2}].",
    "The company [generates|earns] most of its revenue from {segment} and {segment2}.",
    "Founded [more than|about|nearly] {years} years ago, {co:short} is [best known|known] for its {product} and [sells to|serves] customers in {region} and {region2}.",
    "{co:short} [has spent|has been spending] [heavily|billions] on {product2} [in recent years|since {year}] [to diversify|to reduce its reliance on] {segment}.",
    "The company [counts|lists] [about|more than] {customers} [business customers|corporate clients|distributors] and [operates|runs] [plants|offices|sites] in [a dozen|more than 20|about 30] countries.",
)
MACRO = (
    "The broader market [was mixed|edged higher|slipped] [on {weekday}|in the session], with the [S&P 500|STOXX 600|Dow Jones Industrial Average|tech-heavy index] [moving|ending] {move_small} [higher|lower].",
    "Investors are [watching|focused on|parsing] [inflation data|central-bank signals|bond yields|the monthly jobs report] for clues on [the path of interest rates|the health of the economy|consumer demand].",
    "{central_bank} [is expected to|is widely seen to] [hold rates steady|cut rates|keep policy unchanged] at its [next meeting|meeting next month].",
    "[Ten-year Treasury yields|Government bond yields] [hovered|stood|traded] near [3.9%|4.1%|4.3%|4.6%], [while|and] the dollar [was steady|firmed|weakened] against major currencies.",
    "Earnings season [is in full swing|has been mixed so far|is entering its busiest week], with [roughly half|about a third|more than two-thirds] of large companies [having reported|yet to report].",
    "Consumer spending in {region} has [held up|softened|been uneven] [this year|in recent months], [according to|based on] [government data|industry surveys].",
    "Freight rates and [lead times|delivery times] [have largely normalised|remain elevated|are still adjusting] after [years of disruption|recent trade shifts].",
    "Inflation in {region} [was last reported at|stood at|ran at] {inflation}, [keeping pressure on|complicating the outlook for] policymakers.",
)
NEXT = (
    "{co:short} [is scheduled to|will] report {next_quarter_word}-quarter results on {report_date}.",
    "The company [will hold|plans to hold|has scheduled] an investor day in {month} [to outline|where it is expected to outline] [its medium-term targets|its strategy|new financial goals].",
    "Analysts will [look for|focus on|watch for] [updates on|progress on|commentary about] {product} [at the next earnings call|in coming months|when the company reports next].",
    "[A spokesperson|A representative] for {co:short} [declined to comment|did not respond to a request for comment|declined to comment beyond the statement].",
    "[The company|Management] [said|added] it would [provide more detail|give an update|share further information] [at its annual meeting|in its next quarterly report|later this year].",
)

# Article sections in reading order; "details" and "quote" come from the event itself.
SECTIONS = ("details", "quote", "reaction", "analyst", "peer", "background", "macro", "next")


def _section_pool(section: str, is_positive: bool) -> tuple[str, ...]:
    """The sentence templates of a shared section."""
    pools = {
        "reaction": REACTION_UP if is_positive else REACTION_DOWN,
        "analyst": ANALYST_UP if is_positive else ANALYST_DOWN,
        "peer": PEER,
        "background": BACKGROUND,
        "macro": MACRO,
        "next": NEXT,
    }
    return pools[section]


def choose_event(rng: random.Random, has_counterparty: bool) -> Event:
    """A weighted random event (events that need a second company only when there is one)."""
    candidates = [e for e in EVENTS if has_counterparty or not e.needs_counterparty]
    return rng.choices(candidates, weights=[e.weight for e in candidates])[0]


def compose_headline(builder: TextBuilder, rng: random.Random, event: Event, is_positive: bool) -> None:
    """Render one headline for the event."""
    builder.render(rng.choice(event.wording(is_positive).headlines))


def compose_body(builder: TextBuilder, rng: random.Random, event: Event, is_positive: bool) -> None:
    """Render the article body: a lead paragraph then 1-7 section paragraphs."""
    wording = event.wording(is_positive)
    # One shuffled order of the event details, so no detail sentence appears twice.
    details = rng.sample(wording.details + event.shared, len(wording.details) + len(event.shared))
    builder.paragraph([rng.choice(wording.leads), details[0]])
    chosen = sorted(rng.sample(range(len(SECTIONS)), rng.randint(1, 7)))
    for index in chosen:
        section = SECTIONS[index]
        size = rng.randint(2, 3)
        if section == "details":
            builder.paragraph(details[1 : 1 + size])
        elif section == "quote":
            extra = [details[-1]] if len(details) > 4 else []  # details section uses at most [1:4]
            builder.paragraph([rng.choice(wording.quotes), *extra])
        else:
            pool = _section_pool(section, is_positive)
            builder.paragraph(rng.sample(pool, min(size, len(pool))))
