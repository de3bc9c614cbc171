"""A labelled PII corpus written for kfm-gate (not taken from any public data set).

Every case is a short text with its labelled spans, written inline as ``[[ENTITY|text]]``.
Positives come in many formats (North American, international and national phone numbers;
payment cards of every current issuer range and length; US, rural, military and non-US street
addresses; person and place names in sentences); hard negatives are the text of Kansas
historic-site notes (trails and roads after a year, forts, accession and catalogue numbers,
PLSS legal descriptions, county roads, 555 numbers that are not phones, sites named after
people) and ordinary text with numbers. Card numbers are built from issuer prefixes with a
seeded generator and a computed Luhn digit; everything else is written out below.

``CASES`` is used by ``tests/evidence/test_pii_corpus.py`` (per-entity precision and recall)
and by ``benchmarks/bench_pii.py`` (the same figures, printed).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

#: entity types labelled in the corpus (the scan's other types are not labelled)
LABELLED = (
    "CREDIT_CARD",
    "EMAIL_ADDRESS",
    "IBAN_CODE",
    "IP_ADDRESS",
    "LOCATION",
    "PERSON",
    "PHONE_NUMBER",
    "STREET_ADDRESS",
    "US_DRIVER_LICENSE",
    "US_SSN",
)
#: entity types only a NER model finds
NER_ONLY = ("LOCATION", "PERSON")


@dataclass(frozen=True)
class Case:
    text: str
    spans: tuple[tuple[str, int, int], ...]  # (entity, start, end)
    group: str  # positive:<ENTITY> | mixed | kansas_negative | general_negative


_MARK = re.compile(r"\[\[([A-Z_]+)\|(.*?)\]\]", re.DOTALL)


def parse(marked: str, group: str) -> Case:
    """A case from text with ``[[ENTITY|value]]`` marks."""
    out: list[str] = []
    spans: list[tuple[str, int, int]] = []
    pos = 0
    length = 0
    for m in _MARK.finditer(marked):
        before = marked[pos : m.start()]
        out.append(before)
        length += len(before)
        value = m.group(2)
        spans.append((m.group(1), length, length + len(value)))
        out.append(value)
        length += len(value)
        pos = m.end()
    out.append(marked[pos:])
    return Case("".join(out), tuple(spans), group)


# ---------------------------------------------------------------------------------------------
# phone numbers: North American, international (+, 00, 011) and national forms

PHONES = [
    # North American, many ways of writing them
    "(785) 555-0142",
    "(316)555-0199",
    "785-555-0110",
    "785.555.0187",
    "785 555 0164",
    "+1 785 555 0142",
    "+1-913-555-0123",
    "+1 (620) 555-0176",
    "1-800-555-0199",
    "001-785-555-0142",
    "785-555-0142 x12",
    "(913) 555-0134 ext. 204",
    "620.555.0111 ext 9",
    "202-555-0198",
    "(212) 555-0100",
    "415.555.0132",
    "+1 312 555 0148",
    "303-555-0155",
    "(617) 555-0181",
    "512-555-0127",
    "+1-604-555-0190",
    "(416) 555-0163",
    "918-555-0145",
    "(402) 555-0108",
    "816.555.0173",
    # international, with the country code
    "+44 20 7946 0958",
    "+44 (0)20 7946 0321",
    "+44 7700 900123",
    "+49 30 12345678",
    "+49 (0) 89 1234567",
    "+49 176 12345678",
    "+33 1 23 45 67 89",
    "+33 6 12 34 56 78",
    "+31 6 12345678",
    "+31 20 123 4567",
    "+46 8 123 456 78",
    "+46 70 123 45 67",
    "+61 2 9876 5432",
    "+61 412 345 678",
    "+91 98765 43210",
    "+91 22 2345 6789",
    "+55 11 91234-5678",
    "+52 55 1234 5678",
    "+34 912 345 678",
    "+39 06 1234 5678",
    "+41 44 123 45 67",
    "+43 1 234567",
    "+420 601 123 456",
    "+48 512 345 678",
    "+45 32 12 34 56",
    "+47 412 34 567",
    "+353 1 234 5678",
    "+81 3-1234-5678",
    "+972 3-123-4567",
    "+27 21 123 4567",
    "+64 9 123 4567",
    "+380 44 123 4567",
    "0044 20 7946 0958",
    "0049 30 1234567",
    "011 44 20 7946 0958",
    "00 33 1 42 68 53 00",
    # national forms with a trunk 0
    "020 7946 0958",
    "07700 900456",
    "0161 496 0123",
    "030 12345678",
    "(030) 1234567",
    "0176 12345678",
    "089 1234567",
    "01 23 45 67 89",
    "06 12 34 56 78",
    "06-12345678",
    "020-1234567",
    "(02) 9876 5432",
    "0412 345 678",
    "08 8123 4567",
    "022 2345 6789",
    "011 2345 6789",
    "06 1234 5678",
    "044 123 45 67",
    "01 234 5678",
    "09 123 4567",
    "03-1234-5678",
    "021 123 4567",
]
#: national numbers without a trunk prefix, always written with a word that says "phone"
PHONES_NEEDING_CONTEXT = [
    "912 345 678",
    "612 34 56 78",
    "512 345 678",
    "601 123 456",
    "412 34 567",
    "32 12 34 56",
    "7855550142",
    "3165550199",
]

PHONE_TEMPLATES = [
    "Please call me at [[PHONE_NUMBER|{}]] after five.",
    "Owner asks to be called first: [[PHONE_NUMBER|{}]].",
    "Phone: [[PHONE_NUMBER|{}]]",
    "Reach the landowner on [[PHONE_NUMBER|{}]] before visiting.",
    "[[PHONE_NUMBER|{}]]",
    "Her mobile number is [[PHONE_NUMBER|{}]], the office line is unattended.",
    "Tel. [[PHONE_NUMBER|{}]] (evenings)",
    "The recorder can be contacted at [[PHONE_NUMBER|{}]].",
    "Fax [[PHONE_NUMBER|{}]] for the permit form.",
    "Left a message on [[PHONE_NUMBER|{}]] yesterday.",
    "My cousin's number: [[PHONE_NUMBER|{}]]",
    "Text [[PHONE_NUMBER|{}]] when you arrive at the gate.",
    "He gave [[PHONE_NUMBER|{}]] as his number.",
    "Wrote from abroad; telephone [[PHONE_NUMBER|{}]].",
    "Questions? [[PHONE_NUMBER|{}]]",
]
CONTEXT_PHONE_TEMPLATES = [
    "Call her at [[PHONE_NUMBER|{}]].",
    "Phone [[PHONE_NUMBER|{}]] for access.",
    "Mobile: [[PHONE_NUMBER|{}]]",
    "Telephone number [[PHONE_NUMBER|{}]].",
]


# ---------------------------------------------------------------------------------------------
# payment cards: every current issuer range and length, grouped in the usual ways

#: (issuer prefix, length, grouping) written by hand; the digits after the prefix are drawn
#: with a seeded generator and the last one is the Luhn check digit
CARD_SPECS = [
    ("4", 16, "4444"),
    ("4", 16, ""),
    ("4", 13, ""),
    ("4", 19, "44443"),
    ("4", 19, ""),
    ("4539", 16, "4444-"),
    ("51", 16, "4444"),
    ("52", 16, ""),
    ("53", 16, "4444-"),
    ("54", 16, "4444"),
    ("55", 16, ""),
    ("2221", 16, "4444"),
    ("2300", 16, ""),
    ("2500", 16, "4444-"),
    ("2720", 16, "4444"),
    ("34", 15, "465"),
    ("37", 15, ""),
    ("37", 15, "465-"),
    ("6011", 16, "4444"),
    ("6011", 19, ""),
    ("65", 16, "4444"),
    ("644", 16, ""),
    ("649", 16, "4444-"),
    ("622126", 16, ""),
    ("300", 14, "464"),
    ("305", 14, ""),
    ("36", 14, "464"),
    ("38", 16, "4444"),
    ("3095", 14, ""),
    ("3528", 16, "4444"),
    ("3589", 16, ""),
    ("3530", 19, ""),
    ("2131", 15, ""),
    ("1800", 15, ""),
    ("2131", 15, "4443"),
    ("5018", 12, ""),
    ("5020", 12, "444"),
    ("5038", 13, ""),
    ("6304", 16, "4444"),
    ("6759", 18, ""),
    ("6761", 19, ""),
    ("6762", 12, ""),
    ("6763", 16, ""),
    ("5893", 16, "4444"),
    ("62", 16, "4444"),
    ("62", 17, ""),
    ("62", 19, ""),
    ("81", 16, ""),
    ("2200", 16, "4444"),
    ("2204", 19, ""),
    ("60", 16, ""),
    ("508", 16, "4444"),
    ("9792", 16, ""),
    ("506099", 16, ""),
    ("650002", 19, ""),
    ("5019", 16, ""),
    ("1", 15, ""),
    ("637", 16, "4444"),
    ("4", 16, "4444-"),
    ("51", 16, "4444"),
]

CARD_TEMPLATES = [
    "Paid the survey fee with card [[CREDIT_CARD|{}]].",
    "[[CREDIT_CARD|{}]]",
    "Card number: [[CREDIT_CARD|{}]]",
    "Please charge [[CREDIT_CARD|{}]] for the reproduction order.",
    "The donor left [[CREDIT_CARD|{}]] on the form by mistake.",
    "Visa [[CREDIT_CARD|{}]] exp 04/29",
    "Refund to [[CREDIT_CARD|{}]] requested.",
    "Use my credit card [[CREDIT_CARD|{}]] for the deposit.",
]


def luhn_digit(body: str) -> str:
    """The Luhn check digit that completes ``body``."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        n = int(ch)
        if i % 2 == 0:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return str((10 - total % 10) % 10)


