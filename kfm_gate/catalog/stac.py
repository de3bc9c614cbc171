"""STAC items and collections of promoted partitions (pystac), and their offline validation.

Per promoted partition: ``data/stac/<collection>/<item>/item.json`` with the deterministic id
``<dataset>-<aoi>-<time>``, the *published* (masked) geometry and its bbox only, ``datetime``
the partition day, assets with roles and ``file:checksum`` (sha2-256 multihash) and
``file:size``, processing and version extensions, and the decision id and governance flags as
``kfm:`` properties. The provenance (``prov.ttl``, ``prov.jsonld``) and the quality report are
copied beside the item, so the catalog is complete without the run folders.

Versions: re-publishing the same decision rewrites identical bytes. Another decision for the
same partition (e.g. a corrected source) becomes version n+1; version n moves to
``v<n>/item.json`` (deprecated, with ``latest-version`` and ``successor-version`` links) and
the new item links to it with ``predecessor-version``. A withdrawn item stays where it is,
marked deprecated (``kfm:release_state`` WITHDRAWN, ``kfm:withdrawal``), and leaves the
collection's item links (so the DCAT record drops its distribution).

Nothing here writes: the publisher (:mod:`kfm_gate.publication`) stages what :meth:`StacWriter.plan`
returns in its transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import posixpath
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from kfm_gate.errors import RecordError
from kfm_gate.footprint import geometry_bbox
from kfm_gate.layout import RUNS, STAC, Layout
from kfm_gate.provenance.record import RunRecord

STAC_ROOT = STAC
FILE_EXT = "https://stac-extensions.github.io/file/v2.1.0/schema.json"
PROCESSING_EXT = "https://stac-extensions.github.io/processing/v1.2.0/schema.json"
VERSION_EXT = "https://stac-extensions.github.io/version/v1.2.0/schema.json"
ITEM_EXTENSIONS = [FILE_EXT, PROCESSING_EXT, VERSION_EXT]
#: sidecar files copied beside every item: name -> (media type, roles, title)
SIDECARS: dict[str, tuple[str, list[str], str]] = {
    "prov.ttl": ("text/turtle", ["provenance", "metadata"], "PROV-O record (Turtle)"),
    "prov.jsonld": ("application/ld+json", ["provenance", "metadata"], "PROV-O record (JSON-LD)"),
    "quality.json": ("application/json", ["quality", "metadata"], "Quality suite results"),
}


def multihash_sha256(digest: str) -> str:
    """``sha256:<hex>`` -> the multihash hex string (``1220`` + hex) of ``file:checksum``."""
    return "1220" + digest.removeprefix("sha256:")


def stac_json(doc: Mapping[str, Any]) -> bytes:
    """STAC documents as stable bytes (sorted keys, 2-space indent, final newline)."""
    from kfm_gate.jsonfmt import dumps_indent

    return (dumps_indent(doc, 2) + "\n").encode("utf-8")


def _license(licenses: Iterable[str]) -> str:
    known = sorted({x for x in licenses if x and x not in ("unknown", "noassertion")})
    return known[0] if len(known) == 1 else "other"


@dataclass(frozen=True)
class StacPlan:
    """Files to write for one promotion (absolute path -> bytes; ``links``: path -> an
    existing file with the same bytes, e.g. the recorded PROV) and the item's path."""

    files: dict[Path, bytes]
    links: dict[Path, Path]
    item_path: Path
    collection_path: Path
    version: int
    item: dict[str, Any]
    collection: dict[str, Any]
    previous_collection: dict[str, Any] | None = None  # as it was before this promotion


