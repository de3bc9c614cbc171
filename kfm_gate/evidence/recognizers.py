"""The Presidio analyzer of kfm-gate: offline, built once per process, with KFM's recognizers.

Presidio's pattern recognizers run with the ``no_op`` NLP engine (no model download). kfm-gate
replaces or adds what real records need:

- ``StreetAddressRecognizer`` (``STREET_ADDRESS``): US forms (house number, street words, a
  USPS or common English suffix; unit, suite, city/state/ZIP), unnumbered streets with a unit
  or ZIP, PO boxes, rural and highway-contract routes (``RR 2 Box 14``), military
  (``PSC 1234, Box 5678, APO AE 09012``), and the non-US forms of immigrant letters and
  foreign correspondents (``Hauptstraße 12``, ``Kerkstraat 4``, ``12 rue de la Paix``,
  ``Via Roma 5``, ``Calle Mayor 12``, ``ul. Długa 3``), with a postcode and city when present;
- ``UsPhoneRecognizer``, ``InternationalPhoneRecognizer``, ``NationalPhoneRecognizer``
  (``PHONE_NUMBER``): North American formats whatever the area code; ``+``, ``00`` and
  ``011`` numbers of every country and national numbers written with a trunk ``0``
  (``030 1234567``, ``(02) 9876 5432``), both checked by ``phonenumbers``; grouped national
  numbers without a trunk prefix and bare 10-digit North American numbers only with context.
  Presidio's own phone recognizer is kept for the US and CA regions;
- ``PaymentCardRecognizer`` (``CREDIT_CARD``, replaces Presidio's): 12 to 19 digits, grouped
  or not, whose prefix is an issuer range of the current IIN tables (Visa, Mastercard 51-55 and
  2221-2720, Amex, Discover, Diners, JCB 35, 2131 and 1800, Maestro, UnionPay, Mir,
  RuPay, Troy, Verve, UATP ...) with a length that issuer uses, and a valid Luhn check digit;
- ``KansasDriverLicenseRecognizer`` (``US_DRIVER_LICENSE``): ``K00-00-0000`` and ``K00000000``.

Scores and context. Without NLP tokens Presidio cannot see the words around a match, so
:class:`KfmContextEnhancer` reads the words before and after it in the raw text (and the column
name, passed as context). A supporting word adds :data:`CONTEXT_BOOST`; a *weak* result (its
recognizer gave it less than :data:`WEAK_SCORE`: Presidio's "very weak" patterns, any 8-17
digits for a bank number) is never raised above :data:`WEAK_CONTEXT_CEILING`, below the
default threshold: context alone cannot make a weak hit block. A result counts when its score
is **at or above** the threshold (Presidio's rule, ``score >= threshold``). The same enhancer
asks the :class:`~kfm_gate.evidence.kansas.KansasGuard` about every result and sets the score
of one it explains (a year before a trail, an accession number, a PLSS description) to 0.

NER (person and place names) is optional: :func:`build_analyzer` with ``ner=True`` adds
Presidio's spaCy recognizer around the pipeline of :mod:`kfm_gate.evidence.ner`. The analyzer
is cached: build it with :func:`build_analyzer` and reuse it.
"""

from __future__ import annotations

import copy
import functools
import os
import re
from typing import TYPE_CHECKING, Any

from kfm_gate.errors import ConfigError
from kfm_gate.evidence.kansas import ARCHIVE_WORDS, kansas_guard
from kfm_gate.evidence.ner import NER_RECOGNIZER, find_ner_package, require_ner_package

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine, RecognizerResult

#: regions Presidio's phone recognizer parses numbers without a country code for (numbers
#: written with +<country code> are found for every country)
PHONE_REGIONS = ("US", "CA")
#: regions whose national numbers are written with a trunk 0 (``030 1234567``)
TRUNK_ZERO_REGIONS = (
    "GB",
    "IE",
    "DE",
    "AT",
    "CH",
    "NL",
    "BE",
    "FR",
    "IT",
    "SE",
    "FI",
    "AU",
    "NZ",
    "IN",
    "IL",
    "BR",
    "JP",
    "ZA",
    "AR",
    "UA",
)
#: regions whose national numbers have no trunk prefix (``912 345 678``): context needed
NO_TRUNK_REGIONS = ("ES", "PT", "PL", "CZ", "SK", "NO", "DK", "GR", "IT", "MX", "HU")

#: what a supporting context word adds to a score
CONTEXT_BOOST = 0.35
#: a result scored below this by its recognizer is weak (Presidio's "very weak" patterns)
WEAK_SCORE = 0.3
#: the most context can raise a weak result to: below the default threshold of 0.4
WEAK_CONTEXT_CEILING = 0.35

