"""News events about results and capital: earnings, guidance, analyst ratings, shareholder returns, M&A."""

from __future__ import annotations

from batchsearch.corpus.events import Event, Wording

EARNINGS = Event(
    "earnings", 18.0,
    positive=Wording(
        headlines=(
            "{co} [beats|tops] [estimates|Street forecasts|expectations] as {segment} [demand|sales] [surges|accelerates]",
            "{co} quarterly profit [jumps|rises|climbs] on [strong|robust|resilient] {segment} sales",
            "{co} Q{q} results [beat|top] [expectations|consensus]; shares [rise|climb|jump]",
            "{co} posts [record|better-than-expected] quarterly revenue of {revenue}",
            "{co} earnings [top|beat] estimates, revenue up {growth}",
            "Strong {product} demand lifts {co} [results|profit] past forecasts",
            "{co} [sails past|handily beats|comfortably beats] {quarter_word}-quarter [estimates|forecasts]",
        ),
        leads=(
            "{co} reported {quarter_word}-quarter earnings that beat analysts' estimates on {weekday}, as revenue rose {growth} to {revenue} on [strong|robust|resilient] demand for its {product}.",
            "{co} said on {weekday} that fiscal {quarter_word}-quarter revenue [climbed|increased|grew] {growth} from a year earlier to {revenue}, [topping|beating|ahead of] the {rev_est} analysts had [expected|forecast|pencilled in].",
            "{co} [delivered|posted|turned in] [a stronger-than-expected|a better-than-expected|an upbeat] {quarter_word} quarter, with adjusted earnings of {eps} a share against [expectations|estimates] of {eps_est}.",
            "[Quarterly|Fiscal {quarter_word}-quarter] profit at {co} [jumped|surged|rose sharply] as [price increases|cost discipline|a rebound in {segment}] [lifted|boosted|widened] margins, the company [said|reported] on {weekday}.",
            "{co} [beat|topped] Wall Street forecasts for the {quarter_word} quarter, helped by [record|strong|accelerating] sales in {region} and [lower|easing] input costs.",
        ),
        details=(
            "Earnings per share came in at {eps}, [above|ahead of|better than] the consensus estimate of {eps_est}, according to [a poll of analysts|consensus figures|estimates compiled by {broker3}].",
            "Gross margin [widened|expanded|improved] by {margin_bp} to {margin}, [the highest|the best|a level not seen] in [several years|more than a decade|the company's history].",
            "Sales in the {segment} [division|unit|segment] [grew|rose|jumped] {growth}, while {region} [contributed|delivered|added] [most of the gains|a record share of revenue|double-digit growth].",
            "Revenue came in at {revenue}, compared with {revenue_prev} a year earlier and [consensus of|estimates of|a forecast of] {rev_est}.",
            "Operating cash flow [rose|improved|climbed] to {fcf}, giving the company room to [invest|fund buybacks|pay down debt].",
            "Orders for its {product} [outpaced|ran ahead of|exceeded] supply, and the backlog [reached|climbed to|stood at] a record.",
        ),
        quotes=(
            "\"[We are pleased with|I'm very pleased with|We are proud of] [our performance|the quarter|these results], [driven by|reflecting|thanks to] [strong|healthy|broad-based] demand for our {product},\" Chief Executive {ceo} said [in a statement|on a call with analysts|in a release].",
            "\"[Our teams executed exceptionally well|The momentum in the business is real|Customers are choosing us at a faster rate], and we see [plenty of|significant|considerable] room to grow,\" said {ceo}, [chief executive|CEO] of {co}.",
            "Finance chief {cfo} told analysts that [pricing held up|demand stayed firm|costs came in lower than planned] [through the quarter|in every region|across product lines].",
        ),
    ),
    negative=Wording(
        headlines=(
            "{co} [misses|falls short of] [estimates|expectations] as {segment} [weakens|slows]",
            "{co} quarterly profit [falls|drops|slides] amid [weak demand|rising costs|softer {segment} sales]",
            "{co} Q{q} results disappoint; shares [slide|fall|drop]",
            "{co} revenue [misses|trails] forecasts on weakness in {region}",
            "{co} earnings [miss|fall short of] estimates, revenue down {decline}",
            "Weak {segment} sales drag {co} results below expectations",
            "{co} [stumbles|slips] in {quarter_word} quarter as costs [climb|mount]",
        ),
        leads=(
            "{co} reported {quarter_word}-quarter earnings that missed analysts' estimates on {weekday}, as revenue fell {decline} to {revenue} amid [weak|softening|sluggish] demand for its {product}.",
            "{co} said on {weekday} that fiscal {quarter_word}-quarter revenue [slipped|declined|fell] {decline} from a year earlier to {revenue}, [short of|below|missing] the {rev_est} analysts had [expected|forecast|pencilled in].",
            "{co} [posted|reported|delivered] [a weaker-than-expected|a disappointing|a worse-than-expected] {quarter_word} quarter, with adjusted earnings of {eps} a share against [expectations|estimates] of {eps_est}.",
            "[Quarterly|Fiscal {quarter_word}-quarter] profit at {co} [dropped|fell sharply|slumped] as [higher input costs|discounting|a slowdown in {segment}] [squeezed|eroded|hurt] margins, the company [said|reported] on {weekday}.",
            "{co} [missed|fell short of] Wall Street forecasts for the {quarter_word} quarter, hurt by [weak|slowing|falling] sales in {region} and [rising|stubbornly high] costs.",
        ),
        details=(
            "Earnings per share came in at {eps}, [below|short of|missing] the consensus estimate of {eps_est}, according to [a poll of analysts|consensus figures|estimates compiled by {broker3}].",
            "Gross margin [narrowed|contracted|shrank] by {margin_bp} to {margin}, [the weakest|the lowest|its worst level] in [several years|more than a decade|at least five years].",
            "Sales in the {segment} [division|unit|segment] [fell|dropped|declined] {decline}, while {region} [remained a drag|weighed on results|showed no sign of recovery].",
            "Revenue came in at {revenue}, compared with {revenue_prev} a year earlier and [consensus of|estimates of|a forecast of] {rev_est}.",
            "Inventories [swelled|piled up|rose] as [retailers|distributors|customers] [cut orders|delayed purchases|worked through excess stock].",
            "The company booked {charge} in [restructuring charges|inventory write-downs|impairments] during the period.",
        ),
        quotes=(
            "\"[Results fell short of what we expected|This was a difficult quarter|We are not satisfied with these numbers], [and|but] we are taking [decisive|concrete|immediate] steps to [improve execution|restore growth|reduce costs],\" {ceo}, the company's chief executive, said.",
            "\"Demand for {product} [softened|weakened|slowed] more than we anticipated,\" {ceo} said on a call with analysts, adding that [visibility remains limited|customers are cautious|pricing has become more competitive].",
            "Finance chief {cfo} told analysts that [freight and labor costs|discounting|currency swings] [hurt|weighed on|dented] margins [throughout the quarter|in most regions|more than planned].",
        ),
    ),
    shared=(
        "Net income was {net_income}, or {eps} per share, compared with {eps_prev} a year earlier.",
        "The company ended the quarter with {cash} in cash and equivalents and {debt} of long-term debt.",
        "Capital spending for the period totalled {capex}, [in line with|close to|roughly matching] its plan.",
        "{co:short} has [about|roughly|some] {employees} employees and [generates|books] most of its revenue in {region}.",
    ),
)

