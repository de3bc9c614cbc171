"""The OpenLineage outbox against a real local HTTP receiver that is down, then up."""

from __future__ import annotations

import contextlib
import io
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from kfm_gate.cli import main
from kfm_gate.errors import ConfigError
from kfm_gate.layout import Layout
from kfm_gate.provenance.lineage import HttpLineageSink, build_run_events
from kfm_gate.provenance.outbox import (
    DEFAULT_RETRY,
    LineageOutbox,
    OutboxLineageSink,
    build_delivery_sinks,
    lineage_config,
)
from kfm_gate.runs import RunStore
from kfm_gate.samples import sample_draft, sample_record

FAST_RETRY = {"total": 1, "connect": 1, "read": 1, "backoff_factor": 0}


class Receiver:
    """A Marquez-like endpoint on a fixed loopback port, that can be down (nothing listens)
    or up; ``refuse`` maps an event type to an HTTP status it answers instead of 201."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.received: list[dict[str, Any]] = []
        self.refuse: dict[str, list[int]] = {}
        self._server: ThreadingHTTPServer | None = None

    def up(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                statuses = owner.refuse.get(body["eventType"], [])
                status = statuses.pop(0) if statuses else 201
                if status == 201:
                    owner.received.append(body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._server = server

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.down()


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _outbox(root: Path, receiver: Receiver, clock: Clock | None = None) -> LineageOutbox:
    sink = HttpLineageSink(receiver.url, timeout=2.0, retry=FAST_RETRY)
    return LineageOutbox(root, sink, clock=clock or Clock())


def _events(outcome: str, day: str) -> list[dict[str, Any]]:
    return build_run_events(sample_record(outcome, day=day))


def test_events_wait_while_the_receiver_is_down_and_arrive_in_order(
    tmp_path: Path, receiver: Receiver
) -> None:
    clock = Clock()
    outbox = _outbox(tmp_path, receiver, clock)
    a, b = _events("allow", "2026-11-01"), _events("deny", "2026-11-02")
    outbox.enqueue(a)
    first = outbox.flush()
    assert (first.delivered, first.pending) == (0, 2) and first.error
    assert "not delivered" in first.error
    assert first.waiting_until == clock.now + 1
    outbox.enqueue(b)
    receiver.up()
    waiting = outbox.flush()  # the backoff holds: no network while it runs
    assert (waiting.delivered, waiting.pending) == (0, 4) and waiting.waiting_until
    assert receiver.received == []
    clock.now += 1
    done = outbox.flush()
    assert (done.delivered, done.pending, done.error) == (4, 0, None), done.render_text()
    assert receiver.received == [*a, *b]  # in the order they were emitted, byte-equal JSON
    assert outbox.pending() == [] and outbox.status()["failures"] == 0


def test_backoff_doubles_and_force_ignores_it(tmp_path: Path, receiver: Receiver) -> None:
    clock = Clock()
    outbox = _outbox(tmp_path, receiver, clock)
    outbox.enqueue(_events("deny", "2026-11-01"))
    waits = []
    for _ in range(4):
        report = outbox.flush(force=True)
        assert report.waiting_until is not None
        waits.append(report.waiting_until - clock.now)
    assert waits == [1, 2, 4, 8]
    assert outbox.status()["failures"] == 4 and "not delivered" in outbox.status()["error"]


def test_an_event_already_pending_is_not_queued_twice(tmp_path: Path, receiver: Receiver) -> None:
    outbox = _outbox(tmp_path, receiver)
    events = _events("allow", "2026-11-01")
    first = outbox.enqueue(events)
    again = outbox.enqueue(events)
    assert first == again and len(outbox.pending()) == 2
    receiver.up()
    assert outbox.flush(force=True).delivered == 2
    assert receiver.received == events


def test_a_failure_in_the_middle_keeps_the_order(tmp_path: Path, receiver: Receiver) -> None:
    outbox = _outbox(tmp_path, receiver)
    a, b = _events("allow", "2026-11-01"), _events("quarantine", "2026-11-02")
    outbox.enqueue([*a, *b])
    receiver.refuse = {"COMPLETE": [503, 503]}  # a's COMPLETE fails, retried once, fails again
    receiver.up()
    report = outbox.flush(force=True)
    assert (report.delivered, report.pending) == (1, 3)
    assert [e["eventType"] for e in receiver.received] == ["START"]
    report = outbox.flush(force=True)
    assert (report.delivered, report.pending) == (3, 0)
    assert receiver.received == [*a, *b]


def test_a_refused_event_is_set_aside_and_does_not_block_the_rest(
    tmp_path: Path, receiver: Receiver
) -> None:
    outbox = _outbox(tmp_path, receiver)
    a, b = _events("allow", "2026-11-01"), _events("allow", "2026-11-02")
    outbox.enqueue([*a, *b])
    receiver.refuse = {"START": [400]}  # the receiver rejects a's START for good
    receiver.up()
    report = outbox.flush(force=True)
    assert report.delivered == 3 and report.pending == 0 and len(report.rejected) == 1
    assert "HTTP 400" in report.rejected[0]
    assert receiver.received == [a[1], *b]
    (kept,) = sorted((outbox.rejected_dir).glob("*.json"))
    assert json.loads(kept.read_bytes()) == a[0]
    assert outbox.status()["rejected"] == 1


def test_one_deliverer_at_a_time(tmp_path: Path, receiver: Receiver) -> None:
    outbox = _outbox(tmp_path, receiver)
    outbox.enqueue(_events("allow", "2026-11-01"))
    with outbox._lock(".deliver.lock", wait=False) as held:
        assert held
        report = _outbox(tmp_path, receiver).flush(force=True)
    assert report.busy and report.pending == 2 and receiver.received == []
    with pytest.raises(ConfigError, match="no receiver"):
        LineageOutbox(tmp_path).flush()


def test_the_sink_reports_what_stays_queued(tmp_path: Path, receiver: Receiver) -> None:
    from kfm_gate.errors import RecordError

    sink = OutboxLineageSink(_outbox(tmp_path, receiver))
    with pytest.raises(RecordError, match=r"2 OpenLineage event\(s\) kept in .*pending"):
        sink.emit(_events("deny", "2026-11-01"))


def test_the_receiver_comes_from_the_config_or_the_openlineage_environment() -> None:
    assert lineage_config({}, environ={}) == {}
    cfg = lineage_config(
        {},
        environ={
            "OPENLINEAGE_URL": "http://marquez:5000",
            "OPENLINEAGE_ENDPOINT": "api/v1/lineage",
            "OPENLINEAGE_API_KEY": "k",
        },
    )
    assert cfg["openlineage"] == {
        "url": "http://marquez:5000",
        "endpoint": "api/v1/lineage",
        "api_key": "k",
        "retry": DEFAULT_RETRY,
    }
    own = lineage_config({"openlineage": {"url": "http://x", "retry": {"total": 9}}}, environ={})
    assert own["openlineage"]["retry"] == {"total": 9}
    with pytest.raises(ConfigError, match="mapping"):
        lineage_config({"openlineage": "http://x"}, environ={})


def test_recording_queues_while_down_and_a_later_run_delivers_both_in_order(
    tmp_path: Path, receiver: Receiver
) -> None:
    """The gate's hook: RunStore.record emits through the outbox of its root."""
    config = {"openlineage": {"url": receiver.url, "retry": FAST_RETRY, "timeout": 2}}
    store = RunStore(Layout(tmp_path))
    first = sample_draft("deny", day="2026-11-01")
    first = replace(first, config={**first.config, **config})
    result = store.record(first)
    assert any("kept in" in w for w in result.warnings), result.warnings
    assert (result.run.folder / "openlineage" / "01-START.json").is_file()  # record complete
    pending = sorted((tmp_path / "mcp/lineage-outbox/pending").iterdir())
    assert len(pending) == 2
    receiver.up()
    # time passes: the backoff after the first failure (1 s) is over
    (tmp_path / "mcp/lineage-outbox/state.json").write_text('{"failures": 1, "retry_after": 0}')
    second = sample_draft("allow", day="2026-11-02")
    second = replace(second, config={**second.config, **config})
    result = store.record(second)
    assert result.warnings == []
    expected = [
        *build_run_events(sample_record("deny", day="2026-11-01")),
        *build_run_events(sample_record("allow", day="2026-11-02")),
    ]
    assert receiver.received == expected
    assert sorted((tmp_path / "mcp/lineage-outbox/pending").iterdir()) == []


def test_without_a_receiver_nothing_is_queued(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENLINEAGE_URL", raising=False)
    assert build_delivery_sinks({}, tmp_path, tmp_path / "run") == []
    RunStore(Layout(tmp_path)).record(sample_draft("deny"))
    assert not (tmp_path / "mcp/lineage-outbox").exists()


def _cli(root: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--root", str(root), "lineage-outbox", *args])
    return code, out.getvalue(), err.getvalue()


def test_cli_status_and_flush(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENLINEAGE_URL", raising=False)
    code, out, _ = _cli(tmp_path, "status")
    assert code == 0 and "0 pending" in out
    code, _, err = _cli(tmp_path, "flush")
    assert code == 2 and "OPENLINEAGE_URL" in err
    events = _events("allow", "2026-11-01")
    _outbox(tmp_path, receiver).enqueue(events)
    code, out, _ = _cli(tmp_path, "status", "--format", "json")
    assert code == 1 and json.loads(out)["pending"] == 2
    receiver.up()
    monkeypatch.setenv("OPENLINEAGE_URL", receiver.url)
    code, out, _ = _cli(tmp_path, "flush")
    assert code == 0 and "2 delivered, 0 pending" in out
    assert receiver.received == events