# USPS Publication 28, appendix C1: primary street suffix names and common abbreviations.
_STREET_SUFFIXES_TEXT = """
Alley Aly Annex Anx Arcade Arc Avenue Ave Av Bayou Byu Beach Bch Bend Bnd Bluff Blf Bluffs Blfs
Bottom Btm Boulevard Blvd Branch Br Bridge Brg Brook Brk Brooks Brks Burg Bg Burgs Bgs Bypass
Byp Camp Cp Canyon Cyn Cape Cpe Causeway Cswy Center Ctr Centers Ctrs Circle Cir Circles Cirs
Cliff Clf Cliffs Clfs Club Clb Common Cmn Commons Cmns Corner Cor Corners Cors Course Crse
Court Ct Courts Cts Cove Cv Coves Cvs Creek Crk Crescent Cres Crest Crst Crossing Xing
Crossroad Xrd Crossroads Xrds Curve Curv Dale Dl Dam Dm Divide Dv Drive Dr Drives Drs Estate
Est Estates Ests Expressway Expy Extension Ext Extensions Exts Fall Falls Fls Ferry Fry Field
Fld Fields Flds Flat Flt Flats Flts Ford Frd Fords Frds Forest Frst Forge Frg Forges Frgs Fork
Frk Forks Frks Fort Ft Freeway Fwy Garden Gdn Gardens Gdns Gateway Gtwy Glen Gln Glens Glns
Green Grn Greens Grns Grove Grv Groves Grvs Harbor Hbr Harbors Hbrs Haven Hvn Heights Hts
Highway Hwy Hill Hl Hills Hls Hollow Holw Inlet Inlt Island Is Islands Iss Isle Junction Jct
Junctions Jcts Key Ky Keys Kys Knoll Knl Knolls Knls Lake Lk Lakes Lks Land Landing Lndg Lane
Ln Light Lgt Lights Lgts Loaf Lf Lock Lck Locks Lcks Lodge Ldg Loop Mall Manor Mnr Manors Mnrs
Meadow Mdw Meadows Mdws Mews Mill Ml Mills Mls Mission Msn Motorway Mtwy Mount Mt Mountain Mtn
Mountains Mtns Neck Nck Orchard Orch Oval Overpass Opas Park Parks Parkway Pkwy Parkways Pass
Passage Psge Path Pike Pine Pne Pines Pnes Place Pl Plain Pln Plains Plns Plaza Plz Point Pt
Points Pts Port Prt Ports Prts Prairie Pr Radial Radl Ramp Ranch Rnch Rapid Rpd Rapids Rpds
Rest Rst Ridge Rdg Ridges Rdgs River Riv Road Rd Roads Rds Route Rte Row Rue Run Shoal Shl
Shoals Shls Shore Shr Shores Shrs Skyway Skwy Spring Spg Springs Spgs Spur Spurs Square Sq
Squares Sqs Station Sta Stravenue Stra Stream Strm Street St Streets Sts Summit Smt Terrace Ter
Throughway Trwy Trace Trce Track Trak Trafficway Trfy Trail Trl Trailer Trlr Tunnel Tunl
Turnpike Tpke Underpass Upas Union Un Unions Uns Valley Vly Valleys Vlys Via Viaduct Vdct View
Vw Views Vws Village Vlg Villages Vlgs Ville Vl Vista Vis Walk Walks Wall Way Ways Well Wl
Wells Wls
"""
#: street types of British, Irish, Canadian, Australian and New Zealand addresses
_OTHER_ENGLISH_SUFFIXES_TEXT = """
Close Rise Parade Approach Chase Croft Gate Mead Vale Quay Wharf Yard Broadway Esplanade
Promenade Circuit Wynd Drove Grange Gardens Mews Crescent Green Row Terrace Walk Hill Lane
Concession Sideroad Line Brace Riviera Courtyard Subway Laneway Distributor Anchorage Reserve
Centre Flats Boardwalk Concourse Corso Cutting Fairway Glade Heath Outlook Retreat Strand Quays
Waters Nook Tarn
"""
_STREET_SUFFIXES = sorted(
    set(_STREET_SUFFIXES_TEXT.split()) | set(_OTHER_ENGLISH_SUFFIXES_TEXT.split())
)
#: suffixes common enough in street names to be a medium signal on their own
_COMMON_SUFFIXES_TEXT = """
Avenue Ave Av Boulevard Blvd Circle Cir Court Ct Drive Dr Highway Hwy Lane Ln Parkway Pkwy
Place Pl Road Rd Street St Terrace Ter Trail Trl Way Close Crescent Parade
"""
_COMMON_SUFFIXES = _COMMON_SUFFIXES_TEXT.split()
_NAME_WORD = r"(?:(?:Mc|Mac|O')?[A-Z][A-Za-z'\u2019-]*\.?|\d{1,3}(?:st|nd|rd|th))"
_DIRECTION = r"(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\.?"
_HOUSE = r"\d{1,6}[A-Z]?(?:-\d{1,5}[A-Z]?)?(?:\s1/2)?"
#: a house number of 3 to 6 digits that is not a year of Kansas history (1500-2039)
_HOUSE_NOT_YEAR = r"(?!(?:1[5-9]\d\d|20[0-3]\d)\b)\d{3,6}[A-Z]?(?:-\d{1,5}[A-Z]?)?(?:\s1/2)?"
_UNIT_WORD = (
    r"(?:Apt|Apartment|Suite|Ste|Unit|Bldg|Building|Fl|Floor|Rm|Room|Lot|Space|Spc|Trlr|"
    r"Dept|Flat|Box|#)"
)
_UNIT = rf"(?:,?\s+|\s*){_UNIT_WORD}\.?\s*#?\s*[A-Za-z]?\d[A-Za-z0-9-]{{0,6}}\b"
_STATES = [
    "AL",
    "AK",
    "AZ",
    "AR",
    "CA",
    "CO",
    "CT",
    "DE",
    "DC",
    "FL",
    "GA",
    "HI",
    "ID",
    "IL",
    "IN",
    "IA",
    "KS",
    "KY",
    "LA",
    "ME",
    "MD",
    "MA",
    "MI",
    "MN",
    "MS",
    "MO",
    "MT",
    "NE",
    "NV",
    "NH",
    "NJ",
    "NM",
    "NY",
    "NC",
    "ND",
    "OH",
    "OK",
    "OR",
    "PA",
    "RI",
    "SC",
    "SD",
    "TN",
    "TX",
    "UT",
    "VT",
    "VA",
    "WA",
    "WV",
    "WI",
    "WY",
    "AS",
    "GU",
    "MP",
    "PR",
    "VI",
    "AA",
    "AE",
    "AP",
    "ON",
    "QC",
    "BC",
    "AB",
    "MB",
    "SK",
    "NS",
    "NB",
    "NL",
    "PE",
    "YT",
    "NU",
]
_STATE_NAMES = (
    r"Kansas|Missouri|Nebraska|Oklahoma|Colorado|Texas|Iowa|Illinois|California|New\s+York|"
    r"Ontario|Quebec|Alberta|Manitoba|Saskatchewan|British\s+Columbia|Nova\s+Scotia"
)
_CITY = r"(?:[A-Z][A-Za-z.'\u2019-]*\s+){0,3}[A-Z][A-Za-z.'\u2019-]*"
#: ", City, ST 12345" (US), ", City, ON M5V 2T6" (Canada), "City NSW 2000" (Australia)
_CITY_STATE_ZIP = (
    rf"(?:,|\s*\n|,?\s*\n)\s*{_CITY},?\s+(?:{'|'.join(_STATES)}|{_STATE_NAMES}|"
    r"NSW|VIC|QLD|WA|SA|TAS|ACT|NT),?\s+"
    r"(?:\d{5}(?:-\d{4})?|\d{4}|[A-Z]\d[A-Z]\s?\d[A-Z]\d)\b"
)
#: the state (or province) and ZIP (or postcode) at the end of _CITY_STATE_ZIP
_STATE_ZIP_TOKEN = (
    rf"\b(?:{'|'.join(_STATES)}|{_STATE_NAMES}|NSW|VIC|QLD|WA|SA|TAS|ACT|NT),?\s+"
    r"(?:\d{5}(?:-\d{4})?|\d{4}|[A-Z]\d[A-Z]\s?\d[A-Z]\d)\b"
)
#: ", London SW1A 1AA" (United Kingdom postcode)
_UK_POSTCODE = rf"(?:,|\s*\n|,?\s*\n)\s*(?:{_CITY},?\s+)?[A-Z]{{1,2}}\d[A-Z\d]?\s?\d[A-Z]{{2}}\b"
#: ", 10115 Berlin", "\n75002 Paris", ", 1012 AB Amsterdam" (continental postcode and city)
_POSTCODE_CITY = (
    r"(?:,|\s*\n|,?\s*\n)\s*(?:[A-Z]{1,2}-)?\d{4,5}(?:\s?[A-Z]{2})?\s+"
    r"[A-ZÀ-ÝĀ-Ž][\wÀ-ÿĀ-ž'\u2019.-]*(?:[ -][A-ZÀ-ÝĀ-Ž][\wÀ-ÿĀ-ž'\u2019.-]*){0,2}"
)
_UPPER = r"[A-ZÀ-ÝĀ-Ž]"
_YEAR = r"(?:1[5-9]\d\d|20[0-3]\d)"
_LOWER = r"[a-zß-ÿā-ž]"
_ANYWORD = r"[\wÀ-ÿĀ-ž'\u2019.-]"
#: German, Dutch and Scandinavian street names written as one word (Hauptstraße, Kerkstraat)
_GERMANIC_ENDINGS = (
    r"(?:straße|strasse|str\.|weg|gasse|platz|allee|damm|ufer|steig|pfad|chaussee|gade|vej|"
    r"gatan|gata|vägen|väg|veien|vei|vegur|stræti|laan|straat|plein|gracht|kade|dijk|singel|"
    r"katu|kuja|tie|polku|utca|tänav|cesta|ulica|ulice)"
)
#: the same street types written as a separate word (Berliner Straße 12, Karl Johans gate 22)
_GERMANIC_HYPHENATED = r"(?:Straße|Strasse|Weg|Gasse|Platz|Allee|Ring|Damm|Ufer|Steig|Pfad)"
_GERMANIC_WORDS = (
    r"(?:Straße|Strasse|Str\.|Weg|Allee|Platz|Gasse|Damm|Ufer|Ring|Chaussee|Markt|gate|gata|"
    r"gatan|vei|veien|vej|gade|allé|plass|torg|vägen|väg|stræde|utca|út|tér|tn\.|tänav|cesta|"
    r"ulica|ulice|straat|laan|weg)"
)
_HOUSE_AFTER = r"\d{1,4}\s?[a-zA-Z]?(?:\s?[-/]\s?\d{1,4}[a-zA-Z]?)?\b"
#: a street line of any language: words, a house number (or S/N), units (Piso 2, Apt. 90)
_STREET_LINE = (
    r"\b[A-ZÀ-ÝĀ-Ža-zß-ÿā-ž][\wÀ-ÿĀ-ž'\u2019.-]*(?:[ \t]+[\wÀ-ÿĀ-ž'\u2019.()-]+){0,6}?,?[ \t]+"
    r"(?:\d{1,5}[a-zA-Z]?(?:[/-]\d{1,4}[a-zA-Z]?)?\.?|S/N)"
    r"(?:[ \t]+(?:Apt\.?|Piso|Puerta|Piano|Interior|Int\.|Edif\.|Depto\.|Nr\.?|Bl\.?|Sc\.?|"
    r"Et\.?|Ap\.?|Flat|Unit)[ \t]*\d{1,4}[A-Za-z]?,?)*"
)
#: the next line (or after a comma): a postcode and a city, or a city and a postcode
_POST_LINE_BODY = (
    r"(?:\n|,)[ \t]*(?:(?:[A-Z]{1,2}-)?(?:\d{5,6}|(?!" + _YEAR + r"\b)\d{4}|\d{3}[ ]\d{2}|"
    r"\d{2}-\d{3}|\d{4}-\d{3}|\d{5}-\d{3})(?:[ ]?[A-Z]{2})?,?(?:[ \t]*\n[ \t]*|[ \t]+)"
    r"[A-ZÀ-ÝĀ-Ž][\wÀ-ÿĀ-ž'\u2019.-]*"
    r"|[A-ZÀ-ÝĀ-Ž][\wÀ-ÿĀ-ž'\u2019.-]*(?:[ \t]+[\wÀ-ÿĀ-ž'\u2019.-]+){0,3},[ \t]*\d{5,6})"
)
_POST_LINE = r"[ \t]*" + _POST_LINE_BODY
#: Romance street types before the name: number after (Via Roma 12, Calle Mayor 12)
_TYPE_FIRST = (
    r"(?:Via|Viale|Piazza|Piazzale|Corso|Vicolo|Largo|Strada|Calle|C/|Avenida|Avda\.|Paseo|"
    r"Plaza|Camino|Carrer|Carretera|Ctra\.|Rúa|Rua|Travessa|Praça|Estrada|Alameda|Rambla|Ronda|"
    r"Calzada|Callejón|Avinguda|ul\.|ulica|al\.|aleja|pl\.|plac|os\.|osiedle|Ulica|Aleja|"
    r"Bulevardul|Calea|Strada|Rruga|Utca|Avenue|Rue)"
)
_CONNECTOR = (
    r"(?:de|del|de la|de las|de los|dos|das|do|da|di|della|delle|dei|degli|dello|d'|l'|la|le|"
    r"les|du|des|of the)"
)
#: French street types after the number (12 rue de la Paix, 3 place du Marché)
_FRENCH_TYPES = (
    r"(?:rue|avenue|av\.|boulevard|bd|boul\.|place|chemin|allée|impasse|quai|route|cours|"
    r"passage|square|voie|sentier|faubourg|rang|montée|côte|Rue|Avenue|Boulevard|Place|Chemin|"
    r"Allée|Impasse|Quai|Cours|Passage)"
)