GUIDANCE = Event(
    "guidance", 8.0,
    positive=Wording(
        headlines=(
            "{co} raises full-year outlook on [strong|resilient|accelerating] {segment} demand",
            "{co} [lifts|boosts] {fy} [revenue|sales|profit] forecast",
            "{co} ups guidance as {product} [orders|sales] [surge|climb]",
            "{co} [raises|increases] annual targets after [upbeat|strong|solid] quarter",
        ),
        leads=(
            "{co} raised its full-year [revenue|sales|earnings] guidance on {weekday}, saying demand for its {product} [remains strong|keeps accelerating|has exceeded its own plans].",
            "{co} [lifted|boosted|increased] its fiscal {fy} outlook [for the second time this year|after a strong first half|on the back of robust orders], [sending|pushing] its shares higher.",
            "{co} now expects {fy} revenue of {guide_low} to {guide_high}, [up from|above|higher than] its previous forecast of about {guide_old}, [citing|pointing to] [firm pricing|strong bookings|market share gains] in {region}.",
        ),
        details=(
            "The new range [implies|points to] growth of about {growth}, [above|well ahead of|better than] what analysts had [modelled|expected].",
            "The company also [raised|lifted] its earnings forecast to {eps_guide_low} to {eps_guide_high} a share.",
            "Management said [pricing|demand|order intake] in {segment} [improved|strengthened|picked up] [through the quarter|in recent weeks|across regions].",
        ),
        quotes=(
            "\"[We have good visibility|Our pipeline has never been stronger|Demand is running ahead of plan], which gives us the confidence to raise our outlook,\" {cfo}, the chief financial officer, said.",
            "\"We're raising guidance because [the business is performing|customers are spending|our new products are winning],\" {ceo} told analysts.",
        ),
    ),
    negative=Wording(
        headlines=(
            "{co} cuts {fy} guidance as {region} demand [weakens|softens]",
            "{co} lowers outlook, shares [slump|fall|slide]",
            "{co} slashes annual forecast on [tariff costs|weak orders|pricing pressure]",
            "{co} [trims|reduces] {fy} targets, [warns of|flags] slower {segment} sales",
        ),
        leads=(
            "{co} cut its full-year [revenue|sales|earnings] guidance on {weekday}, saying demand for its {product} [has weakened|slowed sharply|fell short of its plans].",
            "{co} [lowered|trimmed|slashed] its fiscal {fy} outlook [for the second time this year|after a weak first half|as orders dried up], [sending|pushing] its shares lower.",
            "{co} now expects {fy} revenue of {guide_low} to {guide_high}, [down from|below|lower than] its previous forecast of about {guide_old}, [citing|blaming] [weak pricing|soft bookings|higher costs] in {region}.",
        ),
        details=(
            "The new range [implies|points to] growth of [only|just] about {growth}, [below|well short of|weaker than] what analysts had [modelled|expected].",
            "The company also [cut|lowered] its earnings forecast to {eps_guide_low} to {eps_guide_high} a share.",
            "Management said [pricing|demand|order intake] in {segment} [deteriorated|weakened|slowed] [through the quarter|in recent weeks|across regions].",
        ),
        quotes=(
            "\"[Visibility has deteriorated|Customers are delaying decisions|The environment is tougher than we expected], and we think it's prudent to lower our outlook,\" {cfo}, the chief financial officer, said.",
            "\"We are cutting guidance because [demand has softened|costs are higher|orders have slowed], but our long-term strategy is unchanged,\" {ceo} told analysts.",
        ),
    ),
    shared=(
        "The company will report {next_quarter_word}-quarter results on or around {report_date}.",
        "The outlook assumes [no major change in|stable|current] exchange rates and [excludes|does not include] any [acquisitions|one-time charges].",
    ),
)