def _group(digits: str, grouping: str) -> str:
    if not grouping:
        return digits
    sep = "-" if grouping.endswith("-") else " "
    sizes = [int(c) for c in grouping.rstrip("-")]
    parts, pos = [], 0
    for size in sizes:
        parts.append(digits[pos : pos + size])
        pos += size
    if pos < len(digits):
        parts.append(digits[pos:])
    return sep.join(p for p in parts if p)


def card_numbers(seed: int = 14) -> list[str]:
    rng = random.Random(seed)
    out = []
    for prefix, length, grouping in CARD_SPECS:
        body = prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
        out.append(_group(body + luhn_digit(body), grouping))
    return out


# ---------------------------------------------------------------------------------------------
# street addresses: US, rural and military, unnumbered, and the non-US forms of letters

ADDRESSES = [
    # US, number first
    "1200 Massachusetts St",
    "742 Evergreen Terrace",
    "5345 Smith Mountains Apt. 123",
    "28406 Johnson Inlet",
    "3333 Ward Common Suite 210",
    "7392 Gomez Rapid",
    "615 N Kansas Ave",
    "1021 SW Topeka Blvd",
    "88 West 34th Street",
    "123 5th Avenue",
    "4410 Clinton Pkwy, Lawrence, KS 66047",
    "902 Poplar Lane, Emporia, Kansas 66801",
    "215 E 8th St, Hays, KS 67601",
    "3710 Sunflower Dr Apt 4B",
    "77 Prairie View Road",
    "1601 Willow Creek Court",
    "45 Cottonwood Circle",
    "3100 Old Highway 40",
    "1832 County Road 350",
    "12550 State Route 9",
    "20895 Highway 24",
    "301 Maple St., Unit 7",
    "16 Oak Hollow Way",
    "900 Ridgeview Place",
    "611 Elm Street\nManhattan, KS 66502",
    "4478 Valley Brook Trail",
    "2205 Harbor Lights Blvd Ste 300",
    "5110 Meadowlark Ln",
    "38 Apple Orchard Rd",
    "1409 Linden Ave #2",
    "8724 Cedar Crest Drive",
    "650 Main St., Suite 12, Dodge City, KS 67801",
    "3 Mill Pond Road",
    "519 Sunset Blvd",
    "4701 Maple Shade Crossing",
    "9981 Carter Knolls",
    "6230 Lisa Stravenue Apt. 551",
    "107 Avenue B",
    "2300 S 9th St",
    "12 1/2 Market Street",
    # without a house number: with a unit or a city, state and ZIP
    "Walnut Street, Apt 12",
    "Kansas Avenue, Topeka, KS 66603",
    "Pine Ridge Road, Suite 5",
    # boxes and routes
    "PO Box 1234",
    "P.O. Box 88, Council Grove, KS 66846",
    "Post Office Box 415",
    "RR 2 Box 14",
    "R.R. 1, Box 92",
    "Rural Route 3 Box 212",
    "RFD 4 Box 17A",
    "HC 1 Box 22",
    "PSC 1234, Box 5678, APO AE 09012",
    "Unit 8100 Box 2424\nDPO AP 96520",
    "USNS Jones\nFPO AA 34023",
    # Canada, United Kingdom, Ireland, Australia
    "455 Queen Street West, Toronto, ON M5V 2A8",
    "12 High Street, London SW1A 1AA",
    "Flat 3, 27 Rose Close",
    "14 Church Lane",
    "221 George St, Sydney NSW 2000",
    "8 Beach Parade",
    "45 Kings Road, Brighton BN1 1NB",
    "10 Downing Street",
    # German, Austrian, Swiss, Dutch, Scandinavian
    "Hauptstraße 12",
    "Bahnhofstr. 5, 80335 München",
    "Lindenweg 7a",
    "Berliner Straße 33",
    "Goethestrasse 4, 8001 Zürich",
    "Kerkstraat 12",
    "Prinsengracht 263, 1016 GV Amsterdam",
    "Storgatan 12",
    "Drottninggatan 71, 111 36 Stockholm",
    "Vestergade 5",
    "Karl Johans gate 22",
    "Schillerplatz 3",
    # French, Italian, Spanish, Portuguese, Polish, Czech
    "12 rue de la Paix, 75002 Paris",
    "3 place du Marché",
    "45 avenue Victor Hugo",
    "8 bis boulevard Saint-Germain",
    "Via Roma 12",
    "Via Garibaldi 5, 16124 Genova",
    "Piazza Navona 45",
    "Corso Vittorio Emanuele 21",
    "Calle Mayor 12",
    "Calle de Alcalá 45, 28014 Madrid",
    "Avenida da Liberdade 110",
    "Rua Augusta, 274",
    "Paseo de Gracia 92",
    "ul. Długa 3",
    "ul. Marszałkowska 10, 00-590 Warszawa",
    "Aleja Róż 7",
]