def _alternation(words: list[str]) -> str:
    return "|".join(sorted(set(words), key=lambda s: (-len(s), s)))


def street_address_regex(
    suffixes: list[str], *, unit: bool = False, zip_code: bool = False, house: str = _HOUSE
) -> str:
    """House number, 1-4 capitalized words, a street suffix; optionally a unit and a ZIP."""
    core = (
        rf"\b{house}(?:\s+{_DIRECTION})?(?:\s+{_NAME_WORD}){{1,4}}?\s+(?:{_alternation(suffixes)})"
        rf"\b\.?(?:\s+{_DIRECTION}(?![A-Za-z]))?"
    )
    tail = _UNIT if unit else f"(?:{_UNIT})?"
    return core + tail + (f"(?:{_CITY_STATE_ZIP}|{_UK_POSTCODE})" if zip_code else "")


def _address_patterns() -> list[tuple[str, str, float, str]]:
    """``(name, regex, score, root)`` of every street-address form (see the module docstring).

    ``root`` is a cheaper expression that matches wherever the pattern does (the pattern is
    its root plus a tail, or the root with a narrower part: a subset of suffixes or of house
    numbers); the pre-filter searches the roots (:class:`PrefilterRoots`)."""
    every, common = _STREET_SUFFIXES, _COMMON_SUFFIXES
    numbered_street = (
        rf"\b{_HOUSE}(?:\s+{_DIRECTION})?\s+(?:Avenue|Ave|Street|St|Road|Rd)\.?\s+"
        r"(?:[A-Z]\b|\d{1,3}(?:st|nd|rd|th)?\b|of\s+the\s+[A-Z][a-z]+)"
    )
    route = (
        rf"\b{_HOUSE}\s+(?:County\s+Road|Co\.?\s+Rd\.?|State\s+Route|State\s+Highway|"
        r"US\s+Highway|U\.S\.\s+Highway|Highway|Hwy\.?|Route|Rte\.?|Road|Rd\.?|Farm\s+Road|FM)"
        r"\s+\d{1,4}[A-Z]?\b"
    )
    unnumbered = rf"\b(?:{_NAME_WORD}\s+){{1,3}}(?:{_alternation(every)})\b\.?"
    po_box = (
        r"\b(?:[Pp]\.?\s?[Oo]\.?|POB|Post\s+Office|[Pp]ost\s+[Oo]ffice)\s*[Bb]ox\s*#?\s*\d{1,6}\b"
    )
    rural = (
        r"\b(?:R\.?\s?R\.?|RFD|R\.\s?F\.\s?D\.|Rural\s+Route|Rural\s+Free\s+Delivery|"
        r"H\.?\s?C\.?|HCR|Highway\s+Contract(?:\s+Route)?|Star\s+Route)\s*#?\s*\d{1,3},?\s*"
        r"(?:Box|Bx)\s*#?\s*\d{1,5}[A-Z]?\b"
    )
    military = (
        r"\b(?:(?:PSC|CMR|Unit)\s+\d{1,5}(?:,?\s+Box\s+\d{1,5})?|"
        r"(?:USNS|USS|USNV|USCGC)\s+[A-Z][A-Za-z]+(?:\s+[A-Z][A-Za-z]+)?)"
        r"(?:,|\s*\n|,?\s*\n|\s)\s*(?:APO|FPO|DPO)\s+(?:AA|AE|AP)\s+\d{5}(?:-\d{4})?\b"
    )
    germanic = (
        rf"\b{_UPPER}{_LOWER}+(?:-{_UPPER}?{_LOWER}+)*(?:{_GERMANIC_ENDINGS}|-{_GERMANIC_HYPHENATED})"
        rf"\s+{_HOUSE_AFTER}"
    )
    germanic_words = (
        rf"\b{_UPPER}{_LOWER}+(?:e[rns])?(?:[ -]{_UPPER}?{_LOWER}+)?\s+{_GERMANIC_WORDS}\s+"
        + _HOUSE_AFTER
    )
    type_first = (
        rf"\b{_TYPE_FIRST}\s+(?:{_CONNECTOR}\s*)?{_UPPER}{_ANYWORD}*"
        rf"(?:\s+(?:{_CONNECTOR}\s*)?(?:{_UPPER}{_ANYWORD}*|\d{{1,2}}\s+de\s+{_UPPER}{_LOWER}+)){{0,4}}"
        r",?\s+(?:n\.?\s?º?\s*|nº\s*|no\.?\s*|#\s*|Nr\.?\s*)?\d{1,5}\s?[A-Za-z]?\b(?:[-/]\d{1,4})?"
    )
    french = (
        rf"\b\d{{1,4}}(?:\s?(?:bis|ter|[A-Za-z]))?,?\s+{_FRENCH_TYPES}\s+(?:{_CONNECTOR}\s*)?"
        rf"{_UPPER}{_ANYWORD}*(?:\s+(?:(?:{_CONNECTOR}|et|sur|sous|en)\s*)?{_UPPER}{_ANYWORD}*){{0,4}}"
    )
    with_post = f"(?:{_POSTCODE_CITY})"
    # any street line (words, a house number) followed by a postcode and a city on the next
    # line or after a comma (Nádražní 12, 110 00 Praha; Lundevollen 79, 5432 Finnstad)
    name_number_post = _STREET_LINE + _POST_LINE
    # house number and street words, then a city, state or province and postcode
    number_words_city = (
        rf"\b{_HOUSE}\s+(?:{_NAME_WORD}\s+){{0,3}}{_NAME_WORD}(?:{_CITY_STATE_ZIP}|{_UK_POSTCODE}"
        rf"|[ \t]*\n[ \t]*{_CITY}[ \t]+\d{{4}}\b)"
    )
    # British flats and studios before a house number and a street in any case (Flat 3, 27 rose close)
    flat_prefix = (
        rf"\b(?:Flat|Studio|Apartment|Apt\.?|Unit|Suite)\s+\d{{1,4}}[A-Za-z]?(?:,|\s*\n|\s)\s*"
        rf"\d{{1,5}}[A-Za-z]?\s+(?:{_NAME_WORD}\s+){{1,3}}(?i:{_alternation(every)})\b"
    )
    street = street_address_regex(every)
    # every match of the unnumbered forms holds a unit or a state-and-ZIP token, and every
    # match of a street line with its postcode line holds that postcode line
    unnumbered_root = f"(?:{_UNIT}|{_STATE_ZIP_TOKEN})"
    post_line_root = _POST_LINE_BODY
    return [
        # US and English forms, number first
        (
            "street, USPS suffix, 3-6 digit number not a year",
            street_address_regex(every, house=_HOUSE_NOT_YEAR),
            0.4,
            street,
        ),
        ("street, USPS suffix", street, 0.3, street),
        ("street, common suffix", street_address_regex(common), 0.5, street),
        ("street with unit", street_address_regex(every, unit=True), 0.6, street),
        (
            "street with city, state and ZIP",
            street_address_regex(every, zip_code=True),
            0.7,
            street,
        ),
        ("numbered street (5th Avenue, Avenue B)", numbered_street, 0.5, numbered_street),
        ("numbered road or highway", route, 0.5, route),
        ("street without number, with unit", unnumbered + _UNIT, 0.5, unnumbered_root),
        (
            "street without number, with city, state and ZIP",
            unnumbered + f"(?:{_UNIT})?" + _CITY_STATE_ZIP,
            0.6,
            unnumbered_root,
        ),
        # boxes and routes
        ("PO box", po_box, 0.6, po_box),
        ("PO box with city, state and ZIP", po_box + _CITY_STATE_ZIP, 0.75, po_box),
        ("rural or highway contract route and box", rural, 0.6, rural),
        ("rural route with city, state and ZIP", rural + _CITY_STATE_ZIP, 0.75, rural),
        ("military address (APO, FPO, DPO)", military, 0.75, military),
        # non-US forms
        ("Germanic street (Hauptstraße 12)", germanic, 0.5, germanic),
        ("Germanic street with postcode and city", germanic + with_post, 0.7, germanic),
        ("Germanic street in two words (Berliner Straße 12)", germanic_words, 0.5, germanic_words),
        (
            "Germanic street in two words with postcode",
            germanic_words + with_post,
            0.7,
            germanic_words,
        ),
        ("street line with postcode and city", name_number_post, 0.6, post_line_root),
        (
            "house number and street with city and postcode",
            number_words_city,
            0.6,
            number_words_city,
        ),
        ("flat or studio, house number and street", flat_prefix, 0.6, flat_prefix),
        ("street type first (Via Roma 12, Calle Mayor 12)", type_first, 0.5, type_first),
        ("street type first with postcode and city", type_first + with_post, 0.7, type_first),
        ("French street (12 rue de la Paix)", french, 0.5, french),
        ("French street with postcode and city", french + with_post, 0.7, french),
    ]


