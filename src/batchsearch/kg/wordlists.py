"""Word lists that keep entity detection precise: common English words, acronyms, first names.

These are data, not logic: detect.py and build.py read them to decide which surface forms need
strict matching (exact case, not at a sentence start) and which ticker-like tokens are never tickers.
"""

from __future__ import annotations


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Frequent English words (lowercase). A single-word company alias or city in this list is only
# detected when written with its exact capitalisation, and not as the first word of a sentence
# unless the company is well known. An all-caps ticker equal to one of them ("ALL", "NOW", "KEY")
# is only detected with an exchange prefix or a "$".
COMMON_WORDS: frozenset[str] = _words(
    """
    a able about above accept access account across act action active actually add address admiral
    advance after again against age agency agent ago agree ahead aid aim air alarm alert all allow
    almost alone along already also alter always am amazon among amount an anchor and angel animal
    annual another answer any anyone anything apart apex apple apply approach april are area argue
    arm armor armour army around arrive art article as ask asset at atlas attack attention august
    author auto autumn avenue average avoid away axis baby back bad bag balance ball band bank bar
    base basic basis bat bath be beacon bear beat beauty because become bed been before begin behind
    being believe bell below belt benefit best better between beyond big bill bird birth bit black
    blade blank block blood blue board boat body bold bond bone book boost boot border born both
    bottom bound bowl box brain branch brand brave bread break bridge brief bright bring broad broker
    brother brown budget build building burn bus business busy but buy by cable call calm camera camp
    can cap capital car card care career carrier carry case cash cast cat catch cause cell center
    central centre century chain chair challenge champion chance change channel chapter charge chart
    chase check chemical chief child choice choose church circle citizen city civil claim class
    clean clear client climb clock close cloud club coach coal coast code coin cold collect college
    color colour column come comfort command comment common community company compass complete
    concern condition consider contain content context continue contract control cook cool copper
    copy core corner cost could council count country couple courage course court cover craft
    create credit crew crime crisis critical cross crowd crown crude cup current custom customer cut
    cycle daily damage dance dark data date daughter day dead deal dear death debate debt decade
    december decide deep defense defence degree delta demand deny deploy deposit depot desert design
    desk detail develop device diamond die diet differ digital dinner direct discovery discuss
    disease dish display distance district do doctor dog dollar domain door double doubt down draft
    dragon draw dream dress drink drive drop drug dry due during duty each eagle early earn earth
    east eastern easy eat economy edge edison effect effort eight either element else emerald
    emergency empire employee end energy engine enjoy enough ensure enter entire entry environment
    equal equity escape estate even evening event ever every evidence exact exam example excel
    exchange exercise exist expand expect expert explain explore express extra eye face fact factor
    factory fail fair faith fall family fan far farm fashion fast father fear feature february
    federal fee feel few field fight figure file fill film final finance find fine finger finish
    fire firm first fish fit five fix flag flat fleet flight floor flow flower fly focus follow food
    foot for force foreign forest forever form former fortune forward found four fox frame free
    fresh friday friend from front frontier fruit fuel full fund future gain game gap garden gas
    gate gather general generation gentle giant gift give glad glass global go goal god gold golden
    good govern grab grain grand grant graph grass gray great green grey grid ground group grow
    growth guard guess guest guide gulf gun guy habit hair half hall hand handle hang happen happy
    harbor harbour hard harmony harvest has hat have he head health hear heart heat heavy height
    hello help her here hero hide high hill him his history hit hold hole holiday home honest hope
    horizon horse hospital host hot hotel hour house how however huge human hundred hunt hunter
    ice idea if image impact important improve in inch include income increase index indeed
    industry inform information inside insight instead integrity interest interface international
    into invest investor iron is island issue it item its january job join joint journal journey
    joy judge july jump june jury just keep key kid kill kind king kitchen know labor labour lack
    lady lake land language large last late later launch law lay lead leader leaf learn least leave
    left leg legal legend lend less let letter level liberty life lift light like limit line link
    lion list listen little live load loan local lock long look lose loss lot love low loyal luck
    lunch machine magic magnet main maintain major make male man manage many map march mark market
    marriage mass master match material matter may maybe me meal mean measure meat media medical
    meet member memory mention mercury merit message metal method middle might mile military milk
    mill million mind mine minute mirror miss mission mister mix mobile model modern moment monday
    money monitor month moon moral more morning most mother motion motor mountain mouth move movie
    much music must my myself name nation national native natural nature near nearly necessary
    need network never new news next nice night nine no noble none nor normal north northern not
    note nothing notice november now number object occur ocean october of off offer office officer
    often oil ok old on once one online only open operation opinion option or oracle orange order
    organ organic origin other our out outside over own owner oxford pace pacific pack page pain
    paint pair palace palm panel paper parent park part partner party pass past patient pattern
    pay peace peak pearl people pepper per perfect perform perhaps period person pet phase phone
    pick picture piece pilot pine pioneer pipe place plain plan planet plant platform play player
    please plus pocket point police policy pool poor popular port position positive possible post
    potential pound power practice premier prepare present president press pressure pretty prevent
    price pride prime principal print prior private prize problem process produce product
    professional profit program progress progressive project promise proof property protect prove
    provide public pull purchase pure purpose push put quality quarter queen question quick quiet
    quite race radio rail rain raise range rate rather reach read reading ready real realty reason
    recent recognize record recruit red reduce reflect region relate release reliance remain
    remember remove report republic research resource respond rest result return reveal rich ride
    right ring rise risk river road rock role roll room root rose round route royal rule run rush
    safe safety sail sale salt same sample sand saturday save say scale scene school science score
    sea season seat second secret section security see seed seek seem select self sell send sense
    september serious serve service set settle seven several shake shall shape share sharp she
    shell shield shift shine ship shoe shoot shop short shot should show side sign signal silver
    simple since single sister sit site six size skill skin sky sleep slow small smart smile snap
    snow so social society soft soil solar soldier solid solution some someone something son song
    soon sort sound source south southern space spark speak special speed spend spirit split sport
    spot spring square staff stage stand standard star start state station stay steel step stick
    still stock stone stop store storm story strategy stream street strength stride strike strong
    structure student study stuff style subject success such sugar suggest suit summer summit sun
    sunday super supply support sure surface surprise survey system table take talent talk target
    task taste tax teach team tell temple ten term test than thank that the their them then theory
    there these they thing think third this those though thought thousand three through thursday
    tide tiger time tip title to today together tomorrow tone tonight too tool top total touch tour
    tower town track trade traffic train transfer travel treat tree trend trial trip triumph trouble
    truck true trust truth try tuesday turn twin two type under union unit united universal until
    up upon us use usual valley value van vanguard venture very victory view village virtue visa
    visit vision vital voice volume vote wait walk wall want war warm warrior wash waste watch water
    wave way we weapon wear weather wednesday week weight welcome well west western what wheel when
    where whether which while white who whole why wide wife wild will win wind window winter wire
    wise wish with within without woman wonder wood word work worker world worry would write wrong
    yard year yellow yes yet you young your youth zero zone
    booking buckle cactus continental deluxe diodes diploma disco employers enact evolution everest
    harmonic hertz hexagon hub integer mosaic nasdaq orion prudential puma rational sabre sage
    tapestry verve enterprise paradise sunrise mentor corona buffalo mesa bury rye slough providence
    largo canton hampton windsor
    """
)

