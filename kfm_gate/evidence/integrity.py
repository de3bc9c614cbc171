"""Checksum and placement collectors: the outputs are what the request says, where it says."""

from __future__ import annotations

import hashlib
from pathlib import Path

from kfm_gate.context import GateContext
from kfm_gate.layout import PROCESSED
from kfm_gate.models import EvidenceSection

_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """``sha256:<hex>`` of a file, read in chunks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


class ChecksumCollector:
    """Every output exists and matches its declared sha256 (the candidate, before masking)."""

    name = "checksums"

    def collect(self, ctx: GateContext) -> EvidenceSection:
        outputs = []
        for out in ctx.request.outputs:
            path = ctx.root / out.path
            exists = path.is_file() and not path.is_symlink()
            actual = file_sha256(path) if exists else None
            outputs.append(
                {
                    "path": out.path,
                    "declared": out.sha256,
                    "actual": actual,
                    "exists": exists,
                    "match": exists and out.sha256 is not None and actual == out.sha256,
                    "size": path.stat().st_size if exists else None,
                }
            )
        return EvidenceSection(
            collector=type(self).__name__,
            data={
                "outputs": outputs,
                "missing_count": sum(not o["exists"] for o in outputs),
                "undeclared_count": sum(o["declared"] is None for o in outputs),
                "mismatch_count": sum(
                    bool(o["exists"]) and o["declared"] is not None and not o["match"]
                    for o in outputs
                ),
            },
        )


class PlacementCollector:
    """Outputs sit inside ``data/processed/<pipeline>/<dataset>/<aoi>/<time>/``, links resolved."""

    name = "placement"

    def collect(self, ctx: GateContext) -> EvidenceSection:
        req = ctx.request
        prefix = (
            f"{PROCESSED}/{req.pipeline}/{req.dataset}/"
            f"{req.partition.aoi_key}/{req.partition.time_key}/"
        )
        allowed = (ctx.root / prefix).resolve()
        outside = []
        for out in req.outputs:
            resolved = (ctx.root / out.path).resolve()
            if not out.path.startswith(prefix) or allowed not in resolved.parents:
                outside.append(out.path)
        return EvidenceSection(
            collector=type(self).__name__,
            data={"allowed_prefix": prefix, "outside": outside, "outside_count": len(outside)},
        )