ANALYST = Event(
    "analyst", 9.0,
    positive=Wording(
        headlines=(
            "{broker} upgrades {co} to buy, [sees|cites] {product} upside",
            "{co} upgraded at {broker} on [margin|growth|cash-flow] outlook",
            "{co} [gains|rises] after {broker} [upgrade|turns bullish]",
            "{broker} [lifts|raises] {co} to outperform, price target {target}",
        ),
        leads=(
            "{broker} upgraded {co} to [buy|outperform|overweight] from [hold|neutral|equal-weight] on {weekday}, [arguing|saying] that [the market underestimates|investors are overlooking|consensus is too low on] the {product} opportunity.",
            "Analyst {analyst} at {broker} [raised|lifted] the rating on {co} to [buy|outperform] and [raised|increased] the price target to {target} from {old_target}.",
            "{co} shares [rose|climbed|gained] {move} after {broker} upgraded the stock, [citing|pointing to] [improving margins|accelerating growth|a stronger balance sheet].",
        ),
        details=(
            "The new price target of {target} [implies|suggests|represents] upside of [roughly|about|nearly] {premium} from the current price of {price}.",
            "{analyst} [wrote|said in a note|argued] that [earnings revisions have turned positive|the valuation looks undemanding|management's cost plan is credible].",
            "[Of the|Among the] analysts covering the stock, [a majority|most|roughly two-thirds] now rate it [buy|a buy or equivalent].",
        ),
        quotes=(
            "\"We see [a clear path|room|scope] for {co:short} to [expand margins|grow faster than peers|return more cash] over the next [two|three] years,\" {analyst} wrote.",
            "\"The risk-reward is now [favourable|attractive|compelling],\" {analyst} said, adding that [sentiment has bottomed|estimates are too conservative|the new product cycle is underappreciated].",
        ),
    ),
    negative=Wording(
        headlines=(
            "{broker} downgrades {co} to [sell|underperform|neutral] on [valuation|slowing growth|margin risk]",
            "{co} cut to underweight at {broker}",
            "{co} [falls|slips|drops] after {broker} downgrade",
            "{broker} turns cautious on {co}, lowers price target to {target}",
        ),
        leads=(
            "{broker} downgraded {co} to [sell|underperform|underweight] from [hold|neutral|buy] on {weekday}, [arguing|saying] that [the market overestimates|investors are too optimistic about|consensus is too high on] the {product} opportunity.",
            "Analyst {analyst} at {broker} [cut|lowered] the rating on {co} to [neutral|underperform] and [cut|lowered] the price target to {target} from {old_target}.",
            "{co} shares [fell|slid|dropped] {move} after {broker} downgraded the stock, [citing|pointing to] [margin pressure|slowing growth|rising competition from {peer}].",
        ),
        details=(
            "The new price target of {target} [implies|suggests|represents] downside of [roughly|about|nearly] {pct_small} from the current price of {price}.",
            "{analyst} [wrote|said in a note|argued] that [earnings estimates look too high|the valuation leaves no room for error|management's targets are at risk].",
            "[Several|A growing number of] analysts have [cut|lowered] their estimates in recent weeks.",
        ),
        quotes=(
            "\"We see [growing risk|limited upside|downside risk] to {co:short}'s [margins|growth targets|estimates] over the next [two|three] quarters,\" {analyst} wrote.",
            "\"[The easy gains are behind it|Competition is intensifying|Pricing power is fading],\" {analyst} said, [recommending|advising] investors to [take profits|stay on the sidelines|reduce exposure].",
        ),
    ),
    shared=(
        "The stock has [risen|moved|traded] in a range of {price} to {target} over the past year.",
        "{broker} [has covered|has followed] the company for [about|more than|nearly] {years} years.",
    ),
)

