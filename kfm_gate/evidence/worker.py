"""A child process that runs quality suites, so the suite runs beside the other collectors.

Great Expectations spends most of a partition's gate time in Python (its metric graph and
result objects), and the PII, secrets and geo collectors do too; in one process they take
turns on the GIL. The quality collector therefore hands its suite to this worker and the gate
runs the other collectors while it works, which uses both cores of the machine.

One worker per gate process, started on first use (it imports Great Expectations once) and
reused. The protocol is one JSON object per line on the worker's stdin (a job: the suite file,
its digest and the tables of the public view) and one per line on its stdout (the per-file
evidence, or an error message). The worker reads only the files a job names and writes
nothing. If it dies, hangs past the collector timeout or answers nonsense, the job fails with a
:class:`~kfm_gate.errors.CollectorError` (the gate's outcome is then ``error``), the process is
killed, and the next job starts a fresh one. ``KFM_QUALITY_WORKER=off`` (or the gate option
``quality.process: false``) runs suites in-process instead.

Run as ``python -m kfm_gate.evidence.worker`` by :class:`QualityWorker` only.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import json
import os
import subprocess
import sys
import threading
from typing import IO, Any

from kfm_gate.errors import CollectorError, ConfigError
from kfm_gate.process import start_module

#: environment switch: ``off`` runs quality suites in the gate's own process, ``on`` (the
#: default when unset) in the worker; any other value is an error, never a default
ENV_SWITCH = "KFM_QUALITY_WORKER"


def worker_enabled(option: object = None) -> bool:
    """Whether suites run in the worker: the gate option (True/False), else the environment
    (``on``/``off``, default on). ConfigError for any other value."""
    if isinstance(option, bool):
        return option
    if option is not None:
        raise ConfigError(f"quality.process {option!r} must be true or false")
    value = os.environ.get(ENV_SWITCH)
    if value is None:
        return True
    switch = value.strip().lower()
    if switch not in ("on", "off"):
        raise ConfigError(
            f"{ENV_SWITCH}={value!r} is neither on nor off: set one of them or unset it"
        )
    return switch == "on"


class QualityWorker:
    """The process's quality worker: jobs go out in order, one at a time."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="kfm-quality-worker"
        )

    def submit(self, job: dict[str, Any]) -> concurrent.futures.Future[dict[str, Any]]:
        """Send ``job``; the future gives the worker's answer or raises CollectorError."""
        return self._pool.submit(self._call, job)

    def kill(self) -> None:
        """Stop the worker now (a timed-out job); the next job starts a new one."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()

    def close(self) -> None:
        """Stop the worker (end of input lets it exit; killed if it does not within 5 s)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            _discard(proc, grace_s=5.0)

    def _start(self) -> subprocess.Popen[bytes]:
        try:
            return start_module("kfm_gate.evidence.worker")
        except OSError as err:
            raise CollectorError(
                f"quality: the worker process could not start ({err}); "
                f"set {ENV_SWITCH}=off to run the suite in-process"
            ) from err

    def _call(self, job: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                proc = self._proc = self._start()
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(json.dumps(job).encode("utf-8") + b"\n")
                proc.stdin.flush()
                line = proc.stdout.readline()
            except OSError as err:
                line = b""
                reason = f"the pipe to it failed ({err})"
            else:
                reason = ""
            if not line:
                self._proc = None
                code = _discard(proc, grace_s=0.0)
                reason = reason or f"it exited with code {code}"
                raise CollectorError(
                    f"quality: the worker process stopped before answering: {reason}; "
                    f"set {ENV_SWITCH}=off to run the suite in-process and see its error"
                )
            try:
                answer = json.loads(line)
            except ValueError as err:
                self._proc = None
                _discard(proc, grace_s=0.0)
                raise CollectorError(
                    "quality: the worker process answered with invalid JSON"
                ) from err
            if not isinstance(answer, dict):
                raise CollectorError("quality: the worker process answered with a non-object")
            return answer


def _discard(proc: subprocess.Popen[bytes], *, grace_s: float) -> int:
    """Close the pipes of ``proc``, let it exit within ``grace_s`` (else kill it); its code."""
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()
    try:
        return proc.wait(timeout=grace_s) if grace_s > 0 else _kill(proc)
    except subprocess.TimeoutExpired:
        return _kill(proc)


def _kill(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.kill()
    return proc.wait()


_worker: QualityWorker | None = None
_worker_lock = threading.Lock()


def shared_worker() -> QualityWorker:
    """The process's worker (created on first use, stopped at exit)."""
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = QualityWorker()
            atexit.register(_worker.close)
        return _worker


# -- the child side ---------------------------------------------------------------------------


def serve(requests: IO[str], answers: IO[str]) -> None:
    """Answer each job line of ``requests`` with one line on ``answers`` until end of input."""
    from kfm_gate.errors import KfmGateError
    from kfm_gate.evidence.quality import run_quality_job

    for line in requests:
        if not line.strip():
            continue
        try:
            answer: dict[str, Any] = {"files": run_quality_job(json.loads(line))}
        except KfmGateError as err:
            answer = {"error": str(err)}
        except Exception as err:  # reported to the gate, which fails closed
            answer = {"error": f"quality worker: {type(err).__name__}: {err}"}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


def main() -> None:
    # anything a library prints must not corrupt the protocol: file descriptor 1 (and
    # sys.stdout) become stderr, and answers go to a private copy of the original stdout
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    import warnings

    warnings.simplefilter("ignore")
    serve(sys.stdin, answers)


if __name__ == "__main__":
    main()