class StacWriter:
    """Builds the STAC item and updated collection of a promoted partition of a layout."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.root = layout.root

    def collection_dir(self, collection_id: str) -> Path:
        return self.layout.collection_dir(collection_id)

    def item_dir(self, record: RunRecord) -> Path:
        return self.layout.item_dir(record.collection_id, record.item_id)

    # -- item ---------------------------------------------------------------------------

    def build_item(
        self, record: RunRecord, sidecars: Mapping[str, bytes], version: int
    ) -> dict[str, Any]:
        """The item dict (see the module docstring)."""
        import pystac

        from kfm_gate.ids import sha256_bytes

        dec = record.decision
        if dec.outcome != "allow":
            raise RecordError(
                f"run {dec.run_id} has outcome {dec.outcome}: only an allowed partition gets "
                "a STAC item"
            )
        req = record.parsed_request
        day = dt.date.fromisoformat(req.partition.time_key)
        geometry = dict(record.published_geometry) if record.published_geometry else None
        bbox = geometry_bbox(geometry) if geometry is not None else None
        flags = record.flags
        props: dict[str, Any] = {
            "start_datetime": f"{day.isoformat()}T00:00:00Z",
            "end_datetime": f"{day.isoformat()}T23:59:59Z",
            "title": f"{req.dataset} {req.partition.aoi_key} {day.isoformat()}",
            "processing:datetime": dec.evaluated_at,
            "processing:software": {"kfm-gate": record.version},
            "processing:lineage": (
                f"Promoted by kfm-gate {record.version} under policy bundle "
                f"{record.revision} ({dec.policy_digest}); decision {dec.decision_id}"
            ),
            "processing:facility": "KFM governance gate",
            "version": str(version),
            "deprecated": False,
            "kfm:decision_id": dec.decision_id,
            "kfm:run_id": dec.run_id,
            "kfm:spec_hash": dec.request_digest,
            "kfm:policy_digest": dec.policy_digest,
            "kfm:release_state": dec.lifecycle_stage,
            "kfm:outcome": dec.kfm_outcome,
            "kfm:reason_codes": sorted(set(dec.reason_codes)),
            "kfm:obligations": sorted({o.code for o in dec.obligations}),
            "kfm:run_receipt_ref": f"{RUNS}/{record.folder}/",
            "kfm:partition": {"aoi_key": req.partition.aoi_key, "time_key": req.partition.time_key},
        }
        generalize = [o for o in dec.obligations if o.kind == "generalize"]
        props["kfm:sensitivity_label"] = "generalized" if generalize else "public"
        for ob in generalize[:1]:
            for key, prop in (
                ("method", "kfm:privacy_method"),
                ("r_min_m", "kfm:r_min_m"),
                ("r_max_m", "kfm:r_max_m"),
            ):
                if key in ob.params and isinstance(ob.params[key], str | int | float):
                    props[prop] = ob.params[key]
        if flags is not None:
            props["license"] = _license(flags.licenses)
            props["kfm:flags"] = {
                "classification": flags.classification,
                "sensitivity": flags.sensitivity,
                "care_class": flags.care_class,
                "indigenous_rights_flag": flags.indigenous_rights_flag,
                "sovereignty_authorities": list(flags.sovereignty_authorities),
                "tk_labels": list(flags.tk_labels),
                "bc_labels": list(flags.bc_labels),
                "notices": list(flags.notices),
                "licenses": list(flags.licenses),
                "embargo_until": flags.embargo_until.isoformat() if flags.embargo_until else None,
            }
        item = pystac.Item(
            id=record.item_id,
            geometry=geometry,
            bbox=bbox,
            datetime=dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC),
            properties=props,
            stac_extensions=list(ITEM_EXTENSIONS),
            collection=record.collection_id,
        )
        item_dir = self.item_dir(record)
        used: set[str] = set()
        for pf in sorted(record.public_files, key=lambda f: f.relpath):
            key = posixpath.basename(pf.relpath).replace(".", "_")
            while key in used:
                key += "_"
            used.add(key)
            href = posixpath.relpath(pf.relpath, item_dir.relative_to(self.root).as_posix())
            item.add_asset(
                key,
                pystac.Asset(
                    href=href,
                    media_type=pf.media_type,
                    roles=[pf.role],
                    title=posixpath.basename(pf.relpath),
                    extra_fields={
                        "file:checksum": multihash_sha256(pf.sha256),
                        "file:size": pf.size,
                    },
                ),
            )
        for name, data in sorted(sidecars.items()):
            media, roles, title = SIDECARS[name]
            item.add_asset(
                name.replace(".", "_"),
                pystac.Asset(
                    href=f"./{name}",
                    media_type=media,
                    roles=list(roles),
                    title=title,
                    extra_fields={
                        "file:checksum": multihash_sha256(sha256_bytes(data)),
                        "file:size": len(data),
                    },
                ),
            )
        item.clear_links()
        for rel in ("collection", "parent", "root"):
            item.add_link(pystac.Link(rel, "../collection.json", media_type="application/json"))
        item.add_link(
            pystac.Link("latest-version", "./item.json", media_type="application/geo+json")
        )
        if version > 1:
            item.add_link(
                pystac.Link(
                    "predecessor-version",
                    f"./v{version - 1}/item.json",
                    media_type="application/geo+json",
                )
            )
        doc: dict[str, Any] = item.to_dict(include_self_link=False, transform_hrefs=False)
        return doc

    # -- collection ---------------------------------------------------------------------

    def build_collection(
        self, record: RunRecord, item: Mapping[str, Any], existing: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """The collection with this item added and its extent widened to cover it."""
        import pystac

        cid = record.collection_id
        cfg = _catalog_config(record.config).get("collections", {}).get(cid, {})
        bboxes: list[list[float]] = []
        start = end = f"{record.parsed_request.partition.time_key}"
        item_hrefs = {f"./{record.item_id}/item.json"}
        licenses: set[str] = set(record.flags.licenses) if record.flags is not None else set()
        updated = record.decision.evaluated_at
        if existing is not None:
            ext = existing.get("extent", {})
            old_bbox = (ext.get("spatial", {}).get("bbox") or [[]])[0]
            if len(old_bbox) == 4:
                bboxes.append([float(x) for x in old_bbox])
            interval = (ext.get("temporal", {}).get("interval") or [[None, None]])[0]
            if interval[0]:
                start = min(start, str(interval[0])[:10])
            if interval[1]:
                end = max(end, str(interval[1])[:10])
            item_hrefs.update(
                str(link["href"]) for link in existing.get("links", []) if link.get("rel") == "item"
            )
            licenses.update(existing.get("kfm:licenses", []))
            updated = max(updated, str(existing.get("updated", updated)))
        if item.get("bbox"):
            bboxes.append([float(x) for x in item["bbox"]])
        if bboxes:
            union = [
                min(b[0] for b in bboxes),
                min(b[1] for b in bboxes),
                max(b[2] for b in bboxes),
                max(b[3] for b in bboxes),
            ]
        else:
            union = [-180.0, -90.0, 180.0, 90.0]
        s_day, e_day = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
        collection = pystac.Collection(
            id=cid,
            title=str(cfg.get("title", f"KFM {cid}")),
            description=str(
                cfg.get(
                    "description",
                    f"Published (masked, generalized) AOI x day partitions of {cid}, "
                    "promoted by the kfm-gate governance gate.",
                )
            ),
            extent=pystac.Extent(
                pystac.SpatialExtent([union]),
                pystac.TemporalExtent(
                    [
                        [
                            dt.datetime(s_day.year, s_day.month, s_day.day, tzinfo=dt.UTC),
                            dt.datetime(
                                e_day.year, e_day.month, e_day.day, 23, 59, 59, tzinfo=dt.UTC
                            ),
                        ]
                    ]
                ),
            ),
            license=_license(licenses),
            extra_fields={"kfm:licenses": sorted(licenses), "updated": updated},
        )
        collection.clear_links()
        collection.add_link(pystac.Link("root", "./collection.json", media_type="application/json"))
        for href in sorted(item_hrefs):
            collection.add_link(pystac.Link("item", href, media_type="application/geo+json"))
        doc: dict[str, Any] = collection.to_dict(include_self_link=False, transform_hrefs=False)
        return doc

    # -- plan ---------------------------------------------------------------------------

    def plan(
        self,
        record: RunRecord,
        sidecars: Mapping[str, bytes],
        sources: Mapping[str, Path] | None = None,
    ) -> StacPlan:
        """Everything to write for ``record`` (nothing is written here). ``sources``: sidecar
        name -> an existing file with those bytes (the run's PROV), linked rather than copied."""
        item_dir = self.item_dir(record)
        item_path = item_dir / "item.json"
        coll_path = self.layout.collection_path(record.collection_id)
        files: dict[Path, bytes] = {}
        links: dict[Path, Path] = {}
        existing = _read_json(item_path)
        version = 1
        if existing is not None:
            props = existing.get("properties", {})
            old_version = int(props.get("version", "1"))
            if props.get("kfm:decision_id") == record.decision.decision_id:
                version = old_version
            else:
                version = old_version + 1
                files.update(self._archive(item_dir, existing, old_version))
        item = self.build_item(record, sidecars, version)
        files[item_path] = stac_json(item)
        for name, data in sidecars.items():
            source = (sources or {}).get(name)
            if source is not None:
                links[item_dir / name] = source
            else:
                files[item_dir / name] = data
        previous = _read_json(coll_path)
        collection = self.build_collection(record, item, previous)
        files[coll_path] = stac_json(collection)
        return StacPlan(files, links, item_path, coll_path, version, item, collection, previous)

    def _archive(
        self, item_dir: Path, old: Mapping[str, Any], old_version: int
    ) -> dict[Path, bytes]:
        """Version ``old_version`` moved to ``v<n>/`` with its sidecars, marked deprecated."""
        out: dict[Path, bytes] = {}
        vdir = item_dir / f"v{old_version}"
        doc = json.loads(json.dumps(old))
        doc["properties"]["deprecated"] = True
        for asset in doc.get("assets", {}).values():
            href = str(asset["href"])
            if href.startswith("./"):
                name = href[2:]
                try:
                    out[vdir / name] = (item_dir / name).read_bytes()
                except OSError as err:
                    raise RecordError(
                        f"cannot archive {item_dir / name} of version {old_version}: {err}"
                    ) from err
            else:
                asset["href"] = posixpath.join("..", href)
        links = []
        for link in doc.get("links", []):
            rel = link.get("rel")
            if rel in ("collection", "parent", "root"):
                links.append({**link, "href": "../../collection.json"})
            elif rel == "predecessor-version":
                links.append({**link, "href": f"../v{old_version - 1}/item.json"})
        links.append(
            {"rel": "latest-version", "href": "../item.json", "type": "application/geo+json"}
        )
        links.append(
            {"rel": "successor-version", "href": "../item.json", "type": "application/geo+json"}
        )
        doc["links"] = links
        out[vdir / "item.json"] = stac_json(doc)
        if old_version > 1:
            prev_path = item_dir / f"v{old_version - 1}" / "item.json"
            prev = _read_json(prev_path)
            if prev is not None:
                for link in prev.get("links", []):
                    if link.get("rel") == "successor-version":
                        link["href"] = f"../v{old_version}/item.json"
                out[prev_path] = stac_json(prev)
        return out


def _catalog_config(config: Mapping[str, Any]) -> Mapping[str, Any]:
    cat = config.get("catalog", {})
    return cat if isinstance(cat, Mapping) else {}


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise RecordError(
            f"cannot read {path}: {err}; restore it from version control or delete it so that "
            "it is rebuilt"
        ) from err
    if not isinstance(data, dict):
        raise RecordError(f"{path} is not a JSON object")
    return data


def withdrawn_item(item: Mapping[str, Any], *, reason: str, day: str, by: str) -> dict[str, Any]:
    """The item of a withdrawn partition: deprecated, its release state WITHDRAWN, and why
    (``by``: the decision that denied it, or ``council``)."""
    doc: dict[str, Any] = json.loads(json.dumps(item))
    props = doc.setdefault("properties", {})
    props["deprecated"] = True
    props["kfm:release_state"] = "WITHDRAWN"
    props["kfm:withdrawal"] = {"reason": reason, "day": day, "by": by}
    return doc


def collection_without(collection: Mapping[str, Any], item_id: str) -> dict[str, Any]:
    """The collection without the item link of ``item_id`` (its extent stays as it was)."""
    doc: dict[str, Any] = json.loads(json.dumps(collection))
    doc["links"] = [
        link
        for link in doc.get("links", [])
        if not (
            link.get("rel") == "item"
            and str(link.get("href", "")).removeprefix("./").split("/")[0] == item_id
        )
    ]
    return doc


def read_json(path: Path) -> dict[str, Any] | None:
    """A catalog document (None when missing; RecordError when unreadable)."""
    return _read_json(path)


def sidecar_files(record: RunRecord, prov_docs: Mapping[str, bytes]) -> dict[str, bytes]:
    """The provenance and quality files copied beside the item."""
    out = {name: prov_docs[name] for name in ("prov.ttl", "prov.jsonld") if name in prov_docs}
    quality = record.evidence.sections.get("quality")
    if quality is not None:
        out["quality.json"] = stac_json(quality.to_json_dict())
    return out


# -- validation -----------------------------------------------------------------------


def _spec_files() -> list[Path]:
    base = resources.files("kfm_gate.specs").joinpath("stac")
    return sorted(
        Path(str(base.joinpath(name.name)))
        for name in base.iterdir()
        if name.name.endswith(".json")
    )


@cache
def _pystac_validator() -> Any:
    """pystac's own validator with the vendored extension schemas in its cache (no network)."""
    import pystac.validation

    validator = pystac.validation.JsonSchemaSTACValidator()
    for path in _spec_files():
        schema = json.loads(path.read_text(encoding="utf-8"))
        validator.schema_cache[schema["$id"].rstrip("#")] = schema
    return validator


def validate_stac_pystac(doc: Mapping[str, Any]) -> list[str]:
    """Validate with pystac's validator (core + extensions, offline cache); returns the errors."""
    import pystac.errors
    import pystac.validation
    from pystac.validation.stac_validator import GetSchemaError

    try:
        pystac.validation.validate_dict(dict(doc), validator=_pystac_validator())
    except pystac.errors.STACValidationError as err:
        return [f"{doc.get('id')}: {err}"]
    except GetSchemaError as err:
        return [f"{doc.get('id')}: a schema is missing from the offline cache: {err}"]
    return []


#: keywords whose values are data, not schemas (never searched for ``$ref``)
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})
#: (id of a subschema, repr of an array or object, or of the values of the keys it looks at)
#: known to be valid against it
_VALID_ELEMENTS: dict[tuple[Any, ...], None] = {}
_VALID_ELEMENTS_MAX = 200_000