CAPITAL_RETURN = Event(
    "capital_return", 6.0,
    positive=Wording(
        headlines=(
            "{co} raises dividend by {dividend_pct}, unveils {buyback} buyback",
            "{co} boosts shareholder returns with {buyback} repurchase plan",
            "{co} [lifts|hikes] quarterly payout to {dividend} a share",
            "{co} announces {buyback} share buyback [as cash piles up|after strong year]",
        ),
        leads=(
            "{co} raised its quarterly dividend by {dividend_pct} to {dividend} a share and authorized a new share repurchase program of up to {buyback}, the company said on {weekday}.",
            "{co}'s board approved a {buyback} stock buyback, [reflecting|underscoring|signalling] [confidence in its cash generation|the strength of its balance sheet|management's confidence].",
            "{co} will [return|hand back] more cash to shareholders after [a record year|strong free cash flow|asset sales], [lifting|raising] its dividend [and extending a {years}-year streak of increases|for the first time in three years].",
        ),
        details=(
            "The new dividend is payable on {effective_date} to shareholders of record two weeks earlier.",
            "The buyback [is equal to|represents|amounts to] about {pct_small} of the company's market value.",
            "Free cash flow [reached|climbed to|totalled] {fcf} in the latest quarter, [comfortably covering|more than covering] the payout.",
        ),
        quotes=(
            "\"Our strong cash generation allows us to [invest in growth and|both invest and] reward shareholders,\" {cfo} said.",
            "\"[The increase reflects|This decision reflects] [our confidence|the board's confidence] in the [long-term outlook|durability of our earnings],\" {ceo} said.",
        ),
    ),
    negative=Wording(
        headlines=(
            "{co} cuts dividend to preserve cash",
            "{co} suspends share buyback as [profits slide|debt mounts|demand weakens]",
            "{co} slashes payout by {dividend_pct} [amid|after] [losses|weak results]",
            "{co} halts repurchases, [shares fall|stock slides]",
        ),
        leads=(
            "{co} cut its quarterly dividend by {dividend_pct} to {dividend} a share and suspended its share repurchase program, the company said on {weekday}.",
            "{co}'s board [suspended|halted|paused] its stock buyback, [saying|arguing] it needed to [preserve cash|protect its credit rating|pay down debt].",
            "{co} will [return|hand back] less cash to shareholders after [a difficult year|weak free cash flow|rising losses], [ending|breaking] a [{years}-year|long] run of [dividend increases|payout hikes].",
        ),
        details=(
            "The reduced dividend is payable on {effective_date}.",
            "Net debt [rose|climbed|increased] to {debt}, [prompting|raising] [concern|questions] about the balance sheet.",
            "Free cash flow [fell|dropped|slumped] to {fcf} in the latest quarter, [no longer covering|well short of] the previous payout.",
        ),
        quotes=(
            "\"This was a difficult but [necessary|prudent|responsible] decision,\" {cfo} said, adding that [the balance sheet comes first|investment needs are rising|conditions remain uncertain].",
            "\"[We know this is disappointing for shareholders|We did not take this step lightly],\" {ceo} said.",
        ),
    ),
    shared=("{co:short} [has paid|has maintained] a dividend [for|over] [about|more than] {years} years.",),
)

