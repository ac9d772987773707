"""News events about operations and the outside world: jobs, courts, products, people, trade, rates."""

from __future__ import annotations

from batchsearch.corpus.events import Event, Wording

LAYOFFS = Event(
    "layoffs", 7.0,
    positive=Wording(
        headlines=(
            "{co} restructuring to save {savings} a year; shares [rise|gain|climb]",
            "{co} streamlines operations, [targets|expects] {savings} in annual savings",
            "Investors cheer {co} cost overhaul [as margins improve|ahead of earnings]",
        ),
        leads=(
            "{co} will cut about {jobs} jobs as part of a restructuring that it expects to save {savings} a year, and investors [welcomed|cheered|applauded] the plan, [sending|pushing] the shares up {move}.",
            "{co} unveiled a cost-reduction program on {weekday} that [trims|reduces] its workforce by {workforce_pct} and [consolidates|simplifies] its {segment} operations, a move analysts said should [lift|improve|boost] margins.",
        ),
        details=(
            "The company expects the program to [add|contribute] roughly {margin_bp} to operating margin by {close_period}.",
            "Management said the savings would be [reinvested in|redirected to] {product} and [automation|research|sales capacity].",
        ),
        quotes=(
            "\"[We are building a leaner, faster company|These changes make us more competitive|We are simplifying how we work],\" {ceo} said in a memo to staff.",
        ),
    ),
    negative=Wording(
        headlines=(
            "{co} to cut {jobs} jobs as [demand slows|costs mount|restructuring deepens]",
            "{co} lays off {workforce_pct} of its workforce",
            "{co} [announces|plans] [layoffs|job cuts] amid {segment} [slump|downturn]",
            "{co} [shuts|closes] plants, cuts {jobs} positions",
        ),
        leads=(
            "{co} said on {weekday} it would lay off about {jobs} employees, or {workforce_pct} of its workforce, as [demand for its {product} weakens|sales in {region} slump|it struggles to contain costs].",
            "{co} is cutting {jobs} jobs and [closing|shutting] [two|three|several] facilities in {region}, [the latest sign of|deepening] the [slowdown|downturn] in {segment}.",
        ),
        details=(
            "The company expects to [record|book|take] restructuring charges of about {charge}, mostly for severance.",
            "[Unions|Worker representatives] [criticised|condemned|protested] the cuts and [called for|demanded] talks with management.",
            "It is the [second|third] round of [layoffs|job cuts] at {co:short} in [a year|18 months|two years].",
        ),
        quotes=(
            "\"These are difficult decisions that affect [colleagues|people] who have [contributed a great deal|worked hard] for the company,\" {ceo} said.",
        ),
    ),
    shared=(
        "{co:short} employed [about|roughly] {employees} people at the end of last year.",
        "The reductions will be [completed|phased in] by {close_period}.",
    ),
)

LEGAL = Event(
    "legal", 6.0,
    positive=Wording(
        headlines=(
            "Judge dismisses lawsuit against {co}",
            "{co} wins patent case against {peer}",
            "{co} settles {product} litigation for {settlement}, ending [uncertainty|years of litigation]",
            "Court [sides with|rules for] {co} in [contract|patent|licensing] dispute",
        ),
        leads=(
            "A federal judge dismissed a lawsuit against {co} on {weekday}, [ruling|finding] that {plaintiff} had failed to show [the company misled investors|any breach of contract|evidence of harm].",
            "{co} [won|prevailed in] a patent dispute with {peer}, after a jury found that {peer:short} had infringed [patents covering|technology used in] its {product}.",
            "{co} agreed to pay {settlement} to settle [claims|a lawsuit] brought by {plaintiff}, [an amount|a sum] analysts said was [smaller than feared|well within reserves|manageable].",
        ),
        details=(
            "The company had [set aside|reserved] {charge} for the case, [more than|in excess of] the final amount.",
            "The ruling [removes|lifts] [an overhang|a cloud] that had [weighed on|hung over] the shares for [months|more than a year].",
        ),
        quotes=(
            "\"We are pleased that the court [agreed with our position|recognized the merits of our case],\" a {co:short} spokesperson said.",
        ),
    ),
    negative=Wording(
        headlines=(
            "{co} sued by {plaintiff} over [alleged|claimed] [patent infringement|misleading disclosures|data practices]",
            "{co} faces class action over {product}",
            "{co} hit with {settlement} [verdict|judgment] in [patent|contract|antitrust] case",
            "Shareholders sue {co} after [stock plunge|accounting restatement|failed launch]",
        ),
        leads=(
            "{plaintiff} filed a lawsuit against {co} on {weekday}, [accusing|alleging that] the company [of misleading investors about|concealed problems with|overstated demand for] its {product}.",
            "{co} faces a class action lawsuit [claiming|alleging] that its {product} [was defective|violated consumer protection laws|infringed patents], according to a complaint filed in federal court.",
            "A jury ordered {co} to pay {settlement} in damages to {peer} in a [patent|trade secrets|contract] dispute, [a ruling|a verdict] the company said it would appeal.",
        ),
        details=(
            "The plaintiffs are seeking [unspecified damages|damages of at least {settlement}|an injunction].",
            "Legal experts said the case could [take years|drag on|weigh on the stock] [before it is resolved|until a settlement is reached].",
        ),
        quotes=(
            "\"We believe the claims are without merit and will defend ourselves vigorously,\" a {co:short} spokesperson said.",
        ),
    ),
    shared=("The case was filed in [a federal court in Delaware|the Southern District of New York|a California state court].",),
)