def _pointer(doc: Any, fragment: str) -> Any:
    node = doc
    for part in (p for p in fragment.split("/") if p):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _inline_refs(node: Any, base: str, docs: Mapping[str, Any], stack: frozenset[str]) -> Any:
    """``node`` with every ``$ref`` into ``docs`` replaced by its target (draft 7: a ``$ref``
    replaces its siblings). Recursive references and those outside ``docs`` stay, absolute."""
    from urllib.parse import urljoin

    if isinstance(node, dict):
        if isinstance(node.get("$id"), str):
            base = urljoin(base, node["$id"])
        ref = node.get("$ref")
        if isinstance(ref, str):
            target = urljoin(base, ref)
            doc_url, _, fragment = target.partition("#")
            if target in stack or doc_url not in docs:
                return {"$ref": target}
            return _inline_refs(_pointer(docs[doc_url], fragment), doc_url, docs, stack | {target})
        return {
            k: (v if k in _DATA_KEYWORDS else _inline_refs(v, base, docs, stack))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_inline_refs(x, base, docs, stack) for x in node]
    return node


def _descend(validator: Any, instance: Any, subschema: Any, **where: Any) -> Iterator[Any]:
    """``validator.descend`` with the validator's own resolver.

    jsonschema derives a resolver for every subschema in case it declares a new base URI;
    the schemas here are inlined and every reference left is absolute, so the base never
    matters and the parent's resolver is reused (the same results, less work).
    """
    return validator.descend(  # type: ignore[no-any-return]
        instance, subschema, resolver=getattr(validator, "_resolver", None), **where
    )