ADDRESS_TEMPLATES = [
    "The family lived at [[STREET_ADDRESS|{}]] until 1950.",
    "[[STREET_ADDRESS|{}]]",
    "Send the survey forms to [[STREET_ADDRESS|{}]].",
    "Mailing address: [[STREET_ADDRESS|{}]]",
    "Owner resides at [[STREET_ADDRESS|{}]], near the site.",
    "Correspondence came from [[STREET_ADDRESS|{}]].",
    "Return to sender at [[STREET_ADDRESS|{}]]",
    "Her new home is [[STREET_ADDRESS|{}]].",
    "The letter was addressed to [[STREET_ADDRESS|{}]].",
    "Deliver the copies to [[STREET_ADDRESS|{}]] by Friday.",
    "Visit us at [[STREET_ADDRESS|{}]]",
]


# ---------------------------------------------------------------------------------------------
# other pattern types (not the subject of issue 14, labelled so that precision is honest)

EMAILS = [
    "jane.roe@example.org",
    "ann.marsh@example.org",
    "b.keller@kshs.example.org",
    "survey-team@ks.example.gov",
    "greta_sorensen@mail.example.com",
    "h.underhill+archive@example.net",
    "frank.quill@example.co.uk",
    "dev.ridley@uni.example.edu",
]
SSNS = ["234-56-7890", "123-45-6788", "078-05-1121", "219-09-9998", "512 34 6789", "345-67-8901"]
IBANS = [
    "DE89 3704 0044 0532 0130 00",
    "GB82 WEST 1234 5698 7654 32",
    "FR14 2004 1010 0505 0001 3M02 606",
    "NL91ABNA0417164300",
    "CH9300762011623852957",
]
IPS = ["192.168.10.4", "10.0.0.254", "203.0.113.17", "2001:db8::8a2e:370:7334", "172.16.254.1"]
DRIVER_LICENSES = ["K12-34-5678", "K01-23-4567", "K98765432"]
OTHER_TEMPLATES = [
    ("EMAIL_ADDRESS", "Write to [[EMAIL_ADDRESS|{}]] for a copy."),
    ("EMAIL_ADDRESS", "[[EMAIL_ADDRESS|{}]]"),
    ("US_SSN", "Applicant SSN [[US_SSN|{}]] on the pension file."),
    ("US_SSN", "social security number [[US_SSN|{}]]"),
    ("IBAN_CODE", "Transfer the grant to [[IBAN_CODE|{}]]."),
    ("IP_ADDRESS", "Login from [[IP_ADDRESS|{}]] was blocked."),
    ("US_DRIVER_LICENSE", "[[LOCATION|Kansas]] driver's license [[US_DRIVER_LICENSE|{}]]"),
]


