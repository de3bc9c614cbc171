"""SHACL validation of PROV-O run records, with the PROV-O ontology loaded (RDFS inference)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

from kfm_gate.errors import RecordError

if TYPE_CHECKING:
    from rdflib import Graph


@dataclass(frozen=True)
class ShaclReport:
    """The outcome of a SHACL validation: ``conforms`` and pyshacl's text report."""

    conforms: bool
    text: str


def _read(package: str, name: str) -> str:
    return resources.files(package).joinpath(name).read_text(encoding="utf-8")


@cache
def _graphs() -> tuple[Graph, Graph]:
    from rdflib import Graph

    shapes = Graph().parse(data=_read("kfm_gate.provenance", "shapes.ttl"), format="turtle")
    prov_o = Graph().parse(data=_read("kfm_gate.specs", "prov/prov-o.ttl"), format="turtle")
    return shapes, prov_o


def validate_prov(graph: Graph) -> ShaclReport:
    """Validate a run record against kfm-gate's shapes, with PROV-O as the ontology graph."""
    try:
        import pyshacl
    except ImportError as err:  # pragma: no cover - pyshacl is a dev dependency
        raise RecordError(
            "pyshacl is not installed: install the dev extras (pip install -e '.[dev]') "
            "to validate PROV records"
        ) from err
    shapes, prov_o = _graphs()
    conforms, _, text = pyshacl.validate(
        graph,
        shacl_graph=shapes,
        ont_graph=prov_o,
        inference="rdfs",
        advanced=True,
        allow_warnings=False,
    )
    return ShaclReport(bool(conforms), str(text))
