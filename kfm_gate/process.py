"""Child processes of the gate (the quality worker, the embedded policy engine): how they start.

A child runs ``python -m <module>`` of this installation, talks JSON lines over its stdin and
stdout, and writes nothing else anywhere (its stderr is discarded). It exits when its stdin
closes, so it never outlives the gate's process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def start_module(module: str) -> subprocess.Popen[bytes]:
    """Start ``python -m module`` with pipes on stdin and stdout; OSError when it cannot."""
    package_parent = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH", "")) if p)
    return subprocess.Popen(
        [sys.executable, "-m", module],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        close_fds=True,
    )
