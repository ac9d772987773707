"""Earnings-call transcripts: operator, investor relations, CEO and CFO remarks, Q&A, close.

Each part is one paragraph starting with the speaker ("Operator:", "Name, Chief Executive
Officer:"); sentences come from pools with alternatives, so two calls share structure but
rarely wording. Tone follows the quarter (beat or miss) and the guidance move.
"""

from __future__ import annotations

import random

from batchsearch.corpus.text import TextBuilder

HEADLINES = (
    "{co:full} Q{q} {fy} Earnings Call",
    "{co:full}, Q{q} {fy} Earnings Call, {call_date}",
    "{co:full} Q{q} FY{fy} Earnings Call Transcript",
    "{co:full} Fiscal {fy} {quarter_title} Quarter Earnings Conference Call",
    "{co:full} {quarter_title} Quarter {fy} Results Conference Call",
)
TICKER_HEADLINE = "{co:full} ({co:ticker}) Q{q} {fy} Earnings Call Transcript"

OPERATOR_GREETING = (
    "Operator: [Good morning|Good afternoon|Good day|Hello], [and welcome|everyone, and welcome|ladies and gentlemen, and welcome] to the {co:full} [fiscal {fy} {quarter_word}-quarter|{quarter_word}-quarter {fy}|Q{q} {fy}] [earnings|results|financial results] [conference call|call|webcast].",
)
OPERATOR_MIDDLE = (
    "[My name is|I'm] {operator}, and I will be your [operator|conference facilitator|moderator] today.",
    "[All participants are in listen-only mode|At this time, all lines are muted|Participants are currently in a listen-only mode].",
    "[After the prepared remarks|Following management's comments|Later in the call], we will [conduct|hold|open the line for] a question-and-answer session.",
    "[As a reminder|Please note], this [call|conference] is being recorded [today, {call_date}|on {call_date}].",
    "[If you need assistance|Should you require assistance] during the call, [press star zero|please signal an operator]."
)
OPERATOR_HANDOVER = (
    "I would now like to [turn the call over to|hand the conference over to|introduce] {ir_head}, [Head of Investor Relations|Vice President of Investor Relations|Investor Relations Director]. [Please go ahead|You may begin|Over to you].",
)
IR_OPENING = (
    "{ir_head}, Investor Relations: [Thank you|Thanks], [operator|{operator}]. [Good afternoon|Good morning|Hello], [everyone|and thank you for joining us].",
)
IR_MIDDLE = (
    "[With me today|Joining me on the call today|On the call with me] are {ceo}, [our Chief Executive Officer|Chief Executive Officer|CEO], and {cfo}, [our Chief Financial Officer|Chief Financial Officer|CFO].",
    "[Today's discussion|Some of the statements we make today|Comments made on this call] [will include|may include|contain] forward-looking statements [about|regarding|concerning] [our outlook|future results|expectations for the business], which are subject to risks and uncertainties.",
    "Actual results [may|could] differ materially [from those projected|from these statements|from our expectations] [due to|because of|as a result of] [a variety of factors|factors described in our filings|risks outlined in our most recent annual report].",
    "We [undertake no obligation|assume no obligation|do not intend] to update [these statements|any forward-looking statement] [except as required by law|after today|unless required].",
    "[We will also refer to|We'll also discuss|Our remarks include] non-GAAP [measures|financial measures|metrics]; reconciliations [are included|can be found] in [the earnings release|our press release|the appendix to the slides].",
    "[Our earnings release|The press release] and [supplemental materials|the slide deck|the financial tables] are [available|posted] on [our investor relations website|the IR section of our website].",
)
CEO_OPENING = {
    True: (
        "{ceo}, Chief Executive Officer: Thank you, {ir_first}, and thanks to everyone for joining. [We delivered|{co:short} delivered] [a strong|an excellent|another solid] {quarter_word} quarter, with revenue of {revenue}, up {growth} year over year.",
        "{ceo}, Chief Executive Officer: Thanks, {ir_first}. [I'm pleased to report|I am happy to share] that we [exceeded|beat] our own plan this quarter, [growing revenue|with sales up] {growth} to {revenue}.",
    ),
    False: (
        "{ceo}, Chief Executive Officer: Thank you, {ir_first}, and thanks to everyone for joining. [This was a challenging quarter|Our results were below our expectations|The quarter was tougher than we planned], with revenue of {revenue}, down {decline} year over year.",
        "{ceo}, Chief Executive Officer: Thanks, {ir_first}. [I want to be direct|Let me start with the headline]: we [fell short of|did not meet] our own plan this quarter, as sales [declined|fell] {decline} to {revenue}.",
    ),
}
CEO_TONE = {
    True: (
        "Demand for our {product} [remained strong|accelerated|exceeded our expectations] [in every region|across {region}|throughout the quarter], and our backlog [grew|expanded] again.",
        "[We gained share|Our share grew|We won share] in {segment}, [particularly|especially] in {region}, [as customers consolidated onto our platform|helped by new wins|on the strength of our product roadmap].",
        "Margins [expanded|improved|widened] as [pricing held|our productivity programs delivered|mix shifted toward higher-value products].",
        "[Customer retention|Renewal rates|Repeat orders] [reached|hit|climbed to] [a record|the highest level in our history|new highs].",
    ),
    False: (
        "Demand for our {product} [softened|slowed|weakened] [in several regions|across {region}|late in the quarter], and customers [delayed|pushed out|deferred] orders.",
        "[We lost some share|Competition intensified|Pricing became more aggressive] in {segment}, [particularly|especially] in {region}, [and we did not respond quickly enough|which weighed on volumes|as {peer} cut prices].",
        "Margins [contracted|narrowed|came under pressure] as [input costs rose|we absorbed higher freight|mix shifted toward lower-value products].",
        "[We are taking action|We have started a program|We are moving quickly] to [reduce costs|simplify the organization|reset our cost base], and we expect [savings of {savings}|benefits to show up next year|improvement in the second half].",
    ),
}
CEO_STRATEGY = (
    "[Turning to strategy|On strategy|Looking at our priorities], we continue to invest in {product2} and [expect it to|believe it will|see it becoming] [a meaningful contributor|a larger part of the business|a growth driver] [by {fy}|over the next few years|in the medium term].",
    "We [opened|added|expanded] [capacity|sites|distribution] in {region2} [this quarter|during the period|recently], [which positions us|positioning us|and that positions us] to [serve customers faster|capture demand|lower delivery times].",
    "[Our balance sheet remains strong|We ended the quarter with {cash} in cash], giving us flexibility to [invest|pursue acquisitions|return capital] [while staying disciplined|at the right time|through the cycle].",
    "[We signed|We added|We onboarded] [about|more than|roughly] {customers} new customers, [including|among them] [several large enterprises|two of the largest firms in {segment}|a major government agency].",
    "[Automation|Artificial intelligence|Our data platform] [is starting to|has begun to|continues to] [improve productivity|lower our cost to serve|shorten development cycles] across {segment}.",
    "[I want to thank|Let me thank|I'd like to recognize] our [employees|teams|{employees} colleagues] for their [dedication|hard work|focus on customers] [this quarter|through a busy period|during the transition].",
)
CFO_OPENING = (
    "{cfo}, Chief Financial Officer: Thank you, {ceo_first}. [Total revenue|Revenue] for the quarter was {revenue}, compared with {revenue_prev} in the prior-year period.",
    "{cfo}, Chief Financial Officer: Thanks, {ceo_first}, and good [morning|afternoon], everyone. [Let me walk through|I'll take you through] the numbers: revenue came in at {revenue}, versus {revenue_prev} a year ago.",
)
CFO_NUMBERS = (
    "{segment} revenue was {segment_revenue}, and {segment2} contributed {segment2_revenue}.",
    "Gross margin was {margin}, [up|down] {margin_bp} [from a year ago|year over year|sequentially].",
    "Operating expenses were {opex}, [reflecting|including] [continued investment in {product2}|higher marketing spend|restructuring costs].",
    "Diluted earnings per share were {eps}, compared with {eps_prev} in the same quarter last year.",
    "[Free cash flow|Cash flow from operations] was {fcf}, and we [ended the quarter|closed the period] with {cash} in cash and {debt} of debt.",
    "Our effective tax rate was {tax_rate}, [in line with|slightly above|slightly below] our expectations.",
    "Capital expenditures were {capex}, [mostly for|primarily for|largely related to] [capacity|technology|new facilities] in {region}.",
    "[We repurchased|We bought back] [about|roughly] {buyback} of stock [during the quarter|in the period] and paid dividends of {dividend} per share.",
)
GUIDANCE = {
    "raised": "[We are raising|We're increasing] our full-year revenue outlook to {guide_low} to {guide_high}, [from|up from] {guide_old} previously.",
    "lowered": "[We are lowering|We're reducing] our full-year revenue outlook to {guide_low} to {guide_high}, [from|down from] {guide_old} previously.",
    "reaffirmed": "[We are reaffirming|We reiterate] our full-year revenue outlook of {guide_low} to {guide_high}.",
}
GUIDANCE_NEXT = (
    "For the {next_quarter_word} quarter, we expect revenue [in the range of|between] {q_guide_low} and {q_guide_high}.",
    "[For the full year|For fiscal {fy}], we [now expect|are targeting|see] earnings per share of {eps_guide_low} to {eps_guide_high}.",
    "[Our outlook assumes|This guidance assumes] [current exchange rates|no major change in demand|stable pricing] and [excludes|does not include] [acquisition-related costs|one-time items].",
)
QA_OPEN = "Operator: [We will now begin|We'll now start|Let's begin] the question-and-answer session. [Our first question comes from|The first question is from] {analyst} with {broker}. [Please go ahead|Your line is open]."
QA_NEXT = "Operator: [Our next question comes from|The next question is from|We now have a question from] {analyst} with {broker}. [Please go ahead|Your line is open|Go ahead, please]."
QUESTIONS = (
    "{analyst}, {broker}: [Thanks for taking my question|Hi, thanks|Great, thank you]. Can you [talk about|give us more color on|unpack] [demand trends in {region}|pricing in {segment}|the {product} pipeline|gross margin drivers]?",
    "{analyst}, {broker}: [Good afternoon|Hi, everyone]. [How should we think about|What are your assumptions for|How are you planning] [operating expenses|margins|growth] [in the second half|next year|for fiscal {fy}]?",
    "{analyst}, {broker}: [Thank you|Thanks]. [I wanted to ask about|Could you comment on|A question on] [capital allocation|the impact of tariffs|inventory levels in the channel|your hiring plans], and [whether anything has changed|how that evolves] [since last quarter|from here]?",
    "{analyst}, {broker}: [Congrats on the quarter|Thanks for the detail]. [On|Regarding] {product2}, [when do you expect|what's the timeline for|how quickly can we see] [meaningful revenue|a contribution to margins|broader customer adoption]?",
)
ANSWERS = (
    "{ceo}, Chief Executive Officer: [That's a great question|Thanks for the question|Sure]. [What we're seeing|The trend we see|Our read] is that customers [are prioritizing|continue to prioritize|remain focused on] [efficiency|reliability|total cost] in {segment}, and that [plays to our strengths|favors our platform|supports our pricing].",
    "{cfo}, Chief Financial Officer: [On margins|On costs|On the second half], [we expect|we're planning for|we see] [gradual improvement|a modest step-up|continued discipline], with [pricing|productivity|mix] [offsetting|more than offsetting|partly offsetting] [inflation|wage increases|freight costs].",
    "{ceo}, Chief Executive Officer: [We remain|We're] [excited about|confident in|focused on] {product2}; [early customer feedback|the pilot results|the order pipeline] [has been encouraging|looks promising|is building], and we'll [share more|update you] [at our investor day|next quarter|as it scales].",
    "{cfo}, Chief Financial Officer: [On capital allocation|In terms of capital], our priorities [are unchanged|remain the same]: [invest in the business first|fund growth], [then|and then] [return excess cash|buy back shares|pay the dividend] [while keeping leverage around|staying near] [two times|our target range].",
    "{cfo}, Chief Financial Officer: [Inventory|Channel inventory|Working capital] [is|looks|remains] [healthy|close to normal|a bit elevated] in {region}, and we [expect|anticipate] it to [normalize|improve] [over the next two quarters|by year end].",
    "{ceo}, Chief Executive Officer: [On tariffs|Regarding trade], we [have diversified|have been adjusting] our supply chain [for some time|since last year], so [the direct impact is limited|we can absorb most of it|pricing should offset much of it].",
)
CLOSING = (
    "Operator: [That concludes|This concludes] [our question-and-answer session|the Q&A portion of today's call]. I'd like to turn the call back to {ceo} for closing remarks.",
    "{ceo}, Chief Executive Officer: [Thank you all for joining|Thanks, everyone, for your time]. [We are excited about|We remain focused on|We look forward to] [the opportunities ahead|executing on our plan|updating you next quarter].",
    "Operator: [This concludes today's conference call|Thank you for participating]. [You may now disconnect|Have a good day]."
)


