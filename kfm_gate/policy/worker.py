"""The embedded OPA in a child process, so that every evaluation has a deadline it cannot outlive.

The OPA Go library cannot cancel an evaluation it started in-process (the bindings expose no
context), and a Rego rule with an expensive comprehension can run for minutes. The gate's
embedded engine therefore evaluates in a child process that holds the compiled policy set:
one JSON line per evaluation on the child's stdin (``{"path", "input"}``), one JSON line back
(``{"result"}``, or ``{"error"}`` with the message the in-process engine would raise). Past the
deadline the parent kills the child (SIGKILL) and raises :class:`~kfm_gate.errors.PolicyDeadlineError` naming the
limit ``policy_eval_s``; the next evaluation starts a fresh child. The child exits when its
stdin closes, so it never outlives the gate's process.

Measured on the demo's decision input (13 KB, ``benchmarks/bench_reliability.py``, side by
side): 1.21 ms an evaluation in-process, 1.60 ms through the child; starting the child and
compiling the policy set costs about 0.25 s, once per process and policy set.

Run as ``python -m kfm_gate.policy.worker`` by :class:`ProcessOpaEngine` only.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from kfm_gate.errors import (
    PolicyCompileError,
    PolicyDeadlineError,
    PolicyEngineUnavailableError,
    PolicyEvalError,
)
from kfm_gate.limits import LIMITS
from kfm_gate.policy.bundle import PolicySet
from kfm_gate.policy.engine import PolicySetBacked
from kfm_gate.process import start_module

#: seconds a child may take to start and compile the policy set (the queries themselves are
#: compiled on their first evaluation, within its deadline)
STARTUP_DEADLINE_S = 60.0
#: largest answer line accepted from the child
MAX_ANSWER_BYTES = 64 * 1024 * 1024


class ProcessOpaEngine(PolicySetBacked):
    """The embedded OPA engine evaluating in a child process, each call within
    ``deadline_s`` seconds (default :data:`kfm_gate.limits.LIMITS`.policy_eval_s).

    The policy set is compiled when the engine is built (PolicyCompileError with file:line on
    bad Rego), like :class:`~kfm_gate.policy.engine.EmbeddedOpaEngine`, whose semantics it
    has: it runs one in the child. Each query is compiled on its first evaluation, within
    that evaluation's deadline. Evaluations are serialized; waiting for the engine counts
    against the deadline of the call.
    """

    name = "embedded-opa"

    def __init__(
        self,
        policies: PolicySet,
        *,
        deadline_s: float = LIMITS.policy_eval_s,
    ) -> None:
        if not deadline_s > 0:
            raise ValueError(f"deadline_s must be positive, got {deadline_s!r}")
        self._policies = policies
        self.deadline_s = float(deadline_s)
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._buffer = b""
        self.restarts = 0
        with self._lock:
            self._start()

    # -- PolicyEngine --------------------------------------------------------------------

    def evaluate(self, path: str, input_doc: dict[str, Any]) -> Any:
        """``data.<path>`` for ``input_doc``; PolicyDeadlineError past the deadline."""
        deadline = time.monotonic() + self.deadline_s
        try:
            line = json.dumps({"path": path, "input": input_doc}, separators=(",", ":"))
        except (TypeError, ValueError) as err:
            raise PolicyEvalError(f"the input of data.{path} is not JSON: {err}") from err
        if not self._lock.acquire(timeout=self.deadline_s):
            raise self._late(path, "waiting for the engine")
        try:
            if self._proc is None or self._proc.poll() is not None:
                self._start()
            answer = self._exchange(line.encode("utf-8") + b"\n", deadline, path)
        finally:
            self._lock.release()
        if "result" in answer:
            return answer["result"]
        raise PolicyEvalError(str(answer.get("error") or f"evaluating data.{path} failed"))

    def close(self) -> None:
        with self._lock:
            self._stop()

    def __enter__(self) -> ProcessOpaEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self._stop()

    # -- child process ---------------------------------------------------------------------

    def _late(self, path: str, doing: str) -> PolicyDeadlineError:
        return PolicyDeadlineError(
            f"evaluating data.{path} did not finish within {self.deadline_s:g} s (limit "
            f"policy_eval_s, {doing}); the evaluation was stopped. A rule is too expensive "
            "for this input: simplify it (kfm-gate policy test --coverage shows what runs)"
        )

    def _start(self) -> None:
        self._stop()  # a child that died: its pipes are closed, it is reaped
        try:
            proc = start_module("kfm_gate.policy.worker")
        except OSError as err:
            raise PolicyEngineUnavailableError(
                f"the policy engine process could not start ({err.strerror or err})"
            ) from err
        self._proc, self._buffer = proc, b""
        setup = {
            "modules": dict(self._policies.modules),
            "data": self._policies.data,
        }
        answer = self._exchange(
            json.dumps(setup).encode("utf-8") + b"\n",
            time.monotonic() + STARTUP_DEADLINE_S,
            "(compile)",
        )
        if "compile_error" in answer:
            self._stop()
            failure = answer["compile_error"]
            raise PolicyCompileError(str(failure.get("message")), location=failure.get("location"))
        if not answer.get("ready"):
            self._stop()
            raise PolicyEngineUnavailableError(
                f"the policy engine process did not start: {answer.get('error', answer)}"
            )
        self.restarts += 1

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            proc.wait(timeout=5.0)

    def _exchange(self, line: bytes, deadline: float, path: str) -> dict[str, Any]:
        """Send one line and read one answer line, both before ``deadline``."""
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(line)
            proc.stdin.flush()
        except OSError as err:
            self._stop()
            raise PolicyEngineUnavailableError(
                f"the policy engine process stopped (the pipe to it failed: {err}); the "
                "next evaluation starts a new one"
            ) from err
        fd = proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not sel.select(remaining):
                    self._stop()
                    if path == "(compile)":
                        raise PolicyEngineUnavailableError(
                            f"the policy engine process did not compile the policy set within "
                            f"{STARTUP_DEADLINE_S:g} s"
                        )
                    raise self._late(path, "evaluating")
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    code = proc.poll()
                    self._stop()
                    raise PolicyEngineUnavailableError(
                        f"the policy engine process exited (code {code}) while evaluating "
                        f"data.{path}; the next evaluation starts a new one"
                    )
                self._buffer += chunk
                if len(self._buffer) > MAX_ANSWER_BYTES:
                    self._stop()
                    raise PolicyEvalError(
                        f"data.{path} answered more than {MAX_ANSWER_BYTES} bytes"
                    )
        raw, _, self._buffer = self._buffer.partition(b"\n")
        try:
            answer = json.loads(raw)
        except ValueError as err:
            self._stop()
            raise PolicyEvalError("the policy engine process answered invalid JSON") from err
        if not isinstance(answer, dict):
            self._stop()
            raise PolicyEvalError("the policy engine process answered a non-object")
        return answer


# -- the child side ---------------------------------------------------------------------------


def serve(requests: IO[bytes], answers: IO[bytes]) -> None:
    """Compile the policy set of the first line, then answer each evaluation line."""
    from kfm_gate.errors import KfmGateError
    from kfm_gate.policy.engine import EmbeddedOpaEngine

    def send(doc: dict[str, Any]) -> None:
        answers.write(json.dumps(doc, separators=(",", ":")).encode("utf-8") + b"\n")
        answers.flush()

    first = requests.readline()
    if not first:
        return
    setup = json.loads(first)
    policies = PolicySet(
        root=Path(), modules=setup["modules"], tests={}, data=setup["data"], digest=""
    )
    try:
        # compile only: preparing a document would evaluate it, without the deadline of an
        # evaluation (a rule that does not depend on the input runs then)
        engine = EmbeddedOpaEngine(policies)
    except PolicyCompileError as err:
        send({"compile_error": {"message": str(err), "location": err.location}})
        return
    send({"ready": True})
    for line in requests:
        if not line.strip():
            continue
        job = json.loads(line)
        try:
            send({"result": engine.evaluate(job["path"], job["input"])})
        except KfmGateError as err:
            send({"error": str(err)})
        except Exception as err:  # reported to the parent, which fails closed
            send({"error": f"evaluating data.{job.get('path')} failed: {type(err).__name__}"})


def main() -> None:
    # anything the Go runtime or a library prints must not corrupt the protocol
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    serve(sys.stdin.buffer, answers)


if __name__ == "__main__":
    main()