#: keywords whose result on an object depends only on the values (or absence) of the keys
#: the schema names (``properties``, ``required``, ``dependencies``), recursively through
#: the combinators
_PROJECTABLE = frozenset(
    {
        "properties",
        "required",
        "type",
        "allOf",
        "anyOf",
        "oneOf",
        "not",
        "title",
        "description",
        "$comment",
        "$schema",
        "$id",
        "default",
        "examples",
        "dependencies",
    }
)
#: id of a subschema -> the keys an object's validity against it depends on (None: the whole
#: object); the subschemas are those of the cached validators, alive for the process
_PROJECTIONS: dict[int, tuple[str, ...] | None] = {}


def _projection(schema: Any) -> tuple[str, ...] | None:
    hit = _PROJECTIONS.get(id(schema), ())
    if hit != ():
        return hit
    keys: set[str] = set()

    def walk(node: Any) -> bool:
        if isinstance(node, bool):
            return True
        if not isinstance(node, dict) or not set(node) <= _PROJECTABLE:
            return False
        props = node.get("properties", {})
        required = node.get("required", [])
        if not isinstance(props, dict) or not isinstance(required, list):
            return False
        keys.update(props)
        keys.update(str(k) for k in required)
        subs = [*node.get("allOf", []), *node.get("anyOf", []), *node.get("oneOf", [])]
        if "not" in node:
            subs.append(node["not"])
        dependencies = node.get("dependencies", {})
        if not isinstance(dependencies, dict):
            return False
        for key, dependency in dependencies.items():
            keys.add(str(key))
            if isinstance(dependency, list):
                keys.update(str(k) for k in dependency)
            else:
                subs.append(dependency)
        return all(walk(sub) for sub in subs)

    result = tuple(sorted(keys)) if walk(schema) else None
    _PROJECTIONS[id(schema)] = result
    return result