# ---------------------------------------------------------------------------------------------
# person and place names (NER)

PERSON_SENTENCES = [
    "[[PERSON|Martha Keller]] donated the family Bible in 1962.",
    "Interview with [[PERSON|John Whitaker]] recorded by the survey team.",
    "The farm was sold to [[PERSON|Henry Lindquist]] and his wife.",
    "[[PERSON|Greta Sorensen]] asks to be called before anyone visits.",
    "Letter from [[PERSON|Maria Ortega]] to her sister in [[LOCATION|Dodge City]].",
    "Photographs lent by [[PERSON|Robert Osborne]].",
    "The current owner, [[PERSON|Ann Marsh]], granted access.",
    "According to [[PERSON|Walter Pruitt]], the well was filled in 1941.",
    "[[PERSON|Dorothy Nyberg]] remembered the school from her childhood.",
    "Oral history from [[PERSON|James McAllister]], age 84.",
    "Contact person: [[PERSON|Susan Vogel]]",
    "Mr. [[PERSON|Thomas Stroud]] showed us the foundation.",
    "Mrs. [[PERSON|Ellen Carrington]] keeps the key to the church.",
    "Dr. [[PERSON|Samuel Hasselman]] examined the remains in 1978.",
    "The deed names [[PERSON|William Dunbar]] as grantor.",
    "[[PERSON|Frank Quill]] and [[PERSON|Hal Tolliver]] walked the fence line.",
    "Tenant [[PERSON|Carlos Navarro]] has lived there since 2004.",
    "Notes typed by [[PERSON|Evelyn Bergman]] from field sketches.",
    "[[PERSON|Peter Hollis]] reported the looting to the sheriff.",
    "Neighbor [[PERSON|Linda Sorensen]] saw the marker removed.",
    "Survey led by [[PERSON|Michael Brown]] and [[PERSON|Sarah Johnson]].",
    "The quilt was made by [[PERSON|Emma Schmidt]] in 1890.",
    "[[PERSON|David Miller]] called about the easement.",
    "Permission obtained from [[PERSON|Patricia Wilson]] on site.",
    "Ask [[PERSON|George Anderson]] about the old cellar.",
    "Collected by [[PERSON|Helen Garcia]] during the 1986 season.",
    "[[PERSON|Richard Martinez]] owns the parcel to the north.",
    "The diary of [[PERSON|Clara Hoffman]] describes the flood.",
    "Report reviewed by [[PERSON|Karen Taylor]], state archaeologist.",
    "[[PERSON|Joseph Thompson]] found the projectile point while plowing.",
    "My grandmother, [[PERSON|Rose Mueller]], was born in this house.",
    "Please forward the report to [[PERSON|Nancy White]].",
    "The heirs of [[PERSON|Charles Harris]] still hold the land.",
    "[[PERSON|Margaret Clark]] transcribed the church records.",
    "Field notes by [[PERSON|Daniel Lewis]], July season.",
    "[[PERSON|Barbara Walker]] asked that her name not be published.",
    "Informant: [[PERSON|Steven Young]], retired teacher.",
    "[[PERSON|Elizabeth King]] and her son farm the quarter section.",
    "Landowner [[PERSON|Kevin Wright]] refused access this year.",
    "Letter signed by [[PERSON|Anna Lopez]].",
    "[[PERSON|Paul Scott]] recalls the dance hall burning.",
    "Measured drawing by [[PERSON|Laura Green]].",
    "The sheriff, [[PERSON|Mark Adams]], was notified.",
    "[[PERSON|Jennifer Baker]] will bring the family photographs.",
    "Visited with [[PERSON|Edward Nelson]] at his kitchen table.",
    "[[PERSON|Betty Carter]] was the last teacher at the school.",
    "We met [[PERSON|Gary Mitchell]] at the county fair.",
    "[[PERSON|Sharon Perez]] has the original land patent.",
    "Sketch map drawn by [[PERSON|Kenneth Roberts]].",
    "[[PERSON|Donna Turner]] phoned about the cemetery fence.",
    "Lease signed with [[PERSON|Jason Phillips]] in March.",
    "[[PERSON|Cynthia Campbell]] identified the people in the photo.",
    "Per [[PERSON|Larry Parker]], the barn was moved in 1955.",
    "[[PERSON|Amy Evans]] requested a copy of the site form.",
    "Thanks to [[PERSON|Jeffrey Edwards]] for the tour.",
    "[[PERSON|Angela Collins]] is the executor of the estate.",
    "Recorded by [[PERSON|Brian Stewart]] and volunteers.",
    "[[PERSON|Melissa Sanchez]] lives in the tenant house.",
    "[[PERSON|Ronald Morris]] dug the test pits.",
    "A note from [[PERSON|Deborah Rogers]] was found in the box.",
    "[[PERSON|Olga Petrova]] wrote from Saratov in 1911.",
    "[[PERSON|Johann Friedrich Weber]] emigrated from [[LOCATION|Hesse]].",
    "[[PERSON|Karin Lindström]] sent the family tree.",
    "[[PERSON|Giuseppe Rossi]] worked on the railroad crew.",
    "[[PERSON|Pierre Dubois]] traded with the Kaw.",
    "[[PERSON|Anders Nilsson]] homesteaded the claim in 1871.",
    "[[PERSON|Wojciech Kowalski]] signed the petition.",
    "[[PERSON|Eleanor Roosevelt]] visited the camp in 1938.",
    "[[PERSON|Amelia Earhart]] was born in [[LOCATION|Atchison]].",
    "[[PERSON|Dwight Eisenhower]] grew up in [[LOCATION|Abilene]].",
]