_PHONE_EXT = r"(?:\s?(?:x|ext\.?|extension|#)\s?\d{1,6})?"
US_PHONE_PAREN_REGEX = (
    r"(?<![\w+])(?:(?:\+?1|001)[-. ]?)?\(\d{3}\)\s?\d{3}[-. ]\d{4}(?![\d-])" + _PHONE_EXT
)
US_PHONE_SEPARATED_REGEX = (
    r"(?<![\w+.-])(?:(?:\+1|1|001)[-. ])?\d{3}([-. ])\d{3}\1\d{4}(?![\d-])" + _PHONE_EXT
)
#: a bare North American number (NXX NXX XXXX): found with context only
US_PHONE_BARE_REGEX = r"(?<![\w+.,/-])(?<!\d[ .-])(?:\+?1)?[2-9]\d{2}[2-9]\d{6}(?![\w]|[.,/-]\d)"
INTL_PHONE_REGEX = (
    r"(?<![\w+])(?<!\d[ .-])(?:\+|(?:00|011)[ .-]?)[1-9]\d{0,3}(?:[ .-]?\(0\))?"
    r"(?:[ .-]?\(?\d{1,6}\)?){1,6}(?![\w]|[ .-]\d)" + _PHONE_EXT
)
#: at least 8 digits ahead, allowing the separators of a phone number (a cheap first test)
_EIGHT_DIGITS = r"(?=(?:[ ()./-]{0,3}\d){8})"
_SEVEN_DIGITS = r"(?=(?:[ ()./+-]{0,3}\d){7})"
NATIONAL_PHONE_REGEX = (
    r"(?<![\w+.,/-])(?<!\d[ .-])"
    + _EIGHT_DIGITS
    + r"(?:\(0\d{1,5}\)|0\d{1,5})(?:[ ./-]?\d{2,8}){1,4}(?![\w]|[ ./-]\d)"
    + _PHONE_EXT
)
NATIONAL_NO_TRUNK_REGEX = (
    r"(?<![\w+.,/-])(?<!\d[ .-])"
    + _EIGHT_DIGITS
    + r"[1-9]\d{1,2}(?:[ .-]\d{2,3}){2,3}(?![\w]|[ ./-]\d)"
)
#: any phone-shaped run of 7 to 13 digits in groups: found with a word such as "call" only
PHONE_SHAPE_REGEX = (
    r"(?<![\w+.,/-])(?<!\d[ .-])" + _SEVEN_DIGITS + r"(?:\+?\(\d{1,4}\)[ /.-]{0,2})?"
    r"(?:\d{7,13}|\d{1,5}(?:[ /.-]{1,2}\d{2,5}){1,4})"
    r"(?![\w]|[ ./-]\d)"
)
_YEARS = re.compile(r"^(?:1[5-9]\d\d|20[0-3]\d)\s*[-/]\s*(?:1[5-9]\d\d|20[0-3]\d|\d\d)$")
KS_DL_DASHED_REGEX = r"\bK\d{2}-\d{2}-\d{4}\b"
KS_DL_PLAIN_REGEX = r"\bK\d{8}\b"
#: 12-19 digits: unseparated, or a group of 4 then groups of 2-7 with one kind of separator
CARD_REGEX = (
    r"(?<![\w+.,/-])(?<!\d[ -])(?:\d{12,19}|\d{4}(?: \d{2,7}){2,4}|\d{4}(?:-\d{2,7}){2,4})"
    r"(?![\w]|[ -]\d|[.,/]\d)"
)
_SSN_LIKE = re.compile(r"^\d{3}-\d{2}-\d{4}$")
_DATE_LIKE = re.compile(
    r"^(?:\d{1,2}([./-])\d{1,2}\1(?:\d{2}|\d{4})|\d{4}([./-])\d{1,2}\2\d{1,2}|\d{1,2} \d{1,2} \d{4})$"
)

