"""The Kansas guard: text of Kansas historic-site records that looks like PII and is not.

Pattern recognizers see shapes; historic-site notes are full of shapes that are not about a
person. The guard names them, and the analyzer's context enhancer sets the score of a result
they explain to 0 (Presidio then drops it), so the PII collector, the redaction engine and the
plain ``AnalyzerEngine.analyze`` all agree:

- **A year before a Kansas name is not an address.** ``1821 Santa Fe Trail``,
  ``1867 Chisholm Trail``, ``1858 Council Grove Road``, ``1920 Fort Hays Street``: a
  ``STREET_ADDRESS`` whose number is a year (1500-2039) followed by a name of
  :data:`PLACES_FILE` (trails, roads, forts, missions, landmarks, rivers, towns, counties),
  optionally with a street suffix, and nothing more (no unit, no ZIP). The same holds for any
  such year after a word that introduces a date (``in``, ``since``, ``built``, ``the`` ...).
- **Museum and archive identifiers are not bank numbers.** A number-shaped result
  (:data:`ARCHIVE_GUARDED` types) shortly after ``accession``, ``catalog``, ``box``,
  ``folder``, ``item``, ``NRHP`` ... or in a column named so (``accession_no``).
- **PLSS legal descriptions and road numbers are locations of sites, handled by the geo
  rules.** Any result inside ``T12S R20E S14``, ``Sec. 14, T12S, R20E``, ``NE 1/4 of
  Section 3``, ``County Road 350``, ``CR 12``, ``K-10``, ``US-56``, ``I-70`` or a Kansas
  Smithsonian trinomial (``14RY401``) is dropped; an address with its own house number
  (``1832 County Road 350``) is kept.
- **A place named after a person is not a person.** A NER ``PERSON`` inside a listed name of
  several words (``Fort Hays``, ``Riley County``) or equal to a nation's name, followed by a
  site word or holding one (``the Hollis Homestead``, ``Keller's Mill``) or after
  ``Fort``/``Camp``/``Mount``; a NER ``LOCATION`` inside a listed historic site (trail, fort,
  mission, landmark) or a nation's name before a word for people (``Delaware students``).
  Towns, counties, rivers and the state stay locations.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: the list of Kansas names (its origin and licence: README.md beside it)
PLACES_FILE = Path(__file__).with_name("data") / "kansas_places.json"


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: a year of Kansas history, as it stands before a name (1500-2039)
YEAR = r"(?:1[5-9]\d\d|20[0-3]\d)"
#: entity types of number-shaped results the archive rule may drop (not an SSN: its shape is
#: specific and its cost high)
ARCHIVE_GUARDED = frozenset(
    {
        "CREDIT_CARD",
        "MEDICAL_LICENSE",
        "PHONE_NUMBER",
        "UK_NHS",
        "US_BANK_NUMBER",
        "US_DRIVER_LICENSE",
        "US_ITIN",
        "US_PASSPORT",
    }
)
#: words after which a number is a museum or archive identifier
ARCHIVE_WORDS = _words(
    """acc accession accessioned accessions accn book box boxes cabinet cat catalog catalogue
    catalogued coll collection deed drawer fldr fol folder folders frame inv inventory item
    items khri lot manuscript ms mss neg negative nrhp obj object page photograph plat plate
    reel ref reference rg series sheet shelf slide specimen trinomial vol volume"""
)
#: words that introduce a year (``in 1858``, ``built 1885``)
DATE_WORDS = _words(
    """abandoned about after around before built burned by c ca circa closed dated during early
    erected established founded from in late mid moved of opened platted rebuilt recorded
    since surveyed the till until"""
)
#: words after a name that make it the name of a site (``Hollis Homestead``)
SITE_WORDS = _words(
    """addition barn bridge cabin cave cemetery chapel church claim creek crossing depot dugout
    farm ferry ford graveyard grove hall hill homestead hotel house inn kiln mill mills mine
    mission mound mounds park place post quarry ranch road rock school schoolhouse site
    spring springs station store tavern township trail village well"""
)
#: words before a person-like name that make it a place (``Fort Osborne``)
PLACE_PREFIXES = frozenset({"fort", "camp", "mount", "mt", "lake", "cantonment"})
_STREET_SUFFIX = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Trail|Trl|Drive|Dr|Lane|Ln|Boulevard|Blvd|Highway|Hwy|"
    r"Way|Place|Pl|Court|Ct|Route|Rte|Pike|Crossing|Xing)\.?"
)
_NUM = r"\d{1,3}(?:\s*[1-4]/[1-4])?"
_PLSS = re.compile(
    r"(?:"
    # township and range, with an optional section: T12S R20E S14, T. 12 S., R. 20 E., Sec. 14
    r"\bT\.?\s?\d{1,3}\s?[NS]\.?[-,\s]*R\.?\s?\d{1,3}\s?[EW]\.?"
    r"(?:[-,\s]*(?:S|Sec|Sect|Section)\.?\s?\d{1,2})?"
    # section first: Sec. 14, T12S, R20E; S14-T12S-R20E
    r"|\b(?:S|Sec|Sect|Section)\.?\s?\d{1,2}[-,\s]*T\.?\s?\d{1,3}\s?[NS]\.?[-,\s]*"
    r"R\.?\s?\d{1,3}\s?[EW]\.?"
    # written out: Township 12 South, Range 20 East
    r"|\bTownship\s+\d{1,3}\s+(?:North|South),?\s+Range\s+\d{1,3}\s+(?:East|West)"
    # aliquot parts: NE 1/4 of the SW 1/4 of Section 3; SW1/4 Sec. 14
    r"|\b(?:N|S|E|W|NE|NW|SE|SW)\s?(?:1/4|1/2|¼|½)(?:\s?(?:of\s+)?(?:the\s+)?"
    r"(?:N|S|E|W|NE|NW|SE|SW)\s?(?:1/4|1/2|¼|½))*"
    r"(?:,?\s*(?:of\s+)?(?:S|Sec|Sect|Section)\.?\s?\d{1,2})?"
    # principal meridian
    r"|\b\d{1,2}(?:st|nd|rd|th)\s+P\.\s?M\."
    r")"
)
_ROAD = re.compile(
    r"(?:"
    r"\b(?:County|Co\.?)\s+(?:Road|Rd\.?|Highway|Hwy\.?|Route|Rte\.?)\s+\d{1,4}[A-Z]?\b"
    r"|\b(?:County|Co\.?)\s+(?:Road|Rd\.?)\s+[A-Z]{1,2}\b"
    r"|\bC\.?R\.?[- ]?\d{1,4}[A-Z]?\b"
    r"|\b(?:K|KS|US|U\.S\.|I|SR|State\s+Route|State\s+Highway|Highway|Hwy\.?|Route|Rte\.?|Road|Rd\.?|"
    r"Mile\s+Marker|MM)[- ]?\d{1,4}[A-Z]?\b(?:\s+(?:Highway|Hwy\.?|Bypass|Spur))?"
    r"|\bRoad\s+[A-Z]{1,2}\b"
    r")"
)
#: Kansas Smithsonian trinomials: state 14, county abbreviation, site number (14RY401)
_TRINOMIAL = re.compile(r"\b14[A-Z]{2}\d{1,5}\b")
_ID_SHAPED = re.compile(r"[0-9A-Za-z]{0,3}[0-9][0-9./ -]*[A-Za-z]?")
_WORD = re.compile(r"[^\W_]+")
_UNIT_OR_ZIP = re.compile(
    r"(?:\b(?:Apt|Apartment|Suite|Ste|Unit|Bldg|Fl|Floor|Rm|Room|Lot|Box|Flat)\b|#|\b\d{5}(?:-\d{4})?\b\s*$|,)"
)


@dataclass(frozen=True)
class Span:
    start: int
    end: int


def _spans(pattern: re.Pattern[str], text: str) -> list[Span]:
    return [Span(m.start(), m.end()) for m in pattern.finditer(text)]


def _inside(start: int, end: int, spans: Iterable[Span]) -> bool:
    return any(s.start <= start and end <= s.end for s in spans)


def _overlaps(start: int, end: int, spans: Iterable[Span]) -> bool:
    return any(start < s.end and s.start < end for s in spans)


#: words of roads and boxes that make a person-like span the name of a way (Follow Highway)
WAY_WORDS = _words(
    """apt ave avenue blvd boulevard box drive highway hwy lane rd road route rte st street
    suite trail"""
)
#: site words that are not also common surnames (Hill, Hall, Ford, Mills, Church are): inside a
#: person-like span they make it a place (Bergman Mill, Keller Trading Post)
_SURNAME_LIKE = frozenset(
    {"hill", "hall", "ford", "park", "well", "wells", "rock", "house", "post", "place", "spring"}
    | {"mills", "ferry", "church"}
)
SITE_WORDS_IN_NAME = WAY_WORDS | (SITE_WORDS - _SURNAME_LIKE)
#: kinds of names whose one-word mentions are never a person (a nation, not a surname)
_NOT_PERSONS = ("nation",)
#: kinds of names that are historic sites, not places people live at: a NER LOCATION inside
#: one is dropped (towns, counties, rivers and the state stay locations)
_SITE_KINDS = ("trail", "fort", "mission", "place")
#: words after a nation's name that make it the people, not a place (Delaware students)
PEOPLE_WORDS = frozenset(
    {"students", "children", "people", "nation", "nations", "tribe", "tribes", "band", "bands"}
    | {"village", "villages", "mission", "agency", "reserve", "reservation", "chief", "chiefs"}
    | {"families", "family", "allotment", "allotments", "town"}
)


class KansasGuard:
    """Explains results that are Kansas history, not personal data (see the module docstring).

    ``names``: ``{kind: [name, ...]}`` (the ``names`` of :data:`PLACES_FILE`).
    """

    def __init__(self, names: Mapping[str, Sequence[str]], digest: str = "") -> None:
        self._not_persons = frozenset(n for k in _NOT_PERSONS for n in names.get(k, ()))
        self._sites = frozenset(n for k in _SITE_KINDS for n in names.get(k, ()))
        every = sorted({n for group in names.values() for n in group}, key=lambda n: (-len(n), n))
        self.count = len(every)
        self.digest = digest
        alternation = "|".join(re.escape(n) for n in every) or r"(?!x)x"
        self._mentions = re.compile(rf"(?<![\w'])(?:{alternation})(?![\w])")
        self._year_place = re.compile(
            rf"^{YEAR}\s+(?:the\s+)?(?:{alternation})(?:\s+{_STREET_SUFFIX})?\.?$"
        )
        self._year_first = re.compile(rf"^{YEAR}\s")

    def reason(
        self, text: str, entity: str, start: int, end: int, context: Sequence[str] = ()
    ) -> str | None:
        """Why the result ``text[start:end]`` of type ``entity`` is not personal data, or
        ``None`` when the guard has nothing to say. ``context``: the column's context words."""
        span = text[start:end]
        if _overlaps(start, end, _spans(_PLSS, text)):
            return "plss_legal_description"
        if _overlaps(start, end, _spans(_TRINOMIAL, text)):
            return "site_trinomial"
        if _inside(start, end, _spans(_ROAD, text)):
            return "road_number"
        if entity == "STREET_ADDRESS":
            return self._address_reason(text, start, span)
        if (
            entity in ARCHIVE_GUARDED
            and _ID_SHAPED.fullmatch(span.strip())
            and self._archive_context(text, start, context)
        ):
            return "archive_identifier"
        if entity in ("PERSON", "LOCATION"):
            return self._name_reason(text, entity, start, end)
        return None

    def _address_reason(self, text: str, start: int, span: str) -> str | None:
        body = span.strip()
        if self._year_place.match(body):
            return "year_before_kansas_place"
        if self._year_first.match(body) and not _UNIT_OR_ZIP.search(body[4:]):
            before = _WORD.findall(text[:start])[-1:]
            if before and before[0].lower() in DATE_WORDS:
                return "year_before_name"
        return None

    @staticmethod
    def _archive_context(text: str, start: int, context: Sequence[str]) -> bool:
        if any(w.lower() in ARCHIVE_WORDS for w in context):
            return True
        before = [w.lower() for w in _WORD.findall(text[:start])][-3:]
        return any(w in ARCHIVE_WORDS for w in before)

    def _name_reason(self, text: str, entity: str, start: int, end: int) -> str | None:
        span = text[start:end]
        lead = len(span) - len(span.lstrip())
        if span.lower().startswith("the "):
            lead = 4
        for m in self._mentions.finditer(text):
            if m.start() <= start + lead and end <= m.end():
                name = m.group(0)
                if entity == "PERSON" and (" " in name or name in self._not_persons):
                    return "kansas_place_name"
                if entity == "LOCATION" and name in self._sites:
                    return "kansas_historic_site"
                if entity == "LOCATION" and name in self._not_persons:
                    after = _WORD.findall(text[m.end() :])[:1]
                    if after and after[0].lower() in PEOPLE_WORDS:
                        return "nation_name"
        if entity != "PERSON":
            return None
        after = _WORD.findall(re.sub(r"^(?:'s|\u2019s|s')", "", text[end:]))[:1]
        if after and after[0].lower() in SITE_WORDS:
            return "site_named_after_person"
        words = [w.lower() for w in _WORD.findall(span)]
        if any(w in SITE_WORDS_IN_NAME for w in words):
            return "site_named_after_person"
        before = [w.lower() for w in _WORD.findall(text[:start])[-1:]]
        if (before and before[0] in PLACE_PREFIXES) or (words and words[0] in PLACE_PREFIXES):
            return "site_named_after_person"
        return None

    def describe(self) -> dict[str, Any]:
        return {"name": "KansasGuard", "places": self.count, "places_digest": self.digest}


@functools.lru_cache(maxsize=1)
def kansas_guard() -> KansasGuard:
    """The guard over :data:`PLACES_FILE`, built once per process."""
    data = PLACES_FILE.read_bytes()
    doc = json.loads(data.decode("utf-8"))
    names = doc["names"]
    return KansasGuard(names, "sha256:" + hashlib.sha256(data).hexdigest())
