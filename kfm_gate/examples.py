"""The bundled example requests (`kfm-gate examples`): stage their candidates, gate each one."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

from kfm_gate.errors import InputError
from kfm_gate.layout import Layout

EXAMPLES = "examples"


def stage_example(root: Path, request_path: Path) -> None:
    """Copy an example's candidate files to the output paths its request names."""
    layout = Layout(root)
    doc = json.loads(request_path.read_text(encoding="utf-8"))
    source_dir = root / EXAMPLES / "candidates" / request_path.stem
    for out in doc.get("outputs", []):
        src = source_dir / Path(out["path"]).name
        if not src.is_file():
            continue  # an example may name a missing file on purpose
        layout.write_bytes(layout.resolve_relative(out["path"]), src.read_bytes())


def run_examples(root: Path, *, as_of: dt.date | None = None, fmt: str = "text") -> int:
    """Gate every ``examples/requests/*.json`` and settle its publication (an allow is
    published, as ``kfm-gate evaluate`` does); prints one decision each. Returns 0."""
    from kfm_gate.errors import KfmGateError
    from kfm_gate.publication import Publisher
    from kfm_gate.reporting import DecisionJsonRenderer, DecisionTextRenderer
    from kfm_gate.runtime import build_default_gate

    requests = sorted((root / EXAMPLES / "requests").glob("*.json"))
    if not requests:
        raise InputError(f"no example requests under {root / EXAMPLES / 'requests'}")
    renderer = DecisionJsonRenderer() if fmt == "json" else DecisionTextRenderer()
    gate = build_default_gate(root, as_of=as_of, force=True)
    publisher = Publisher(gate.layout, store=gate.store)
    try:
        for i, path in enumerate(requests, 1):
            print(f"[{i}/{len(requests)}] {path.relative_to(root)}", file=sys.stderr)
            try:
                stage_example(root, path)
            except (OSError, ValueError, KeyError, InputError) as err:
                print(f"  could not stage {path.name}: {err}", file=sys.stderr)
            run = gate.evaluate(path.read_bytes())
            sys.stdout.write(renderer.render(run.decision, run_dir=run.run_dir, reused=run.reused))
            try:
                publisher.settle(run.request, run.decision, recorded=run.recorded)
            except KfmGateError as err:
                print(f"  publication failed: {err}", file=sys.stderr)
    finally:
        gate.close()
    print("explain any run with: kfm-gate explain <run id>", file=sys.stderr)
    return 0