#: issuer identification numbers: (brand, [(low, high) prefixes of equal length], lengths)
CARD_ISSUERS: tuple[tuple[str, tuple[tuple[str, str], ...], tuple[int, ...]], ...] = (
    ("visa", (("4", "4"),), (13, 16, 19)),
    ("mastercard", (("51", "55"), ("2221", "2720")), (16,)),
    ("amex", (("34", "34"), ("37", "37")), (15,)),
    (
        "discover",
        (("6011", "6011"), ("644", "649"), ("65", "65"), ("622126", "622925")),
        (16, 17, 18, 19),
    ),
    (
        "diners",
        (("300", "305"), ("3095", "3095"), ("36", "36"), ("38", "39")),
        (14, 15, 16, 17, 18, 19),
    ),
    ("jcb", (("3528", "3589"),), (16, 17, 18, 19)),
    ("jcb-35", (("35", "35"),), (16,)),  # the whole 35 block, as issuers and test data use it
    ("jcb-legacy", (("2131", "2131"), ("1800", "1800")), (15,)),
    ("maestro", (("50", "50"), ("56", "69"), ("0604", "0604")), (12, 13, 14, 15, 16, 17, 18, 19)),
    ("unionpay", (("62", "62"), ("81", "81")), (14, 15, 16, 17, 18, 19)),
    ("mir", (("2200", "2204"),), (16, 17, 18, 19)),
    (
        "rupay",
        (("60", "60"), ("65", "65"), ("81", "82"), ("508", "508"), ("353", "353"), ("356", "356")),
        (16,),
    ),
    ("troy", (("9792", "9792"),), (16,)),
    ("verve", (("506099", "506198"), ("650002", "650027")), (16, 18, 19)),
    ("dankort", (("5019", "5019"),), (16,)),
    ("uatp", (("1", "1"),), (15,)),
    ("instapayment", (("637", "639"),), (16,)),
)