LOCATION_SENTENCES = [
    # Kansas towns, counties and rivers are places (the guard keeps them), historic sites in
    # the same sentences are not labelled (the guard drops them)
    "Stone quarried near [[LOCATION|Cottonwood Falls]] and hauled to [[LOCATION|Topeka]].",
    "The trail left [[LOCATION|Council Grove]] for Diamond Spring.",
    "Freight wagons ran from [[LOCATION|Leavenworth]] to Fort Riley.",
    "Emigrants camped at Alcove Spring before crossing the [[LOCATION|Big Blue River]].",
    "Cattle drives ended at [[LOCATION|Abilene]] and later [[LOCATION|Dodge City]].",
    "Territorial capital briefly at [[LOCATION|Lecompton]].",
    "[[LOCATION|Riley County]] historical society moved the cabin.",
    "[[LOCATION|Nicodemus]] township hall, 1939.",
    "She moved to [[LOCATION|Chicago]] after the war.",
    "Letters arrived from [[LOCATION|Sweden]] every Christmas.",
    "The family came from [[LOCATION|Hesse]] by way of [[LOCATION|New York]].",
    "He now lives in [[LOCATION|Denver]].",
    "Shipped by rail to [[LOCATION|St. Louis]].",
    "The trunk was made in [[LOCATION|Norway]].",
    "Relatives remain in [[LOCATION|Mexico]].",
    "Her son studies in [[LOCATION|Boston]].",
    "They retired to [[LOCATION|Arizona]].",
    "Visited cousins in [[LOCATION|Germany]] last summer.",
    "The owner splits the year between [[LOCATION|Omaha]] and [[LOCATION|Tulsa]].",
    "Born in [[LOCATION|Poland]], she arrived in 1907.",
    "Sent the photographs to [[LOCATION|London]] for the exhibition.",
    "Worked in [[LOCATION|Texas]] oil fields before returning.",
    "The priest came from [[LOCATION|France]].",
    "Their daughter lives in [[LOCATION|Seattle]].",
]


# ---------------------------------------------------------------------------------------------
# hard negatives: Kansas historic-site notes (no PII at all)

