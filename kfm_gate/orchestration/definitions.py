"""The Dagster definitions: ``dagster dev -m kfm_gate.orchestration.definitions``.

The repository root is ``KFM_GATE_ROOT`` when set, else the checkout this package lives in
(when it has ``policies/``), else the current folder. The gate resource reads
``KFM_GATE_AS_OF`` (a fixed evaluation day, e.g. the demo's 2026-11-03) and
``KFM_GATE_POLICY_DIR``.
"""

from __future__ import annotations

from kfm_gate.orchestration.pipeline import build_definitions

defs = build_definitions()