def _memo_descend(validator: Any, instance: Any, subschema: Any, **where: Any) -> Iterator[Any]:
    """:func:`_descend`, skipped for an array or object already found valid against the same
    subschema in this process.

    Validating a value against a subschema depends on the two only (the schemas are inlined,
    so no reference depends on where the value sits, and formats are not checked): a
    collection's links, which grow with every publication, and the values items share (flags,
    software, links) are each checked once per process, not once per publication. The key
    is the value's ``repr`` (it tells a list from a tuple and 1 from 1.0 or True); for an
    object and a subschema that only looks at some of its keys (``properties``,
    ``required``, ``type`` and combinators of those, e.g. the common metadata every asset
    is checked against) the ``repr`` of those keys' values only. Invalid values are never
    remembered, so every error is reported every time.
    """
    if isinstance(instance, dict) and instance:
        keys = _projection(subschema)
        if keys is None:
            key: tuple[Any, ...] = (id(subschema), repr(instance))
        else:
            key = (
                id(subschema),
                True,
                *(repr(instance[k]) if k in instance else None for k in keys),
            )
    elif isinstance(instance, list) and instance:
        key = (id(subschema), repr(instance))
    else:
        yield from _descend(validator, instance, subschema, **where)
        return
    if key in _VALID_ELEMENTS:
        return
    errors = list(_descend(validator, instance, subschema, **where))
    if errors:
        yield from errors
        return
    if len(_VALID_ELEMENTS) >= _VALID_ELEMENTS_MAX:
        _VALID_ELEMENTS.clear()
    _VALID_ELEMENTS[key] = None