KANSAS_NEGATIVES = [
    # trails, roads, forts after a year
    "Wagon ruts of the 1821 Santa Fe Trail are visible here.",
    "Swales of the 1867 Chisholm Trail cross the pasture.",
    "The 1858 Council Grove Road ran along the ridge.",
    "Barracks built beside the 1920 Fort Hays Street.",
    "Ruts from the 1846 Oregon Trail are faint but continuous.",
    "A stage station on the 1865 Smoky Hill Trail stood near the spring.",
    "Marker for the 1860 Pony Express Route erected by the DAR.",
    "Stone from the 1859 Fort Larned quarry was reused in the barn.",
    "Soldiers of the 1853 Fort Riley garrison camped on the bluff.",
    "The 1866 Fort Harker post cemetery was moved in 1873.",
    "Remains of the 1864 Fort Zarah sutler's store.",
    "Path of the 1838 Trail of Death crosses the county.",
    "The 1870 Kansas Pacific Railway grade is still visible.",
    "Crossing of the 1825 Santa Fe Trail at the creek.",
    "Surveyed in 1856 along the Military Road.",
    "In 1885 Stone Mill was built on the Neosho.",
    "Built 1889 Union School, closed 1946.",
    "The 1872 Atchison, Topeka and Santa Fe Railway depot burned in 1910.",
    "Ruts of the 1849 California Trail near Alcove Spring.",
    "Herds on the 1874 Western Trail passed west of the river crossing.",
    # forts, places, sites named after people
    "The Carrington Schoolhouse bell is at the museum.",
    "Stroud's Mill race still holds water in spring.",
    "Fort Larned trading post, rebuilt 1868.",
    "Fort Hays blockhouse and guardhouse remain.",
    "Fort Scott officers' row, restored.",
    "Hollis Homestead, stone house and root cellar.",
    "Keller Trading Post site, no standing structure.",
    "Bergman Mill dam remnants in the river.",
    "Fort Osborne earthworks, partly plowed.",
    "Whitaker School No. 44 stood on the corner.",
    "Lindquist Cemetery: 23 marked graves.",
    "The Pruitt Homestead was abandoned in 1935.",
    "Foundations of the Navarro Ranch house.",
    "Ortega Trading Post ledger pages survive.",
    "Dunbar Mill wheel pit filled with silt.",
    "Pleasant Hill School No. 5 moved to town in 1961.",
    "Cedar Creek Church and cemetery.",
    "Council Grove Road Depot, freight platform only.",
    "Walnut Grove Village Site, surface scatter.",
    "Sand Creek Mound Group, three low mounds.",
    "Spring Valley Cemetery gate, 1902.",
    "Lone Elm campground on the trail.",
    "Pawnee Rock, where travelers carved their names.",
    "Shawnee Mission north building, 1845.",
    "Kaw Mission school building, stone, 1851.",
    "Hollenberg Station, the only unaltered Pony Express station.",
    "The township hall, 1939, replaced the dugout church.",
    "Visited Fort Riley and the First Territorial Capitol.",
    "Blue Mound overlooks the Wakarusa valley.",
    # museum and archive identifiers
    "Accession 1998.112.4-6, three buttons from the parade ground.",
    "Catalog number 20061103 refers to the 2006 excavation season.",
    "Photograph 1915.8.33 shows the depot platform.",
    "Box 7, folders 12-14, survey correspondence of 1938.",
    "Inventory no. 44812390 on the back of the frame.",
    "Accession 20110304 saved in box 4.",
    "Catalog no. 12345678, checked 2021.",
    "Accession number 1987.045.0012, catalogued by volunteers.",
    "KSHS accession 2011.3.44 donated by the family.",
    "Box 12, folder 34: survey correspondence.",
    "Folder 785-12 holds the plat maps.",
    "Object 1994.21.7, cast iron kettle.",
    "Catalogue number 87654321 assigned in 1999.",
    "Item 4532 0151 1283 0366 in the ledger inventory.",
    "NRHP reference 77000583.",
    "NRHP ref. no. 72000512, listed 1972.",
    "KHRI inventory 123-4567-00089.",
    "Specimen 20040719 returned to the landowner.",
    "Negative 3456-78 shows the barn before the fire.",
    "Manuscript collection 412, box 3, folder 17.",
    "Lot 2003.145 contains the trade beads.",
    "Reel 18, frame 2233 of the territorial census microfilm.",
    "Site 14RY401 recorded in 1973; see also 14GE12.",
    "Trinomial 14DO123 assigned by the state office.",
    "Plat book 12, page 345.",
    "Deed book 45, page 234, filed 1884.",
    # PLSS legal descriptions and county roads
    "S14-T12S-R20E, NW corner.",
    "E 1/2 of the NE 1/4, Section 22, Township 4 South, Range 17 West.",
    "T12S R20E S14",
    "SW1/4 of Sec. 14, T12S, R20E, 6th P.M.",
    "NE 1/4 of the SW 1/4 of Section 3, T15S, R5W.",
    "Sec. 22, T4S, R17W, sixth principal meridian.",
    "Township 12 South, Range 20 East, Section 14.",
    "Located in T. 31 S., R. 12 E., Sec. 9.",
    "County Road 350, one mile east of the bridge.",
    "Turn north on CR 12 at the elevator.",
    "Half a mile south of K-10 on Road 1050.",
    "The marker stands where US-56 meets K-177.",
    "Exit I-70 at mile marker 206.",
    "Follow Highway 24 west to Road P.",
    "On Co. Rd. 21 past the cattle guard.",
    # 555 numbers that are not phone numbers, and other numbers of the records
    "Burial 555-A beside the fence row.",
    "Feature 555 is a refuse pit, 1.2 m deep.",
    "Grave 555 in the county poor farm cemetery.",
    "555 acres were patented in 1869.",
    "The marker sits 555 feet from the fence corner.",
    "Mile 555 on the old railroad survey.",
    "Population 1,555 in the 1880 census.",
    "Elevation 1,885 ft above sea level.",
    "Sheet 555-02 of the 1938 aerial photographs.",
    "Roll 555, exposures 12 to 18.",
    "The 1555 map of the New World shows no rivers here.",
    "Census page 555, line 12, dwelling 40.",
    # years, dates and measurements
    "Shown on the 1887 county atlas; location confirmed.",
    "Listed in the 1936 WPA inventory.",
    "Cornerstone reads 1884; roof partly collapsed.",
    "Occupied 1870-1932, then used as a granary.",
    "Burned in the 1911 fire; rebuilt 1912-1913.",
    "The flood of 1951 took the north wall.",
    "Walls 18 inches thick, 24 by 36 feet.",
    "Cellar depression 4 m across, 1.5 m deep.",
    "Scatter of 230 sherds and 14 lithic flakes.",
    "Three courses of limestone remain; 2 m standing.",
    "Survey in 1973 and again in 2004.",
    "Visited 12 May 2021; fence intact.",
    "Between 1854 and 1861 the crossing saw heavy traffic.",
    "Postmarked 1867 at Fort Dodge.",
    "Grade school district 67 consolidated in 1947.",
    "Pasture burned every spring since 1950.",
    "Cemetery has 112 burials, 1859 to 1918.",
    "About 1880 Swedish settlers built the church.",
    "Dugout in use circa 1875-1880.",
    "Rebuilt after 1923 on the old foundation.",
    # sites and nations named in sentences
    "Visited Fort Riley and the First Territorial Capitol.",
    "The trail left Pawnee Rock for the Cimarron Crossing.",
    "Flint Hills pasture, never plowed.",
    "The mission served Shawnee and Delaware students.",
    "Kaw villages stood along the river bottoms.",
]

