"""Form 8-K current reports: a cover paragraph, one reportable item, exhibits and a signature.

The item decides the story: 2.02 results (with a fiscal period), 5.02 officer changes,
1.01 material agreements (with the counterparty), 2.05 exit costs (job cuts), 8.01 other
events (dividends, buybacks) and 7.01 Regulation FD updates.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from batchsearch.corpus.text import TextBuilder


@dataclass(frozen=True, slots=True)
class Item:
    """One 8-K item: number, title, and the sentence pools of its body."""

    number: str
    title: str
    weight: float
    positive: tuple[str, ...]
    negative: tuple[str, ...]
    needs_counterparty: bool = False
    has_period: bool = False


HEADLINES = (
    "{co:full} - Form 8-K - {item_title}",
    "{co:full} - 8-K: {item_title}",
    "{co:full} | Form 8-K | Item {item_number} {item_title}",
)
PERIOD_SUFFIX = " (Q{q} {fy})"

COVER = (
    "[Current Report on Form 8-K|FORM 8-K Current Report] [pursuant to|under] Section 13 or 15(d) of the Securities Exchange Act of 1934. Date of report (date of earliest event reported): {call_date}.",
    "{co:full} ([exact name of registrant as specified in its charter|the registrant|the \"Company\"]); [state of incorporation|incorporated in] {state}; Commission File Number {file_number}; IRS Employer Identification No. {irs_number}.",
    "[Principal executive offices|Address of principal executive offices]: {address}.",
)

ITEMS = (
    Item("2.02", "Results of Operations and Financial Condition", 4.0, has_period=True,
         positive=(
             "On {call_date}, {co:full} issued a press release announcing [its financial results|results] for the fiscal {quarter_word} quarter ended {quarter_end}, [a copy of which is furnished|which is furnished] as Exhibit 99.1.",
             "[The Company|{co:short}] reported revenue of {revenue}, an increase of {growth} compared with the prior-year period, and diluted earnings per share of {eps}.",
             "Gross margin [improved|expanded] to {margin}, and operating cash flow [increased|rose] to {fcf}.",
             "The Company [raised|increased] its full-year revenue outlook to a range of {guide_low} to {guide_high}.",
         ),
         negative=(
             "On {call_date}, {co:full} issued a press release announcing [its financial results|results] for the fiscal {quarter_word} quarter ended {quarter_end}, [a copy of which is furnished|which is furnished] as Exhibit 99.1.",
             "[The Company|{co:short}] reported revenue of {revenue}, a decrease of {decline} compared with the prior-year period, and diluted earnings per share of {eps}.",
             "Gross margin [declined|contracted] to {margin}, reflecting [higher input costs|lower volumes|pricing pressure], and the Company recorded {charge} of [restructuring|impairment] charges.",
             "The Company [lowered|reduced] its full-year revenue outlook to a range of {guide_low} to {guide_high}.",
         )),
    Item("5.02", "Departure of Directors or Certain Officers; Election of Directors; Appointment of Certain Officers", 2.0,
         positive=(
             "On {call_date}, the Board of Directors of {co:full} appointed {exec_new} as {exec_title} of the Company, effective {effective_date}.",
             "{exec_new}, [age 51|age 47|age 56|age 44], [previously served|most recently served] as [executive vice president|senior vice president|head] of {segment} at {peer}.",
             "In connection with the appointment, {exec_new} will receive an annual base salary and will be eligible for [equity awards|incentive compensation] under the Company's plans.",
         ),
         negative=(
             "On {call_date}, {exec_old} notified the Board of Directors of {co:full} of [their decision to resign|their resignation] as {exec_title}, effective [immediately|{effective_date}].",
             "[The resignation was not the result of|The departure did not arise from] any disagreement with the Company on any matter relating to its operations, policies or practices.",
             "The Board has [commenced|begun] a search for a successor and appointed {exec_new} to serve on an interim basis.",
         )),
    Item("1.01", "Entry into a Material Definitive Agreement", 1.5, needs_counterparty=True,
         positive=(
             "On {call_date}, {co:full} entered into an Agreement and Plan of Merger with {co2}, under which the Company will acquire {co2:short} for {offer_price} per share in cash, [representing|for] a total value of approximately {deal_value}.",
             "The transaction has been approved by the boards of directors of both companies and is expected to close in {close_period}, subject to [regulatory approvals|customary closing conditions].",
             "The agreement provides for a termination fee of approximately {charge} payable under [certain circumstances|specified conditions].",
         ),
         negative=(
             "On {call_date}, {co:full} and {co2} [terminated|agreed to terminate] the Agreement and Plan of Merger previously entered into between the parties.",
             "In connection with the termination, the Company [will pay|paid] a termination fee of approximately {charge}.",
             "[The termination follows|The parties terminated the agreement after] [objections from regulators|a failure to obtain required approvals|a change in market conditions].",
         )),
    Item("2.05", "Costs Associated with Exit or Disposal Activities", 1.0,
         positive=(
             "On {call_date}, the Board of Directors of {co:full} approved a restructuring plan intended to [streamline operations|improve efficiency|reduce costs] and [generate|deliver] annual savings of approximately {savings}.",
             "The plan includes a reduction of approximately {workforce_pct} of the Company's global workforce and the consolidation of certain facilities in {region}.",
             "The Company expects to incur pre-tax charges of approximately {charge}, primarily for severance and related costs.",
         ),
         negative=(
             "On {call_date}, {co:full} committed to a plan to [close|exit] certain {segment} operations and eliminate approximately {jobs} positions.",
             "The Company expects to record charges of approximately {charge}, including [asset impairments|severance costs|contract termination costs].",
             "The actions are expected to be substantially complete by {close_period}.",
         )),
    Item("8.01", "Other Events", 1.0,
         positive=(
             "On {call_date}, the Board of Directors of {co:full} declared a quarterly cash dividend of {dividend} per share, an increase of {dividend_pct}, payable on {effective_date}.",
             "The Board also authorized a share repurchase program of up to {buyback} of the Company's common stock.",
             "Repurchases may be made [from time to time|over time] in open-market transactions or privately negotiated transactions.",
         ),
         negative=(
             "On {call_date}, the Board of Directors of {co:full} [suspended|reduced] the Company's quarterly cash dividend [to {dividend} per share|until further notice].",
             "The Board also [suspended|terminated] the Company's share repurchase program to preserve liquidity.",
             "The Company disclosed that it had received a subpoena from {regulator} and is cooperating with the inquiry.",
         )),
    Item("7.01", "Regulation FD Disclosure", 0.5,
         positive=(
             "On {call_date}, {co:full} [posted|made available] an investor presentation on its website, [a copy of which is furnished|furnished] as Exhibit 99.1.",
             "The presentation [reaffirms|reiterates] the Company's full-year outlook and [highlights|describes] [progress on|growth in] {product}.",
         ),
         negative=(
             "On {call_date}, {co:full} [posted|made available] an investor presentation on its website, [a copy of which is furnished|furnished] as Exhibit 99.1.",
             "The presentation [updates|revises] the Company's outlook to reflect [softer demand|higher costs|tariff impacts] in {region}.",
         )),
)
EXHIBITS = (
    "Item 9.01 Financial Statements and Exhibits. Exhibit 99.1 Press release dated {call_date}. Exhibit 104 Cover Page Interactive Data File (embedded within the Inline XBRL document).",
)
SIGNATURE = (
    "[Pursuant to the requirements of the Securities Exchange Act of 1934|As required by the Exchange Act], the registrant has duly caused this report to be signed on its behalf by the undersigned [hereunto duly authorized|thereunto duly authorized].",
    "{co:full}. By: /s/ {cfo}. Name: {cfo}. Title: [Executive Vice President and Chief Financial Officer|Chief Financial Officer|Senior Vice President, Chief Financial Officer]. Date: {call_date}.",
)


def choose_item(rng: random.Random, has_counterparty: bool) -> Item:
    """A weighted random 8-K item (1.01 only when there is a counterparty)."""
    candidates = [i for i in ITEMS if has_counterparty or not i.needs_counterparty]
    return rng.choices(candidates, weights=[i.weight for i in candidates])[0]


def compose_headline(builder: TextBuilder, rng: random.Random, item: Item) -> None:
    """Render the filing title (the fiscal period appended for results items)."""
    builder.render(rng.choice(HEADLINES) + (PERIOD_SUFFIX if item.has_period else ""))


def compose_body(builder: TextBuilder, rng: random.Random, item: Item, is_positive: bool) -> None:
    """Render the cover, the item text, then exhibits with the signature."""
    builder.paragraph(list(COVER[: rng.randint(2, 3)]))
    body = item.positive if is_positive else item.negative
    builder.paragraph([f"Item {item.number} {item.title}.", *body[:2]])
    if len(body) > 2:
        builder.paragraph(list(body[2:]))
    builder.paragraph([*EXHIBITS, *SIGNATURE])