#: keywords that descend into subschemas: jsonschema's own functions run them, handed a
#: validator whose ``descend`` is :func:`_memo_descend` (messages and paths stay jsonschema's)
_MEMO_KEYWORDS = (
    "items",
    "properties",
    "patternProperties",
    "additionalProperties",
    "allOf",
    "anyOf",
    "oneOf",
)


class _MemoValidator:
    """A jsonschema validator whose ``descend`` skips values already found valid."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def descend(
        self,
        instance: Any,
        schema: Any,
        path: Any = None,
        schema_path: Any = None,
        resolver: Any = None,
    ) -> Iterator[Any]:
        return _memo_descend(self._inner, instance, schema, path=path, schema_path=schema_path)


def _memo_keywords(cls: Any) -> dict[str, Any]:
    """Overrides of :data:`_MEMO_KEYWORDS` for validator class ``cls``: its own keyword
    functions, run with a :class:`_MemoValidator`."""

    def wrap(own: Any) -> Any:
        def keyword(validator: Any, value: Any, instance: Any, schema: Any) -> Any:
            return own(_MemoValidator(validator), value, instance, schema)

        return keyword

    return {k: wrap(cls.VALIDATORS[k]) for k in _MEMO_KEYWORDS if k in cls.VALIDATORS}


def _metaschemas() -> Any:
    """jsonschema's registry of the JSON Schema meta-schemas (files shipped with it)."""
    from jsonschema_specifications import REGISTRY  # type: ignore[import-untyped]

    return REGISTRY