GENERAL_NEGATIVES = [
    "The meeting starts at 10:30 and ends at noon.",
    "Version 2.4.1 fixes the export bug.",
    "Order 44125 shipped on Tuesday.",
    "The invoice total was $1,245.50.",
    "Temperature reached 104 degrees.",
    "Room 214 is on the second floor.",
    "Chapter 12, pages 120-145.",
    "Flight 1427 was delayed two hours.",
    "The recipe needs 250 g of flour.",
    "Route planning took 3 hours 45 minutes.",
    "She scored 98 out of 100.",
    "The bridge is 1,200 feet long.",
    "Serial 00012345 on the back plate.",
    "ISBN 978-0-7006-1234-5",
    "Case no. 2019-CV-0412 was dismissed.",
    "Ticket 7734-221 closed.",
    "We expect 15000 visitors this year.",
    "The build number is 20240517.",
    "Lot size 0.25 acres.",
    "Measured 12.5 by 30.2 meters.",
    "Batch 4411-09-22 passed inspection.",
    "The 2020 census counted 2,937,880 Kansans.",
    "A 4x4 truck and a 12 ft trailer.",
    "Model 1873 rifle, serial 27591.",
    "He ran the mile in 4:05.",
    "Coordinates were withheld at the owner's request.",
    "Zip codes 66044 and 66046 share the office.",
    "The vote was 55 to 45.",
    "Use code SAVE20 at checkout.",
    "Item 1234567890123 is out of stock.",
]

MIXED = [
    "[[PERSON|Ann Marsh]] ([[EMAIL_ADDRESS|ann.marsh@example.org]], [[PHONE_NUMBER|785-555-0142]]) lives at [[STREET_ADDRESS|1200 Massachusetts St]].",
    "Contact [[PERSON|Ben Quill]] at [[PHONE_NUMBER|+44 20 7946 0958]] or [[STREET_ADDRESS|12 High Street, London SW1A 1AA]].",
    "Pay with [[CREDIT_CARD|4111 1111 1111 1111]], ship to [[STREET_ADDRESS|PO Box 1234]].",
    "[[PERSON|Greta Sorensen]], [[STREET_ADDRESS|RR 2 Box 14]], [[PHONE_NUMBER|(620) 555-0176]]",
    "Survey of the 1821 Santa Fe Trail; landowner [[PERSON|Hal Tolliver]], [[PHONE_NUMBER|785.555.0110]].",
    "Accession 2011.3.44 donated by [[PERSON|Carla Ridley]] of [[STREET_ADDRESS|615 N Kansas Ave]].",
]


def _apply(
    templates: Sequence[str], values: Iterable[str], group: str, start: int = 0
) -> list[Case]:
    out = []
    for i, value in enumerate(values):
        template = templates[(i + start) % len(templates)]
        out.append(parse(template.format(value), group))
    return out