def compose_headline(builder: TextBuilder, rng: random.Random, has_ticker: bool) -> None:
    """Render a call title that names the company and the fiscal period."""
    options = HEADLINES + ((TICKER_HEADLINE,) if has_ticker else ())
    builder.render(rng.choice(options))


def compose_body(builder: TextBuilder, rng: random.Random, is_positive: bool, guidance: str) -> None:
    """Render the whole call: introduction, prepared remarks, Q&A and close."""
    builder.paragraph([*OPERATOR_GREETING, *rng.sample(OPERATOR_MIDDLE, 2), *OPERATOR_HANDOVER])
    ir = rng.sample(IR_MIDDLE, 4)
    builder.paragraph([*IR_OPENING, *ir[:2]])
    builder.paragraph(ir[2:])
    _prepared_remarks(builder, rng, is_positive, guidance)
    _questions_and_answers(builder, rng)
    builder.paragraph(list(CLOSING))


def _prepared_remarks(builder: TextBuilder, rng: random.Random, is_positive: bool, guidance: str) -> None:
    """CEO remarks then CFO numbers and guidance."""
    tone = rng.sample(CEO_TONE[is_positive], 3)
    strategy = rng.sample(CEO_STRATEGY, 4)
    builder.paragraph([rng.choice(CEO_OPENING[is_positive]), tone[0]])
    builder.paragraph([tone[1], strategy[0], tone[2]])
    builder.paragraph(strategy[1 : rng.randint(2, 4)])
    numbers = rng.sample(CFO_NUMBERS, 6)
    builder.paragraph([rng.choice(CFO_OPENING), *numbers[:2]])
    builder.paragraph(numbers[2 : rng.randint(4, 6)])
    builder.paragraph([GUIDANCE[guidance], *rng.sample(GUIDANCE_NEXT, 2)])


def _questions_and_answers(builder: TextBuilder, rng: random.Random) -> None:
    """Two or three analyst questions, each with one or two answers."""
    questions = rng.sample(QUESTIONS, 3)
    answers = rng.sample(ANSWERS, 6)
    for turn, suffix in enumerate(("", "2", "3")[: rng.randint(2, 3)]):
        intro = QA_OPEN if turn == 0 else QA_NEXT
        names = {"{analyst}": "{analyst" + suffix + "}", "{broker}": "{broker" + suffix + "}"}
        builder.paragraph([_rename(intro, names), _rename(questions[turn], names)])
        builder.paragraph(answers[2 * turn : 2 * turn + rng.randint(1, 2)])


def _rename(template: str, names: dict[str, str]) -> str:
    """The template with analyst/broker slots switched to the given turn's slots."""
    for old, new in names.items():
        template = template.replace(old, new)
    return template