@cache
def _schema_validators() -> dict[str, Any]:
    """Compiled jsonschema validators of the core and extension schemas, cached per process.

    They decide whenever fastjsonschema does not accept a document (:func:`validate_stac`)
    and word its errors. Each schema is compiled once with its references inlined (the
    registry still resolves the recursive ones and the JSON Schema meta-schema), and arrays
    and objects already found valid against a subschema are not checked again
    (:func:`_memo_descend`): an invalid item is mostly valid parts, which this skips (about
    three times faster on a rejected item).
    """
    import jsonschema
    from referencing import Resource
    from referencing.jsonschema import DRAFT7

    _VALID_ELEMENTS.clear()  # keyed by id() of subschemas: only those of these validators
    _PROJECTIONS.clear()
    resources_: list[tuple[str, Any]] = []
    schemas: dict[str, Any] = {}
    for url, path in stac_validator_schema_map().items():
        contents = json.loads(Path(path).read_text(encoding="utf-8"))
        resources_.append((url, Resource.from_contents(contents, default_specification=DRAFT7)))
        schemas[url] = contents
    registry = _metaschemas().with_resources(resources_).crawl()
    extend: Any = jsonschema.validators.extend
    cls_draft7 = jsonschema.Draft7Validator
    out: dict[str, Any] = {}
    for url, contents in schemas.items():
        cls = jsonschema.validators.validator_for(contents, default=jsonschema.Draft7Validator)
        if cls in (jsonschema.Draft6Validator, cls_draft7):
            cls = extend(cls, _memo_keywords(cls))
        out[url] = cls(_inline_refs(contents, url, schemas, frozenset()), registry=registry)
    return out


_CORE = {
    "Feature": "https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/item.json",
    "Collection": "https://schemas.stacspec.org/v1.1.0/collection-spec/json-schema/collection.json",
    "Catalog": "https://schemas.stacspec.org/v1.1.0/catalog-spec/json-schema/catalog.json",
}


_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


def _fast_validator(url: str) -> Any:
    """The compiled (fastjsonschema) validator of schema ``url`` built at setup from the
    current schemas, or None (:mod:`kfm_gate.catalog.schemacode`)."""
    from kfm_gate.catalog.schemacode import load_validator

    return load_validator(url)


def _plain_json(doc: Any) -> bool:
    """Whether ``doc`` holds only what ``json.loads`` returns (dicts with string keys, lists,
    strings, numbers, booleans, None). fastjsonschema also takes a tuple for an array, which
    jsonschema does not, so anything else is left to jsonschema alone."""
    stack = [doc]
    while stack:
        node = stack.pop()
        kind = type(node)
        if kind is dict:
            for key in node:
                if type(key) is not str:
                    return False
            stack.extend(node.values())
        elif kind is list:
            stack.extend(node)
        elif kind not in _JSON_SCALARS:
            return False
    return True