PRODUCT = Event(
    "product", 8.0,
    positive=Wording(
        headlines=(
            "{co} unveils {product_name}, a new {product}",
            "{co} launches new {product} [to take on|aimed at|in push against] {peer}",
            "{co}'s {product_name} [draws strong early demand|sells out in days|wins rave reviews]",
            "{co} [rolls out|debuts] next-generation {product}",
        ),
        leads=(
            "{co} unveiled a new {product} called {product_name} on {weekday}, [promising|claiming] [faster performance|lower costs|longer life] than rival offerings from {peer}.",
            "{co} launched its {product_name} {product} in {region}, [and early orders have exceeded expectations|betting it can win share in a crowded market|with a wider rollout planned for {close_period}].",
        ),
        details=(
            "The {product_name} will be priced [at a premium to|below|in line with] competing products and [goes on sale|ships] on {effective_date}.",
            "Analysts estimate the new line could add [as much as|about|up to] {pct_small} to revenue within two years.",
        ),
        quotes=(
            "\"{product_name} is [the most important launch|our biggest product introduction] in [a decade|years],\" {ceo} said at the launch event.",
        ),
    ),
    negative=Wording(
        headlines=(
            "{co} delays {product_name} launch [again|to next year|amid supply problems]",
            "{co}'s new {product} draws [lukewarm|tepid|mixed] reviews",
            "{co} recalls {units} units of its {product}",
            "{co} [pulls|halts sales of] {product_name} after [defects|safety complaints]",
        ),
        leads=(
            "{co} delayed the launch of its {product_name} {product} [by at least six months|until {close_period}|for the second time], citing [supply shortages|software problems|testing issues].",
            "{co} is recalling about {units} units of its {product} after [reports of faults|safety complaints|a defect was found], the company said on {weekday}.",
        ),
        details=(
            "The [delay|recall] is expected to cost [about|roughly] {charge} and [push back|hurt] revenue [this year|in the coming quarters].",
            "Rivals including {peer} [have already launched|are racing to ship] competing products.",
        ),
        quotes=(
            "\"We would rather get it right than get it out fast,\" {ceo} said, [apologising to customers|acknowledging the frustration].",
        ),
    ),
    shared=("The {product} market is expected to grow about {pct_small} a year through the end of the decade.",),
)