def build_cases() -> list[Case]:
    """Every case of the corpus, in a fixed order."""
    cases: list[Case] = []
    phones = PHONES
    cases += _apply(PHONE_TEMPLATES, phones, "positive:PHONE_NUMBER")
    cases += _apply(PHONE_TEMPLATES, phones, "positive:PHONE_NUMBER", start=7)
    cases += _apply(CONTEXT_PHONE_TEMPLATES, PHONES_NEEDING_CONTEXT, "positive:PHONE_NUMBER")
    cards = card_numbers()
    cases += _apply(CARD_TEMPLATES, cards, "positive:CREDIT_CARD")
    cases += _apply(CARD_TEMPLATES, card_numbers(seed=1854), "positive:CREDIT_CARD", start=3)
    cases += _apply(ADDRESS_TEMPLATES, ADDRESSES, "positive:STREET_ADDRESS")
    cases += _apply(ADDRESS_TEMPLATES, ADDRESSES, "positive:STREET_ADDRESS", start=5)
    for entity, template in OTHER_TEMPLATES:
        values = {
            "EMAIL_ADDRESS": EMAILS,
            "US_SSN": SSNS,
            "IBAN_CODE": IBANS,
            "IP_ADDRESS": IPS,
            "US_DRIVER_LICENSE": DRIVER_LICENSES,
        }[entity]
        cases += [parse(template.format(v), f"positive:{entity}") for v in values]
    cases += [parse(s, "positive:PERSON") for s in PERSON_SENTENCES]
    cases += [parse(s, "positive:LOCATION") for s in LOCATION_SENTENCES]
    cases += [parse(s, "mixed") for s in MIXED]
    cases += [parse(s, "kansas_negative") for s in KANSAS_NEGATIVES]
    cases += [parse(s, "general_negative") for s in GENERAL_NEGATIVES]
    return cases


CASES = build_cases()


# ---------------------------------------------------------------------------------------------
# scoring


@dataclass
class Score:
    tp_gold: int = 0  # gold spans found
    gold: int = 0
    tp_pred: int = 0  # predicted spans that are right
    pred: int = 0

    @property
    def recall(self) -> float:
        return self.tp_gold / self.gold if self.gold else 1.0

    @property
    def precision(self) -> float:
        return self.tp_pred / self.pred if self.pred else 1.0


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def score(
    cases: Sequence[Case], predictions: Sequence[Iterable[tuple[str, int, int]]]
) -> dict[str, Score]:
    """Per-entity scores: a gold span is found, and a predicted span is right, when a span of
    the same type overlaps it. Only the :data:`LABELLED` types are scored."""
    scores = {e: Score() for e in LABELLED}
    for case, predicted in zip(cases, predictions, strict=True):
        pred = [p for p in predicted if p[0] in scores]
        for entity, start, end in case.spans:
            s = scores[entity]
            s.gold += 1
            if any(p[0] == entity and _overlap((start, end), (p[1], p[2])) for p in pred):
                s.tp_gold += 1
        for entity, start, end in pred:
            s = scores[entity]
            s.pred += 1
            if any(g[0] == entity and _overlap((start, end), (g[1], g[2])) for g in case.spans):
                s.tp_pred += 1
    return scores


# ---------------------------------------------------------------------------------------------
# predictions: the scanner's fast path, its plain Presidio path, and stock Presidio

Spans = list[tuple[str, int, int]]


def predict_fast(exact: Any, cases: Sequence[Case], threshold: float) -> list[Spans]:
    """Spans the fast path (``ExactAnalysis``: pre-filter, raw results once, then scoring)
    reports for each case, read as a free-text cell without column context."""
    out: list[Spans] = []
    for case in cases:
        raw = exact.raw(case.text)
        results = [] if raw is None else exact.results(case.text, raw, [], threshold)
        out.append(sorted((r.entity_type, r.start, r.end) for r in results))
    return out


def predict_plain(analyzer: Any, cases: Sequence[Case], threshold: float) -> list[Spans]:
    """Spans ``AnalyzerEngine.analyze`` reports for each case (URL-in-e-mail hits dropped, as
    on every path of the scan)."""
    from kfm_gate.evidence.recognizers import clean_results

    out: list[Spans] = []
    for case in cases:
        results = analyzer.analyze(
            text=case.text, language="en", context=[], score_threshold=threshold
        )
        results = clean_results(case.text, results)
        out.append(sorted((r.entity_type, r.start, r.end) for r in results))
    return out


def stock_analyzer(ner_package: str | None = None) -> Any:
    """Presidio as it comes: its default recognizers and regions; with ``ner_package``, its
    default spaCy NER configuration around that (already installed) pipeline."""
    import os
    from pathlib import Path

    import yaml

    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
    import presidio_analyzer
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import (
        NerModelConfiguration,
        NlpEngineProvider,
        SpacyNlpEngine,
    )

    if ner_package is None:
        nlp: Any = NlpEngineProvider(
            nlp_configuration={
                "nlp_engine_name": "no_op",
                "models": [{"lang_code": "en", "model_name": "no_op"}],
            }
        ).create_engine()
    else:
        from kfm_gate.evidence.ner import load_ner

        conf_path = Path(presidio_analyzer.__file__).with_name("conf") / "default.yaml"
        conf = yaml.safe_load(conf_path.read_text(encoding="utf-8"))
        nlp = SpacyNlpEngine(
            models=[{"lang_code": "en", "model_name": ner_package}],
            ner_model_configuration=NerModelConfiguration(**conf["ner_model_configuration"]),
        )
        nlp.nlp = {"en": load_ner(ner_package)[0]}
    return AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])