# Words that are never a company alias on their own, even when a name reduces to them
# ("Southern Company" -> "Southern", "Universal Corporation" -> "Universal").
GENERIC_NAME_WORDS: frozenset[str] = _words(
    """
    american atlantic bancorp bank banks central community companies company corp corporation
    digital eastern energy federal financial first general global group holding holdings
    industries international investment investments national northern pacific partners progressive
    public resources royal services solutions southern standard systems technologies technology
    the trust united universal western worldwide
    """
)

# Upper-case tokens that look like tickers but are acronyms or words in financial prose.
# A ticker in this list is only detected when written "$XXX" or after an exchange prefix.
TICKER_STOPLIST: frozenset[str] = _words(
    """
    AI API AR ARPU ATM DOC DOCS AUM B2B B2C BIS BOE BOJ BPS CAGR CAPEX CBOE CCO CDO CDS CEO CFO CFTC CIO CMO
    COO COVID CPI CPU CRM CSR CTO DCF DEI DJIA DNA DOJ DOW EBIT EBITDA ECB EEA EPA EPS ERP ESG ETF
    EU EUR EV EVS FAQ FBI FCF FDA FDI FED FOMC FTC FTSE FX FY GAAP GBP GDP GDPR GHG GPS GPU HR HVAC
    IBAN ICT IEA IFRS IMF INC IPO IRS ISIN ISO IT JPY KPI LED LLC LNG LP LTD MBA NASA NATO NAV
    NGO NHS NYSE OECD OEM OPEC OTC PC PDF PE PHD PLC PMI PPE PPI PR QA QE RBI REIT ROA ROE ROI RPA
    RSS SAAS SEC SEO SKU SME SOX SPAC SUV TSX TV UAE UK UN USA USD VAT VC VP WHO WTO YOY QOQ
    """
)

# Family names that are also company names ("Kenny Rogers" is no mention of Rogers Corporation):
# matched like common words.
SURNAMES: frozenset[str] = _words(
    """
    brady chandler davidson dover everett ferguson gates hamilton hawkins hawthorne henderson hershey
    hopkins lancaster lindsay mason pearson ramsey richardson rogers rollins thornton waters wiley
    williams winchester
    """
)

# Common given names: a single-word city equal to one ("Warren", "Tyler") is not detected.
FIRST_NAMES: frozenset[str] = _words(
    """
    aaron adam alan albert alex alexander alice allen amanda amy andrew angela ann anna anne
    anthony arthur austin barbara ben benjamin bernard beth betty bill bob brad brandon brian
    bruce carl carmel carol carter charles charlie chris christian christopher clara clark claude
    colin craig dana daniel david dean denis dennis diana donald douglas dylan edward
    elizabeth ellen emily emma eric eugene evan frank franklin fred gary george gordon grace grant
    greg harold harrison harry helen henry howard hugh ian irving isaac jack jackson jacob james
    jane janet jasper jason jean jeff jeffrey jennifer jerry jesse jessica jim joan joe john jordan
    joseph joyce juan julia justin karen keith kelly kenneth kevin kim kingsley laura lawrence
    lee leo leon linda lincoln lisa louis lowell lucas madison marcus margaret maria marion mark
    marshall martin mary matthew maurice melissa michael milton mitchell monroe nancy nathan neil norma
    nelson nicholas oliver owen patrick paul peter philip quincy rachel ralph randolph raymond
    rebecca richard robert roger ronald rose russell ruth ryan sam samuel sandra sarah scott sean
    sharon shelton sherman simon stanley stephen steve steven stuart susan taylor thomas tim
    timothy tom troy tyler vernon victor vincent walter warren wayne wesley william winston
    """
)