EXECUTIVE = Event(
    "executive", 6.0,
    positive=Wording(
        headlines=(
            "{co} names {exec_new} as [new|next] {exec_title}",
            "{co} taps industry veteran {exec_new} as {exec_title}",
            "{co} shares rise as [well-regarded|respected] {exec_new} takes helm",
        ),
        leads=(
            "{co} appointed {exec_new} as {exec_title}, effective {effective_date}, [bringing in|hiring] an executive with [more than|nearly] {years} years of experience in {segment}.",
            "{co} named {exec_new} its new {exec_title} on {weekday}, [a choice|an appointment] analysts [welcomed|praised|called a strong signal].",
        ),
        details=(
            "{exec_new} [previously ran|most recently led] [the {segment} business at|operations at] {peer}.",
            "{exec_new} succeeds {exec_old}, who [is retiring|will stay on as an adviser|will become chair].",
        ),
        quotes=(
            "\"{exec_new} is [the right leader|an exceptional leader] for our next chapter,\" the board said in a statement.",
        ),
    ),
    negative=Wording(
        headlines=(
            "{co} {exec_title} {exec_old} resigns [abruptly|unexpectedly]",
            "{co} ousts chief executive after [weak results|board clash|strategy dispute]",
            "{co} shares slide as {exec_title} [departs|steps down]",
        ),
        leads=(
            "{co} said on {weekday} that its {exec_title}, {exec_old}, had resigned [with immediate effect|effective immediately], [without giving a reason|citing personal reasons|after a disagreement with the board].",
            "{co}'s board [ousted|removed|replaced] chief executive {exec_old} after [a string of weak results|a dispute over strategy|investor pressure], [naming|appointing] {exec_new} as interim chief.",
        ),
        details=(
            "The departure [comes|follows] [weeks|months] after [activist investors|shareholders] [criticised|questioned] the company's [strategy|performance].",
            "It is the [second|third] senior departure at {co:short} this year.",
        ),
        quotes=(
            "\"We thank {exec_old} for [their service|their contributions],\" the board said, adding that a search for a permanent successor [is under way|has begun].",
        ),
    ),
    shared=("{co:short} [is headquartered in|has its headquarters in] {country}.",),
)

TARIFFS = Event(
    "tariffs", 6.0,
    positive=Wording(
        headlines=(
            "{co} [gains|rises] as tariff exemption [spares|shields] {product} imports",
            "{co} says tariff impact [manageable|smaller than feared]",
            "Trade truce [lifts|boosts] {co} and other {sector} exporters",
        ),
        leads=(
            "{co} said on {weekday} that new tariffs would have only a [limited|modest|manageable] impact on results, [as it has shifted production|thanks to local sourcing|because most of its {product} is made in {region}].",
            "Shares of {co} [rose|climbed|rallied] after [an exemption|a trade truce|a tariff pause] [spared|shielded|eased pressure on] its {product} imports from {region}.",
        ),
        details=(
            "The company estimates the tariff cost at [about|under] {tariff_cost}, [well below|less than half of] earlier estimates.",
            "Management said [pricing actions|supply-chain changes] would [offset|more than offset] the remaining impact.",
        ),
        quotes=(
            "\"We [planned for this|moved early|diversified our supply chain] and the impact is contained,\" {cfo} said.",
        ),
    ),
    negative=Wording(
        headlines=(
            "New {tariff_pct} tariffs [threaten|hit|weigh on] {co}'s {segment} business",
            "{co} warns tariffs will cost {tariff_cost}",
            "{co} [slides|falls] as trade tensions [escalate|flare]",
        ),
        leads=(
            "{co} warned on {weekday} that tariffs of {tariff_pct} on imports from {region} would cost it about {tariff_cost} this year, [squeezing|eroding|hurting] margins on its {product}.",
            "Shares of {co} [fell|slid|dropped] after the government announced {tariff_pct} tariffs on [components|goods|materials] the company sources from {region}.",
        ),
        details=(
            "The company said it [may have to raise prices|would seek to pass on costs|is reviewing its supply chain] [in response|to offset the hit].",
            "Analysts [estimate|calculate] the tariffs could [cut|reduce] earnings by [about|as much as] {pct_small}.",
        ),
        quotes=(
            "\"[Tariffs are a tax on our customers|The uncertainty makes planning very difficult],\" {ceo} said.",
        ),
    ),
    shared=("About {pct_small} of {co:short}'s [cost base|purchases|production] is [exposed to|linked to] {region}.",),
)

