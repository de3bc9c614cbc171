"""Run records in ``mcp/runs/<run-folder>/``: write them, find them, read them back.

Every outcome writes ``request.json``, ``config.json``, ``evidence.json``, ``decision.json``
and ``run.log``. Files are canonical JSON (sorted keys, two-space indent, trailing newline) so
the same run gives the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kfm_gate.errors import InputError
from kfm_gate.ids import run_folder_name
from kfm_gate.jsonfmt import dumps_indent
from kfm_gate.layout import RUNS, Layout
from kfm_gate.models import Decision

RECORD_FILES = (
    "request.json",
    "config.json",
    "evidence.json",
    "policy_input.json",
    "decision.json",
    "run.log",
)


def dumps(doc: Any) -> str:
    """Stable pretty JSON: sorted keys, UTF-8, newline at the end (``json.dumps`` bytes)."""
    return dumps_indent(doc, 2, ensure_ascii=False, allow_nan=False) + "\n"


class RunStore:
    """The run records of one repository."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    @property
    def base(self) -> Path:
        return self.layout.root / RUNS

    def run_dir(self, run_id: str) -> Path:
        return self.layout.run_dir(run_folder_name(run_id))

    def write(self, run_id: str, files: dict[str, str]) -> Path:
        """Write the given record files atomically; ``decision.json`` last (it marks done)."""
        folder = self.run_dir(run_id)
        for name in sorted(files, key=lambda n: n == "decision.json"):
            self.layout.write_text(folder / name, files[name])
        return folder

    def load_decision(self, run_id: str) -> Decision | None:
        """The recorded decision of ``run_id``, or None when the run has none yet."""
        path = self.run_dir(run_id) / "decision.json"
        if not path.is_file():
            return None
        return Decision.model_validate_json(path.read_text(encoding="utf-8"))

    def find(self, run_ref: str) -> Path:
        """A run folder from a run id, a folder name, or a unique prefix of either."""
        candidates = [run_ref, run_ref.replace(":", "_")]
        for c in candidates:
            if "/" not in c and (self.base / c / "decision.json").is_file():
                return self.base / c
        matches = sorted(
            p for p in self.base.glob("*") if p.is_dir() and p.name.startswith(candidates[1])
        )
        matches = [p for p in matches if (p / "decision.json").is_file()]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise InputError(f"no run {run_ref!r} under {self.base}; list them with ls {RUNS}")
        raise InputError(f"run {run_ref!r} is ambiguous: {len(matches)} runs start with it")

    def iter_runs(self) -> Iterator[Path]:
        """Every run folder that holds a decision, sorted."""
        if not self.base.is_dir():
            return
        for p in sorted(self.base.iterdir()):
            if p.is_dir() and (p / "decision.json").is_file():
                yield p

    @staticmethod
    def read_json(folder: Path, name: str) -> Any:
        return json.loads((folder / name).read_text(encoding="utf-8"))
