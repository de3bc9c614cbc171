"""An outbox for OpenLineage events, so none is lost while the receiver (Marquez) is down.

Every event bound for an HTTP receiver is first written to ``mcp/lineage-outbox/pending/`` (an
atomic write through :class:`kfm_gate.layout.Layout`, fsynced), named
``<seq, 12 digits>-<event key>.json``; then :meth:`LineageOutbox.flush` delivers the pending
events **in order**, removing each once the receiver accepted it, and stops at the first that
fails, so a later event never overtakes an earlier one. What stays pending is delivered by the
next flush: the next gate decision that emits lineage, or ``kfm-gate lineage-outbox flush``.

- **Idempotent.** The event key is a digest of the event's bytes: enqueueing an event that is
  already pending adds nothing, and a retry sends exactly the same bytes (an OpenLineage
  receiver such as Marquez stores a run event once per run, type and time). An event whose
  delivery was accepted but whose file removal was lost in a crash is sent again: at least
  once, never zero times.
- **Retries.** One flush retries each POST through the OpenLineage HTTP transport (urllib3's
  retry with backoff, ``config['openlineage']['retry']``); after a failed flush the outbox waits
  (1 s, doubling, at most ``max_backoff`` s, kept in ``state.json``) before it touches the network
  again, so while the receiver is down a gate spends no time on it. ``flush(force=True)`` ignores
  the wait.
- **Rejected.** An event the receiver refuses for good (HTTP 4xx other than 408 and 429) is moved
  to ``rejected/`` with the reason, reported, and no longer blocks the events after it.
- **One deliverer.** Enqueueing takes a short lock; delivering takes another, without waiting: a
  process that finds another delivering leaves the work to it.

The outbox is per repository root (``mcp/`` of a host). With several hosts, each has its own
outbox delivering its own events; their relative order is the receiver's to sort (by event
time), as with any distributed OpenLineage producer.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kfm_gate.errors import ConfigError, RecordError
from kfm_gate.ids import sha256_bytes
from kfm_gate.provenance.lineage import (
    FileLineageSink,
    LineageSink,
    build_lineage_sinks,
    event_bytes,
)

OUTBOX_DIR = "mcp/lineage-outbox"
#: retries of one POST within a flush (urllib3 Retry, merged over openlineage's defaults)
DEFAULT_RETRY: dict[str, Any] = {"total": 3, "connect": 3, "read": 3, "backoff_factor": 0.5}
#: the OpenLineage client's own environment variables, used when the config names no receiver
URL_ENV, ENDPOINT_ENV, API_KEY_ENV = (
    "OPENLINEAGE_URL",
    "OPENLINEAGE_ENDPOINT",
    "OPENLINEAGE_API_KEY",
)


@dataclass
class FlushReport:
    """What one :meth:`LineageOutbox.flush` did."""

    delivered: int = 0
    pending: int = 0
    rejected: list[str] = field(default_factory=list)  # "<file>: <reason>"
    error: str | None = None  # why delivery stopped (the receiver is down, ...)
    waiting_until: float | None = None  # no attempt before this time (backoff)
    busy: bool = False  # another process was delivering

    @property
    def ok(self) -> bool:
        return self.pending == 0 and not self.rejected

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "delivered": self.delivered,
            "pending": self.pending,
            "rejected": list(self.rejected),
            "error": self.error,
            "waiting_until": self.waiting_until,
            "busy": self.busy,
        }

    def render_text(self) -> str:
        text = f"lineage outbox: {self.delivered} delivered, {self.pending} pending"
        if self.rejected:
            text += f", {len(self.rejected)} rejected"
        if self.busy:
            text += " (another process is delivering)"
        if self.error:
            text += f"; stopped: {self.error}"
        if self.waiting_until is not None and not self.error:
            text += f"; next attempt after {time.strftime('%H:%M:%S', time.gmtime(self.waiting_until))} UTC"
        return text


def _permanent(err: BaseException) -> int | None:
    """The HTTP status of a refusal that retrying cannot change (4xx but 408/429), else None."""
    seen: BaseException | None = err
    while seen is not None:
        status = getattr(getattr(seen, "response", None), "status_code", None)
        if isinstance(status, int):
            return status if 400 <= status < 500 and status not in (408, 429) else None
        seen = seen.__cause__
    return None


class LineageOutbox:
    """The pending events of one repository root and the sink that delivers them."""

    def __init__(
        self,
        root: Path,
        sender: LineageSink | None = None,
        *,
        max_backoff: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        from kfm_gate.layout import Layout

        self.layout = Layout(root)
        self.folder = self.layout.resolve_relative(OUTBOX_DIR)
        self.pending_dir = self.folder / "pending"
        self.rejected_dir = self.folder / "rejected"
        self.state_path = self.folder / "state.json"
        self.sender = sender
        self.max_backoff = max_backoff
        self.clock = clock

    # -- locks ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _lock(self, name: str, *, wait: bool) -> Iterator[bool]:
        self.pending_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder / name, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    # -- queue ---------------------------------------------------------------------------

    def pending(self) -> list[Path]:
        """The pending event files, oldest first."""
        try:
            return sorted(p for p in self.pending_dir.iterdir() if p.suffix == ".json")
        except FileNotFoundError:
            return []

    def enqueue(self, events: Sequence[Mapping[str, Any]]) -> list[Path]:
        """Write ``events`` (in this order) behind every pending one; an event already pending
        is not added twice. Returns the files of the events given."""
        out: list[Path] = []
        with self._lock(".enqueue.lock", wait=True):
            files = self.pending()
            keys = {p.stem.split("-", 1)[1]: p for p in files if "-" in p.stem}
            seq = max((int(p.stem.split("-", 1)[0]) for p in files), default=0)
            for event in events:
                data = event_bytes(event)
                key = sha256_bytes(data)[7:31]
                if key in keys:
                    out.append(keys[key])
                    continue
                seq += 1
                path = self.pending_dir / f"{seq:012d}-{key}.json"
                self.layout.write_bytes(path, data)
                keys[key] = path
                out.append(path)
        return out

    # -- delivery ------------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        try:
            doc = json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return doc if isinstance(doc, dict) else {}

    def _save_state(self, state: Mapping[str, Any]) -> None:
        self.layout.write_bytes(
            self.state_path, (json.dumps(dict(state), sort_keys=True) + "\n").encode("utf-8")
        )

    def flush(self, *, force: bool = False) -> FlushReport:
        """Deliver the pending events in order, until none is left or one fails."""
        if self.sender is None:
            raise ConfigError("the outbox has no receiver to deliver to: give it a sink (a URL)")
        report = FlushReport()
        with self._lock(".deliver.lock", wait=False) as held:
            if not held:
                report.busy = True
                report.pending = len(self.pending())
                return report
            state = self._state()
            retry_after = state.get("retry_after")
            if not force and isinstance(retry_after, (int, float)) and self.clock() < retry_after:
                report.pending = len(self.pending())
                report.waiting_until = float(retry_after)
                report.error = None
                return report
            while True:
                files = self.pending()
                if not files:
                    break
                failed = False
                for path in files:
                    try:
                        event = json.loads(path.read_bytes())
                        self.sender.emit([event])
                    except (OSError, ValueError) as err:
                        self._reject(path, f"unreadable event file: {err}", report)
                        continue
                    except RecordError as err:
                        status = _permanent(err)
                        if status is not None:
                            self._reject(path, f"HTTP {status}: {err}", report)
                            continue
                        report.error = str(err)
                        failed = True
                        break
                    path.unlink(missing_ok=True)
                    report.delivered += 1
                if failed:
                    break
            report.pending = len(self.pending())
            if report.error is not None:
                failures = int(state.get("failures", 0)) + 1
                wait = min(self.max_backoff, 2.0 ** (failures - 1))
                report.waiting_until = self.clock() + wait
                self._save_state(
                    {
                        "failures": failures,
                        "retry_after": report.waiting_until,
                        "error": report.error,
                    }
                )
            elif state:
                self._save_state({})
        return report

    def _reject(self, path: Path, reason: str, report: FlushReport) -> None:
        self.rejected_dir.mkdir(parents=True, exist_ok=True)
        self.layout.write_bytes(
            self.rejected_dir / (path.stem + ".reason.txt"), (reason + "\n").encode("utf-8")
        )
        path.replace(self.rejected_dir / path.name)
        report.rejected.append(f"{path.name}: {reason}")

    def status(self) -> dict[str, Any]:
        """Pending and rejected counts, and the backoff state (for ``lineage-outbox status``)."""
        state = self._state()
        rejected = sorted(self.rejected_dir.glob("*.json")) if self.rejected_dir.is_dir() else []
        return {
            "folder": str(self.folder),
            "pending": len(self.pending()),
            "rejected": len(rejected),
            "failures": int(state.get("failures", 0)),
            "retry_after": state.get("retry_after"),
            "error": state.get("error"),
        }


class OutboxLineageSink:
    """A :class:`LineageSink` that enqueues, then flushes: ``emit`` returns once the events
    are on disk in the outbox and raises :class:`RecordError` (a warning for the recorder)
    when some are still pending or were rejected."""

    def __init__(self, outbox: LineageOutbox) -> None:
        self.outbox = outbox

    def emit(self, events: Sequence[Mapping[str, Any]]) -> None:
        self.outbox.enqueue(events)
        report = self.outbox.flush()
        if report.rejected:
            raise RecordError(
                f"OpenLineage receiver refused {len(report.rejected)} event(s), kept in "
                f"{self.outbox.rejected_dir}: {report.rejected[0]}"
            )
        if report.pending:
            why = report.error or ("another process is delivering" if report.busy else "backoff")
            raise RecordError(
                f"{report.pending} OpenLineage event(s) kept in {self.outbox.pending_dir} "
                f"({why}); they are delivered in order by the next flush"
            )


def lineage_config(
    config: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """``config`` with an ``openlineage`` receiver: its own, else the OpenLineage client's
    environment (``OPENLINEAGE_URL``, ``OPENLINEAGE_ENDPOINT``, ``OPENLINEAGE_API_KEY``); the
    retry settings default to :data:`DEFAULT_RETRY`."""
    env = os.environ if environ is None else environ
    ol = config.get("openlineage")
    if ol is None and env.get(URL_ENV):
        ol = {"url": env[URL_ENV]}
        if env.get(ENDPOINT_ENV):
            ol["endpoint"] = env[ENDPOINT_ENV]
        if env.get(API_KEY_ENV):
            ol["api_key"] = env[API_KEY_ENV]
    if ol is None:
        return dict(config)
    if not isinstance(ol, Mapping):
        raise ConfigError("config 'openlineage' must be a mapping with 'url' (and 'endpoint')")
    return {**config, "openlineage": {"retry": DEFAULT_RETRY, **ol}}


def build_delivery_sinks(config: Mapping[str, Any], root: Path, run_dir: Path) -> list[LineageSink]:
    """The sinks that deliver a run's events beyond its own folder: each HTTP receiver of
    ``config`` (or of the environment, :func:`lineage_config`) behind the outbox of ``root``."""
    return [
        OutboxLineageSink(LineageOutbox(root, sink))
        for sink in build_lineage_sinks(lineage_config(config), run_dir)
        if not isinstance(sink, FileLineageSink)
    ]