def card_brand(digits: str) -> str | None:
    """The issuer of a card number by its prefix and length (no Luhn check); ``None`` if none."""
    for brand, ranges, lengths in CARD_ISSUERS:
        if len(digits) not in lengths:
            continue
        for low, high in ranges:
            prefix = digits[: len(low)]
            if len(prefix) == len(low) and low <= prefix <= high:
                return brand
    return None


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check of a digit string."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = ord(ch) - 48
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _strip_extension(text: str) -> str:
    return re.split(r"\s?(?:x|ext\.?|extension|#)\s?\d", text, maxsplit=1)[0]


class PrefilterRoots:
    """A pattern recognizer whose patterns each match only where one of ``prefilter_roots``
    matches: the pre-filter searches the (fewer, cheaper) roots instead of every pattern.
    Soundness is the recognizer's promise (see :func:`_address_patterns`), checked by a test."""

    prefilter_roots: tuple[str, ...] = ()


def _possible(phonenumbers: Any, number: Any) -> bool:
    """A number of a length its country uses for whole numbers (not only local dialling)."""
    reason = phonenumbers.is_possible_number_with_reason(number)
    return bool(reason == phonenumbers.ValidationResult.IS_POSSIBLE)


def _presidio_env() -> None:
    # tldextract (e-mail validation) must not try to fetch the public suffix list
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")


