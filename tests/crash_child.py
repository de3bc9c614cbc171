"""The process the crash suite kills: one scenario of tests/test_crash.py, nothing else.

``python -m tests.crash_child <root> <scenario>``; the checkpoint comes from the environment
(``KFM_GATE_CHECKPOINT=kill:#<n>`` or ``enospc:#<n>``, ``KFM_GATE_CHECKPOINT_LOG``).
Exit 0: done; 3: a write failed (the error is printed); SIGKILL: killed at the checkpoint.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

from kfm_gate.errors import KfmGateError
from kfm_gate.gate import Gate, build_gate
from kfm_gate.publication import Publisher

AS_OF = dt.date(2026, 11, 25)
AOIS = frozenset({"ks-county-20045"})
REQUEST = "request.json"


def gate_of(root: Path) -> Gate:
    """The gate of the crash suite: real embedded OPA, checksum and placement evidence."""
    return build_gate(root, as_of=AS_OF, aoi_ids=AOIS)


def run(root: Path, scenario: str) -> int:
    gate = gate_of(root)
    publisher = Publisher(gate.layout, store=gate.store)
    try:
        if scenario == "publish":
            result = gate.evaluate((root.parent / REQUEST).read_bytes())
            if not result.recorded:
                print(result.decision.error, file=sys.stderr)
                return 3
            publisher.settle(result.request, result.decision, recorded=result.recorded)
        elif scenario == "withdraw":
            request = publisher.resolve("ks-county-20045|2026-11-01")
            publisher.withdraw(request, reason="crash suite", day=AS_OF)
        else:
            raise SystemExit(f"unknown scenario {scenario!r}")
    except KfmGateError as err:
        print(err, file=sys.stderr)
        return 3
    finally:
        gate.close()
    return 0


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1]), sys.argv[2]))