RATES = Event(
    "rates", 5.0,
    positive=Wording(
        headlines=(
            "{co} rallies as rate cut [lifts|boosts] [outlook|lending margins|housing demand]",
            "Rate-sensitive {co} [climbs|gains] after {bp}-basis-point cut",
        ),
        leads=(
            "{co} shares [rose|climbed|gained] {move} after {central_bank} cut interest rates by {bp} basis points on {weekday}, [easing|reducing] [financing costs|pressure on borrowers] in {segment}.",
            "Investors [piled into|bought] {co} and other {sector} stocks after {central_bank} lowered its policy rate to {policy_rate}, [signalling|hinting at] further cuts.",
        ),
        details=(
            "Lower rates [should|could] [cut|reduce] {co:short}'s interest costs by [about|roughly] {charge} a year.",
            "Economists now expect [one|two] more cuts [this year|by next summer] as inflation [cools|eases] to {inflation}.",
        ),
        quotes=(
            "\"Lower rates are [a tailwind|good news] for [demand|our customers|our borrowing costs],\" {cfo} said.",
        ),
    ),
    negative=Wording(
        headlines=(
            "Rate-sensitive {co} [falls|slides] after [hawkish|surprise] central-bank decision",
            "{co} [drops|slips] as rate hike [clouds|darkens] {segment} outlook",
        ),
        leads=(
            "{co} shares [fell|slid|dropped] {move} after {central_bank} raised interest rates by {bp} basis points on {weekday}, [raising|increasing] [financing costs|pressure on borrowers] in {segment}.",
            "Investors [sold|dumped] {co} and other {sector} stocks after {central_bank} kept its policy rate at {policy_rate} and signalled [no cuts|higher rates] for longer.",
        ),
        details=(
            "Higher rates [could|may] [add|raise] [about|roughly] {charge} a year to {co:short}'s interest bill.",
            "Inflation [remains|is still running] at {inflation}, [above|well above] the central bank's target.",
        ),
        quotes=(
            "\"Higher-for-longer rates are [a headwind|a real challenge] for [demand|our customers|our borrowing costs],\" {cfo} said.",
        ),
    ),
    shared=("{central_bank} [meets|will meet] again in [six|seven|eight] weeks.",),
)

REGULATORY = Event(
    "regulatory", 4.0,
    positive=Wording(
        headlines=(
            "Regulators close probe into {co} without action",
            "{co} [wins|secures] regulatory approval for {product}",
        ),
        leads=(
            "{regulator} closed its investigation into {co}'s [sales practices|accounting|pricing] without taking action, the company said on {weekday}.",
            "{co} won regulatory approval for its {product} in {region}, [clearing the way|opening the door] for a launch [this year|by {close_period}].",
        ),
        details=("The decision [removes|ends] [an overhang|months of uncertainty] for the shares.",),
        quotes=("\"We [welcome|are pleased with] the outcome,\" a {co:short} spokesperson said.",),
    ),
    negative=Wording(
        headlines=(
            "{co} under investigation over [sales practices|accounting|pricing]",
            "{co} fined {settlement} [over|for] [compliance failures|misleading customers|data breaches]",
            "{co} discloses data breach affecting [millions of customers|customer records]",
        ),
        leads=(
            "{regulator} has opened an investigation into {co}'s [sales practices|accounting|pricing], the company disclosed in a filing on {weekday}.",
            "{co} was fined {settlement} by {regulator} for [compliance failures|misleading customers|inadequate controls].",
            "{co} said hackers [gained access to|stole] [customer data|internal systems] in a cyberattack that disrupted its {segment} operations.",
        ),
        details=("The company said it was [cooperating fully|working closely] with authorities.",),
        quotes=("\"We take these matters [extremely seriously|very seriously],\" a {co:short} spokesperson said.",),
    ),
    shared=("{co:short} [reports|will report] results on {report_date}.",),
)

CONTRACT = Event(
    "contract", 5.0,
    positive=Wording(
        headlines=(
            "{co} wins {deal_value} contract [from {co2}|to supply {product}]",
            "{co} [lands|secures] multiyear {product} deal with {co2}",
        ),
        leads=(
            "{co} won a {deal_value} contract to supply {product} to {co2} over [five|seven|ten] years, the companies said on {weekday}.",
            "{co} [signed|secured] a multiyear agreement with {co2}, [its largest order to date|one of the biggest deals in its history].",
        ),
        details=("Deliveries are [expected|scheduled] to begin in {close_period}.",),
        quotes=("\"This [win|agreement] validates our {product} strategy,\" {ceo} said.",),
    ),
    negative=Wording(
        headlines=(
            "{co} loses key contract to {peer}",
            "{co2} [drops|ends] {product} deal with {co}",
        ),
        leads=(
            "{co} lost a {deal_value} contract with {co2} to rival {peer}, the company said on {weekday}, [a setback|a blow] for its {segment} business.",
            "{co2} [terminated|ended|did not renew] its {product} supply agreement with {co}, [citing|after] [delivery problems|pricing disagreements|a strategy change].",
        ),
        details=("The contract accounted for about {pct_small} of {co:short}'s annual revenue.",),
        quotes=("\"We are disappointed but [remain confident|see other opportunities] in {segment},\" {ceo} said.",),
    ),
    shared=("[Financial terms|Full terms] were not disclosed.",),
    needs_counterparty=True,
)

EVENTS = (LAYOFFS, LEGAL, PRODUCT, EXECUTIVE, TARIFFS, RATES, REGULATORY, CONTRACT)
