"""Renderers: one per format behind one interface (``render(obj) -> str``)."""

from __future__ import annotations

from kfm_gate.reporting.decision import DecisionJsonRenderer, DecisionTextRenderer, explain_run

__all__ = ["DecisionJsonRenderer", "DecisionTextRenderer", "explain_run"]