def kfm_recognizers() -> list[Any]:
    """The recognizers kfm-gate adds to Presidio's predefined set."""
    _presidio_env()
    import phonenumbers
    import regex  # type: ignore[import-untyped]
    from presidio_analyzer import Pattern, PatternRecognizer

    case_sensitive = regex.DOTALL | regex.MULTILINE

    class PaymentCardRecognizer(PatternRecognizer):
        """Card numbers of a known issuer range and length with a valid Luhn digit."""

        def validate_result(self, pattern_text: str) -> bool:
            digits = _digits(pattern_text)
            return card_brand(digits) is not None and luhn_valid(digits)

    class InternationalPhoneRecognizer(PatternRecognizer):
        """``+``, ``00`` or ``011`` numbers that ``phonenumbers`` calls valid."""

        def validate_result(self, pattern_text: str) -> bool | None:
            text = _strip_extension(pattern_text).replace("(0)", "")
            text = re.sub(r"^\s*(?:00|011)[ .-]?", "+", text)
            try:
                number = phonenumbers.parse(text, None)
            except phonenumbers.NumberParseException:
                return False
            return None if _possible(phonenumbers, number) else False

    class NationalPhoneRecognizer(PatternRecognizer):
        """National numbers valid in one of ``regions`` (not dates, not bare 8-digit runs)."""

        def __init__(self, *args: Any, regions: tuple[str, ...], **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.regions = regions

        def validate_result(self, pattern_text: str) -> bool | None:
            text = _strip_extension(pattern_text).strip()
            if _DATE_LIKE.match(text) or _SSN_LIKE.match(text):
                return False
            digits = _digits(text)
            if len(digits) < 8 or len(digits) > 13 or (text.isdigit() and len(digits) < 10):
                return False
            grouped = not text.isdigit()
            for region in self.regions:
                try:
                    number = phonenumbers.parse(digits, region)
                except phonenumbers.NumberParseException:
                    continue
                if phonenumbers.is_valid_number(number):
                    return None
                if grouped and _possible(phonenumbers, number):
                    return None
            return False

    class BareNanpRecognizer(PatternRecognizer):
        def validate_result(self, pattern_text: str) -> bool | None:
            digits = _digits(pattern_text)
            return None if len(digits) in (10, 11) else False

    class PhoneShapeRecognizer(PatternRecognizer):
        """7 to 13 digits in groups that are not a date, an SSN, a decimal or a year range."""

        def validate_result(self, pattern_text: str) -> bool | None:
            text = pattern_text.strip()
            digits = _digits(text)
            if not 7 <= len(digits) <= 13:
                return False
            if _DATE_LIKE.match(text) or _SSN_LIKE.match(text) or _YEARS.match(text):
                return False
            if re.fullmatch(r"\d+\.\d{1,3}", text):  # a decimal number
                return False
            return None

    class StreetAddressRecognizer(PrefilterRoots, PatternRecognizer):
        """Street addresses of many countries (see the module docstring)."""

    forms = _address_patterns()
    address = StreetAddressRecognizer(
        supported_entity="STREET_ADDRESS",
        name="StreetAddressRecognizer",
        supported_language="en",
        patterns=[Pattern(name, rx, score) for name, rx, score, _ in forms],
        context=[
            "address",
            "street",
            "mail",
            "mailing",
            "lives",
            "live",
            "living",
            "resides",
            "residence",
            "home",
            "house",
            "contact",
            "located",
            "ship",
            "deliver",
            "send",
            "write",
            "adresse",
            "anschrift",
            "indirizzo",
            "dirección",
            "direccion",
        ],
        global_regex_flags=case_sensitive,
    )
    phone_words = [
        "phone",
        "telephone",
        "tel",
        "cell",
        "cellphone",
        "mobile",
        "mob",
        "call",
        "fax",
        "contact",
        "reach",
        "ring",
        "text",
        "whatsapp",
        "dial",
        "ph",
        "telefon",
        "téléphone",
        "telefono",
        "teléfono",
        "handy",
    ]
    us_phone = PatternRecognizer(
        supported_entity="PHONE_NUMBER",
        name="UsPhoneRecognizer",
        supported_language="en",
        patterns=[
            Pattern("US phone (area code in parentheses)", US_PHONE_PAREN_REGEX, 0.6),
            Pattern("US phone (separated)", US_PHONE_SEPARATED_REGEX, 0.5),
        ],
        context=phone_words,
    )

    def phone(cls: Any, name: str, pattern: str, regex_: str, score: float, **kw: Any) -> Any:
        return cls(
            supported_entity="PHONE_NUMBER",
            name=name,
            supported_language="en",
            patterns=[Pattern(pattern, regex_, score)],
            context=phone_words,
            **kw,
        )

    address.prefilter_roots = tuple(dict.fromkeys(root for *_, root in forms))
    phones = [
        us_phone,
        phone(
            BareNanpRecognizer,
            "BareNanpPhoneRecognizer",
            "North American number without separators",
            US_PHONE_BARE_REGEX,
            0.3,
        ),
        phone(
            InternationalPhoneRecognizer,
            "InternationalPhoneRecognizer",
            "phone with country code (+, 00, 011)",
            INTL_PHONE_REGEX,
            0.7,
        ),
        phone(
            NationalPhoneRecognizer,
            "NationalPhoneRecognizer",
            "national phone with trunk 0",
            NATIONAL_PHONE_REGEX,
            0.5,
            regions=TRUNK_ZERO_REGIONS,
        ),
        phone(
            NationalPhoneRecognizer,
            "GroupedNationalPhoneRecognizer",
            "grouped national phone without trunk",
            NATIONAL_NO_TRUNK_REGEX,
            0.3,
            regions=NO_TRUNK_REGIONS,
        ),
        phone(
            PhoneShapeRecognizer,
            "PhoneShapeRecognizer",
            "phone-shaped digits (context needed)",
            PHONE_SHAPE_REGEX,
            0.3,
        ),
    ]
    card = PaymentCardRecognizer(
        supported_entity="CREDIT_CARD",
        name="PaymentCardRecognizer",
        supported_language="en",
        patterns=[Pattern("payment card number (12-19 digits)", CARD_REGEX, 0.3)],
        context=[
            "credit",
            "card",
            "visa",
            "mastercard",
            "amex",
            "discover",
            "jcb",
            "diners",
            "maestro",
            "unionpay",
            "debit",
            "cc",
            "payment",
            "pan",
        ],
    )
    licence = PatternRecognizer(
        supported_entity="US_DRIVER_LICENSE",
        name="KansasDriverLicenseRecognizer",
        supported_language="en",
        patterns=[
            Pattern("Kansas driver licence (K00-00-0000)", KS_DL_DASHED_REGEX, 0.6),
            Pattern("Kansas driver licence (K00000000)", KS_DL_PLAIN_REGEX, 0.4),
        ],
        context=["driver", "license", "licence", "dl", "kdor", "kansas", "permit", "lic"],
        global_regex_flags=case_sensitive,
    )
    return [address, *phones, card, licence]


def _window_words(text: str, start: int, end: int, before: int, after: int) -> list[str]:
    left = re.findall(r"[^\W_]+", text[:start])[-before:] if before else []
    right = re.findall(r"[^\W_]+", text[end:])[:after] if after else []
    return [w.lower() for w in (*left, *right)]


def context_words_for_column(column: str | None) -> list[str]:
    """Context words a column name gives (``recorder_phone`` -> ``recorder``, ``phone``)."""
    if not column:
        return []
    return [w.lower() for w in re.findall(r"[A-Za-z]+", column)]


#: pattern types whose spans already cover the names in them (a person's name inside an
#: address is a street's name; a city inside it is part of the address finding)
_CONTAINERS = frozenset({"EMAIL_ADDRESS", "PHONE_NUMBER", "STREET_ADDRESS", "URL", "IBAN_CODE"})
#: archive words that are not also surnames (Page, Lot are)
_ARCHIVE_NOT_NAMES = ARCHIVE_WORDS - {"page", "lot"}
#: words that label a field (``Tel.``, ``Attn``), never a person's name
_FIELD_LABELS = frozenset(
    [
        "tel",
        "fax",
        "phone",
        "mobile",
        "mob",
        "cell",
        "email",
        "contact",
        "attn",
        "re",
        "cc",
        "ph",
        "dept",
        "ref",
    ]
)


def ner_noise(
    text: str, entity: str, start: int, end: int, tokens: Any, containers: list[tuple[int, int]]
) -> str | None:
    """Why a NER result is not a name, or ``None``. ``tokens``: the spaCy ``Doc`` the NER ran
    on (its part-of-speech tags); ``containers``: spans of pattern results that hold no name."""
    span = text[start:end]
    if re.search(r"[\d+@]", span):
        return "ner_span_with_digits"
    if any(s <= start and end <= e for s, e in containers):
        return "ner_name_inside_pattern_result"
    if entity != "PERSON":
        return None
    words = [w.lower() for w in re.findall(r"[^\W_]+", span)]
    if any(w in _FIELD_LABELS or w in _ARCHIVE_NOT_NAMES for w in words):
        return "ner_field_label"
    char_span = getattr(tokens, "char_span", None)
    if callable(char_span):
        found = char_span(start, end, alignment_mode="expand")
        if found is not None and not any(t.pos_ == "PROPN" for t in found):
            return "ner_person_without_proper_noun"
    return None


def guard_description() -> dict[str, Any]:
    """The Kansas guard the analyzer runs (named in the evidence)."""
    return kansas_guard().describe()


@functools.lru_cache(maxsize=4)
def _build_analyzer_cached(ner_package: str | None, score_threshold: float) -> AnalyzerEngine:
    _presidio_env()
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    guard = kansas_guard()

    class KfmContextEnhancer(ContextAwareEnhancer):
        """Presidio's context boost from the raw text's neighbouring words, with a ceiling for
        weak results, and the Kansas guard (a result it explains gets score 0)."""

        def enhance_using_context(
            self,
            text: str,
            raw_results: list[RecognizerResult],
            nlp_artifacts: Any,
            recognizers: list[Any],
            context: list[str] | None = None,
        ) -> list[RecognizerResult]:
            from presidio_analyzer import RecognizerResult as Result

            by_id = {r.id: r for r in recognizers}
            extra = [w.lower() for w in context or []]
            results = list(raw_results)
            containers = [
                (r.start, r.end)
                for r in raw_results
                if r.entity_type in _CONTAINERS and _recognizer_name(r) != NER_RECOGNIZER
            ]
            tokens = getattr(nlp_artifacts, "tokens", None)
            for index, raw in enumerate(raw_results):
                # a changed result is a copy: the raw results are never changed, so they can
                # be scored again for another column's context
                why = guard.reason(text, raw.entity_type, raw.start, raw.end, extra)
                if why is None and _recognizer_name(raw) == NER_RECOGNIZER:
                    why = ner_noise(text, raw.entity_type, raw.start, raw.end, tokens, containers)
                if why is not None:
                    result = copy.copy(raw)
                    result.score = 0.0
                    if raw.analysis_explanation is not None:
                        result.analysis_explanation = copy.copy(raw.analysis_explanation)
                        result.analysis_explanation.append_textual_explanation_line(
                            f"not personal data: {why}"
                        )
                    results[index] = result
                    continue
                meta = raw.recognition_metadata or {}
                recognizer = by_id.get(meta.get(Result.RECOGNIZER_IDENTIFIER_KEY))
                if recognizer is None or not recognizer.context:
                    continue
                if meta.get(Result.IS_SCORE_ENHANCED_BY_CONTEXT_KEY):
                    continue
                words = _window_words(
                    text,
                    raw.start,
                    raw.end,
                    self.context_prefix_count,
                    self.context_suffix_count,
                )
                window = " ".join([*words, *extra])
                support = next(
                    (
                        k
                        for k in recognizer.context
                        if re.search(r"\b" + re.escape(k.lower().strip()), window)
                    ),
                    "",
                )
                if support:
                    result = copy.copy(raw)
                    score = min(raw.score + self.context_similarity_factor, 1.0)
                    if raw.score < WEAK_SCORE:
                        score = min(score, WEAK_CONTEXT_CEILING)
                    result.score = max(score, raw.score)
                    if raw.analysis_explanation is not None:
                        result.analysis_explanation = copy.copy(raw.analysis_explanation)
                        result.analysis_explanation.set_supportive_context_word(support)
                        result.analysis_explanation.set_improved_score(result.score)
                    results[index] = result
            return results

    try:
        if ner_package is None:
            config = {
                "nlp_engine_name": "no_op",
                "models": [{"lang_code": "en", "model_name": "no_op"}],
            }
            nlp = NlpEngineProvider(nlp_configuration=config).create_engine()
        else:
            from kfm_gate.evidence.ner import spacy_nlp_engine

            nlp = spacy_nlp_engine(ner_package)
        registry = RecognizerRegistry(supported_languages=["en"])
        registry.load_predefined_recognizers(languages=["en"], nlp_engine=nlp)
        registry.remove_recognizer("PhoneRecognizer")
        registry.remove_recognizer("CreditCardRecognizer")
        registry.add_recognizer(PhoneRecognizer(supported_regions=PHONE_REGIONS))
        for recognizer in kfm_recognizers():
            registry.add_recognizer(recognizer)
        enhancer = KfmContextEnhancer(
            context_similarity_factor=CONTEXT_BOOST,
            min_score_with_context_similarity=0.0,
            context_prefix_count=5,
            context_suffix_count=2,
        )
        return AnalyzerEngine(
            registry=registry,
            nlp_engine=nlp,
            supported_languages=["en"],
            context_aware_enhancer=enhancer,
            default_score_threshold=score_threshold,
        )
    except (OSError, ValueError) as err:
        raise ConfigError(
            f"the Presidio analyzer could not be built (NER model {ner_package!r}): {err}; "
            "use ner=False or reinstall the model with `make ner`"
        ) from err


def _recognizer_name(result: RecognizerResult) -> str:
    meta = result.recognition_metadata or {}
    return str(meta.get("recognizer_name", ""))


def build_analyzer(*, ner: bool | None = False, score_threshold: float = 0.0) -> AnalyzerEngine:
    """The process-wide analyzer.

    ``ner``: ``False`` (default) patterns only; ``True`` with the installed NER model (a
    missing one is a :class:`ConfigError` naming ``make ner``); ``None`` with the model when
    one is installed, else patterns only. Nothing is ever downloaded.
    """
    package = None
    if ner is True:
        package = require_ner_package()
    elif ner is None:
        package = find_ner_package()
    return _build_analyzer_cached(package, float(score_threshold))


def detector_names(analyzer: AnalyzerEngine) -> list[str]:
    """Sorted names of the recognizers the analyzer runs for English."""
    recognizers: list[Any] = analyzer.registry.get_recognizers(language="en", all_fields=True)
    return sorted({str(r.name) for r in recognizers})


def clean_results(text: str, results: list[RecognizerResult]) -> list[RecognizerResult]:
    """Drop URL hits inside an e-mail address (the same filter on every path of the scan)."""
    emails = [(r.start, r.end) for r in results if r.entity_type == "EMAIL_ADDRESS"]
    return [
        r
        for r in results
        if not (r.entity_type == "URL" and any(s <= r.start and r.end <= e for s, e in emails))
    ]
