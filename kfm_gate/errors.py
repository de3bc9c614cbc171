"""The one exception tree of kfm-gate.

A denial is data (a :class:`~kfm_gate.models.Decision` with outcome ``deny``), never an
exception. Exceptions mean the gate itself could not do its work; the gate turns every one of
them into outcome ``error`` (fail closed), and the CLI into exit code 2 when the command
itself could not run.

::

    KfmGateError                 root: catch this one to handle any gate failure
    ├── ConfigError              bad settings: engine name, key source, missing folders
    ├── InputError               bad user input: request, manifest, registry, data file
    │   ├── PartitionKeyError    aoi_key not in the registry, time_key not a real date
    │   ├── PathError            absolute path, '..', link leaving an allowed root
    │   └── LimitError           a document exceeds a limit (bytes, depth, elements, size)
    ├── PolicyError              the policy set cannot be used
    │   ├── PolicyCompileError   Rego parse / compile error (carries file:line)
    │   ├── PolicyEvalError      evaluation failed or returned an unusable document
    │   │   └── PolicyDeadlineError  evaluation ran past its deadline (and was stopped)
    │   └── PolicyEngineUnavailableError  server down, timeout, HTTP error
    ├── CollectorError           an evidence collector could not produce its evidence
    ├── ObligationError          an obligation could not be applied (e.g. no masking key)
    ├── RecordError              the run record / ledger / catalog could not be written
    │   └── LockError            another run of the same partition holds the lock
    ├── LedgerError              the ledger is inconsistent (verify names the entry)
    └── PublicationRefusedError  only a recorded allow of the current request is published
"""

from __future__ import annotations

import errno


class KfmGateError(Exception):
    """Root of every error kfm-gate raises on purpose."""

    #: machine-readable reason code recorded in the decision when this error blocks a run
    reason_code = "GATE_ERROR"


class ConfigError(KfmGateError):
    """A setting is missing or invalid; the message names it and how to fix it."""

    reason_code = "GATE_CONFIG_INVALID"


class InputError(KfmGateError):
    """A user-supplied document or file is invalid."""

    reason_code = "POLICY_INPUT_INCOMPLETE"


class PartitionKeyError(InputError):
    """A partition key is malformed or unknown."""

    reason_code = "PARTITION_KEY_INVALID"


class PathError(InputError):
    """A path would leave the folders kfm-gate may read or write."""

    reason_code = "PATH_NOT_ALLOWED"


class LimitError(InputError):
    """A request or document exceeds one of the limits of :mod:`kfm_gate.limits`;
    ``limit`` names it (e.g. ``request_bytes``, ``depth``, ``elements``)."""

    reason_code = "INPUT_LIMIT_EXCEEDED"

    def __init__(self, message: str, limit: str) -> None:
        super().__init__(message)
        self.limit = limit


class PolicyError(KfmGateError):
    """The policy set cannot be used."""

    reason_code = "POLICY_BUNDLE_UNAVAILABLE"


class PolicyCompileError(PolicyError):
    """Rego did not parse or compile; ``location`` is ``file:line`` when OPA gave one."""

    reason_code = "POLICY_COMPILE_ERROR"

    def __init__(self, message: str, location: str | None = None) -> None:
        super().__init__(message)
        self.location = location


class PolicyEvalError(PolicyError):
    """Evaluation failed or returned a document that is not a valid result."""

    reason_code = "POLICY_EVAL_ERROR"


class PolicyDeadlineError(PolicyEvalError):
    """An evaluation did not finish within its deadline; the evaluation was stopped."""

    reason_code = "POLICY_DEADLINE_EXCEEDED"


class PolicyEngineUnavailableError(PolicyError):
    """The policy engine could not be reached in time."""

    reason_code = "POLICY_ENGINE_UNAVAILABLE"


class CollectorError(KfmGateError):
    """An evidence collector failed; evidence it could not produce is unresolved."""

    reason_code = "EVIDENCE_UNRESOLVED"


class ObligationError(KfmGateError):
    """An obligation could not be applied to the public view."""

    reason_code = "OBLIGATION_NOT_APPLIED"


class RecordError(KfmGateError):
    """A run record, ledger entry or catalog record could not be written."""

    reason_code = "RECORD_WRITE_FAILED"


class LockError(RecordError):
    """Another run holds the lock of this run id."""

    reason_code = "RUN_LOCKED"


class LedgerError(KfmGateError):
    """The ledger does not verify."""

    reason_code = "LEDGER_INVALID"


class PublicationRefusedError(KfmGateError):
    """The publisher refuses: no allow is recorded for the partition's current request (or
    nothing is published to withdraw)."""

    reason_code = "PROMOTION_REFUSED"


def describe_failure(err: BaseException) -> str:
    """One line for a user: what failed and, where it is known, the fix (never a traceback).

    A kfm-gate error already says both; an operating-system error names the path and the
    cause; anything else is named by its type (``--debug`` shows the stack).
    """
    from pydantic import ValidationError

    if isinstance(err, KfmGateError):
        return str(err)
    if isinstance(err, ValidationError):
        problems = err.errors(include_url=False)
        where = ".".join(str(p) for p in problems[0]["loc"]) or "(document)"
        first = f"{where}: {problems[0]['msg']}"
        return (
            f"a {err.title} document does not validate ({len(problems)} problem(s); first: "
            f"{first}); the file may be truncated or edited"
        )
    if isinstance(err, RecursionError):
        return (
            "the input is nested too deeply to be read; flatten it (requests allow "
            "at most the depth of kfm_gate.limits)"
        )
    if isinstance(err, MemoryError):
        return "out of memory; make the input smaller or raise the memory of this machine"
    if isinstance(err, OSError):
        where = f" {err.filename}" if err.filename else ""
        reason = err.strerror or str(err)
        fixes = {
            errno.ENOSPC: "free disk space and run again",
            errno.EDQUOT: "free disk space and run again",
            errno.EACCES: "make the folder writable or choose another one",
            errno.EPERM: "make the folder writable or choose another one",
            errno.EROFS: "the file system is read-only: choose a writable folder",
            errno.ENOENT: "check the path (its folder must exist)",
            errno.ENOTDIR: "a part of the path is a file where a folder is expected: move it",
            errno.EISDIR: "the path is a folder where a file is expected",
        }
        fix = fixes.get(err.errno or 0, "check the path and its permissions")
        return f"cannot access{where}: {reason}; {fix}"
    text = str(err).splitlines()[0][:300] if str(err) else ""
    detail = f": {text}" if text else ""
    return f"internal error {type(err).__name__}{detail} (run again with --debug for the stack)"