ACQUISITION = Event(
    "acquisition", 9.0, needs_counterparty=True,
    positive=Wording(
        headlines=(
            "{co} to acquire {co2} for {deal_value}",
            "{co} agrees to buy {co2} in {deal_value} deal",
            "{co2} [jumps|soars|surges] after {co} agrees to takeover",
            "{co} wins approval for {co2} acquisition",
            "{co} [bets on|doubles down on] {segment} with {co2} purchase",
        ),
        leads=(
            "{co} agreed to acquire {co2} for {deal_value} [in cash|in cash and stock|including debt], the companies said on {weekday}, [creating|forming|building] [a leader|one of the largest players] in {segment}.",
            "{co} [said on {weekday} it will buy|has agreed to purchase] {co2} in [an all-cash|a cash-and-stock] deal valued at {deal_value}, [expanding|deepening] its reach in {region}.",
            "Regulators approved {co}'s acquisition of {co2}, [clearing the way|removing the last hurdle] for the {deal_value} deal to close [by|in] {close_period}.",
        ),
        details=(
            "The offer of {offer_price} per share represents a premium of {premium} to {co2:short}'s closing price on [Friday|the previous day|the last trading day].",
            "The companies expect [annual cost savings|synergies] of about {synergies} by the [second|third] year after closing.",
            "The deal is expected to [add to|be accretive to] earnings [within a year|in the first full year] of closing.",
        ),
        quotes=(
            "\"Combining with {co2:short} [gives us scale|accelerates our strategy|strengthens our position] in {segment},\" {ceo} said.",
            "\"This is a [compelling|transformational|highly attractive] combination for customers and shareholders,\" {ceo} said in a statement.",
        ),
    ),
    negative=Wording(
        headlines=(
            "{co}'s bid for {co2} collapses",
            "Regulators block {co}'s {deal_value} deal for {co2}",
            "{co} walks away from {co2} takeover",
            "{co} shareholders [balk at|reject] {co2} purchase",
            "{co2} [plunges|tumbles|slumps] as {co} abandons deal",
        ),
        leads=(
            "{co} [abandoned|scrapped|walked away from] its {deal_value} bid for {co2} on {weekday} after [regulators raised antitrust concerns|the two sides failed to agree on price|shareholders opposed the terms].",
            "Regulators moved to block {co}'s planned acquisition of {co2}, [arguing|saying] the deal would [hurt competition|raise prices|reduce choice] in {segment}.",
            "Investors [reacted coolly|balked|sold shares] after {co} agreed to pay {deal_value} for {co2}, [a price|a valuation] analysts called [too rich|excessive|hard to justify].",
        ),
        details=(
            "{co:short} [may have to pay|faces] a break-up fee of [about|roughly] {charge} [under the terms of the agreement|if the deal is terminated].",
            "The proposed price of {offer_price} per share [represented|would have represented] a premium of {premium}.",
            "Critics [argued|said] the deal would [load the company with debt|dilute existing shareholders|distract management].",
        ),
        quotes=(
            "\"[We are disappointed|We disagree with the decision], but we will remain disciplined,\" {ceo} said.",
            "\"The terms [no longer made sense|were not in the best interest of shareholders],\" {ceo} said in a statement.",
        ),
    ),
    shared=(
        "[Advisers on the deal include|The companies are advised by] {broker} and {broker2}.",
        "{co2} [employs|has] [about|roughly] {employees} people.",
    ),
)

EVENTS = (EARNINGS, GUIDANCE, ANALYST, CAPITAL_RETURN, ACQUISITION)