def _fast_accepts(url: str, instance: Mapping[str, Any]) -> bool:
    """Whether fastjsonschema's validator of ``url`` accepts ``instance``. False on any
    failure (a rejection, no validator built, an exception of its own): then
    jsonschema decides, so the verdict and the messages are always jsonschema's."""
    validator = _fast_validator(url)
    if validator is None:
        return False
    try:
        validator(instance)
    except Exception:
        return False
    return True


def validate_stac(doc: Mapping[str, Any]) -> list[str]:
    """Validate a STAC 1.1 item or collection offline against core and extension schemas.

    A schema that is not vendored is an error, never a download. This runs twice per
    publication, so per schema the validator fastjsonschema generated at setup
    (:mod:`kfm_gate.catalog.schemacode`) runs first when there is one (about eight times
    faster than jsonschema on an item); only when it does not accept the document does
    jsonschema validate it, and its errors (messages, paths, order) are the ones returned,
    none if it finds none. fastjsonschema is thus only trusted to accept, and only documents
    of plain JSON values, on which it accepts exactly what jsonschema accepts
    (tests/catalog/test_stac_fast_validation.py). Returns the error messages.
    """
    core = _CORE.get(str(doc.get("type")))
    if core is None or doc.get("stac_version") != "1.1.0":
        return [f"{doc.get('id')}: not a STAC 1.1.0 item or collection"]
    instance = dict(doc)
    fast = _plain_json(instance)
    schemas = stac_validator_schema_map()
    errors = []
    for url in [core, *doc.get("stac_extensions", [])]:
        key = str(url).rstrip("#")
        if key not in schemas:
            errors.append(f"{doc.get('id')}: schema {url} is not in the offline cache")
            continue
        if fast and _fast_accepts(key, instance):
            continue
        validator = _schema_validators()[key]
        for err in sorted(validator.iter_errors(instance), key=lambda e: list(e.path)):
            where = "/".join(str(x) for x in err.absolute_path) or "(root)"
            errors.append(f"{doc.get('id')}: {where}: {err.message[:300]} [{url}]")
    return errors


@cache
def stac_validator_schema_map() -> dict[str, str]:
    """URL -> local file for stac-validator: core 1.1.0 from pystac, extensions vendored.

    Built once per process (it parses the vendored spec files); do not modify the result."""
    import pystac

    core = Path(pystac.__file__).parent / "validation" / "jsonschemas" / "stac-spec" / "v1.1.0"
    geojson = Path(pystac.__file__).parent / "validation" / "jsonschemas" / "geojson"
    base = "https://schemas.stacspec.org/v1.1.0"
    out = {
        f"{base}/item-spec/json-schema/item.json": core / "item.json",
        f"{base}/collection-spec/json-schema/collection.json": core / "collection.json",
        f"{base}/catalog-spec/json-schema/catalog.json": core / "catalog.json",
        f"{base}/item-spec/json-schema/basics.json": core / "basics.json",
        f"{base}/item-spec/json-schema/datetime.json": core / "datetime.json",
        f"{base}/item-spec/json-schema/instrument.json": core / "instrument.json",
        f"{base}/item-spec/json-schema/licensing.json": core / "licensing.json",
        f"{base}/item-spec/json-schema/provider.json": core / "provider.json",
        f"{base}/item-spec/json-schema/common.json": core / "common.json",
        f"{base}/item-spec/json-schema/bands.json": core / "bands.json",
        f"{base}/item-spec/json-schema/data-values.json": core / "data-values.json",
        "https://geojson.org/schema/Feature.json": geojson / "Feature.json",
        "https://geojson.org/schema/Geometry.json": geojson / "Geometry.json",
    }
    for path in _spec_files():
        schema = json.loads(path.read_text(encoding="utf-8"))
        out[schema["$id"].rstrip("#")] = path
    return {k: str(v) for k, v in out.items()}
