"""The hash-chained ledger: any edited byte, deletion, insertion or reordering is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from kfm_gate.errors import ConfigError
from kfm_gate.ids import digest
from kfm_gate.provenance.ledger import Ledger, entry_from_decision
from kfm_gate.samples import sample_record


def _fill(ledger: Ledger, n: int = 6) -> None:
    outcomes = ["allow", "deny", "quarantine", "error"]
    for i in range(n):
        d = sample_record(outcomes[i % 4], day=f"2026-11-{i + 1:02d}").decision.to_json_dict()
        ledger.append(entry_from_decision(d, decision_digest=digest(d)))


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    led = Ledger(tmp_path / "mcp" / "ledger.jsonl")
    _fill(led)
    return led


def _lines(ledger: Ledger) -> list[bytes]:
    return ledger.path.read_bytes().split(b"\n")[:-1]


def _write(ledger: Ledger, lines: list[bytes]) -> None:
    ledger.path.write_bytes(b"".join(line + b"\n" for line in lines))


def test_clean_ledger_verifies(ledger: Ledger) -> None:
    report = ledger.verify()
    assert report.ok, report.render_text()
    assert report.entries == 6
    assert [e["seq"] for e in ledger.entries()] == [1, 2, 3, 4, 5, 6]
    assert ledger.entries()[1]["prev"] != ledger.entries()[0]["prev"]


def test_every_edited_byte_is_detected_and_named(ledger: Ledger) -> None:
    original = ledger.path.read_bytes()
    starts = [0]
    for i, b in enumerate(original):
        if b == 0x0A:
            starts.append(i + 1)
    for pos in range(0, len(original), 7):
        if original[pos] == 0x0A:
            continue
        line_no = next(n for n, s in enumerate(starts, start=1) if s > pos) - 1
        data = bytearray(original)
        data[pos] = ord("#") if data[pos] != ord("#") else ord("$")
        ledger.path.write_bytes(bytes(data))
        report = ledger.verify()
        assert not report.ok, f"byte {pos} edit not detected"
        assert report.first_bad is not None and report.first_bad.line == line_no, (
            pos,
            report.render_text(),
        )
    ledger.path.write_bytes(original)
    assert ledger.verify().ok


@pytest.mark.parametrize("index", range(6))
def test_deleting_any_entry_is_detected(ledger: Ledger, index: int) -> None:
    lines = _lines(ledger)
    del lines[index]
    _write(ledger, lines)
    report = ledger.verify()
    assert not report.ok
    bad = report.first_bad
    assert bad is not None and bad.kind == "deleted" and bad.seq in (index + 1, 6)
    assert f"seq {index + 1}" in bad.message


def test_inserted_copy_and_forged_entry_are_detected(ledger: Ledger) -> None:
    lines = _lines(ledger)
    _write(ledger, [*lines[:3], lines[1], *lines[3:]])
    report = ledger.verify()
    assert not report.ok and report.first_bad is not None
    assert report.first_bad.kind == "inserted" and report.first_bad.line == 4


def test_reordered_entries_are_detected(ledger: Ledger) -> None:
    lines = _lines(ledger)
    lines[2], lines[3] = lines[3], lines[2]
    _write(ledger, lines)
    report = ledger.verify()
    assert not report.ok
    assert {i.kind for i in report.issues} & {"reordered", "deleted"}
    assert any(i.line in (3, 4) for i in report.issues)


def test_rewritten_tail_is_caught_by_the_head(tmp_path: Path) -> None:
    led = Ledger(tmp_path / "ledger.jsonl")
    _fill(led, 3)
    head = led.head_path.read_bytes()
    _fill(led, 1)  # a fourth entry, then roll the head back: as if appended behind our back
    led.head_path.write_bytes(head)
    report = led.verify()
    assert not report.ok and report.first_bad is not None
    assert report.first_bad.line == 4


def _keypair(tmp_path: Path) -> Path:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    key = tmp_path / "keys" / "ledger.pem"
    key.parent.mkdir()
    key.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
        )
    )
    return key


def test_signed_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = _keypair(tmp_path)
    repo = tmp_path / "repo"
    monkeypatch.setenv("KFM_LEDGER_KEY_FILE", str(key))
    led = Ledger(repo / "mcp" / "ledger.jsonl", repo_root=repo)
    _fill(led, 3)
    report = led.verify(require_signatures=True)
    assert report.ok and report.signatures_checked == 3, report.render_text()
    # a signature from another key is refused
    other = _keypair(tmp_path / "other") if (tmp_path / "other").mkdir() is None else key
    monkeypatch.setenv("KFM_LEDGER_KEY_FILE", str(other))
    report = Ledger(led.path, repo_root=repo).verify()
    assert not report.ok and {i.kind for i in report.issues} == {"signature"}


def test_key_inside_the_repository_is_refused(tmp_path: Path) -> None:
    key = _keypair(tmp_path)
    led = Ledger(tmp_path / "mcp" / "ledger.jsonl", key_file=key, repo_root=tmp_path)
    with pytest.raises(ConfigError, match="outside"):
        _fill(led, 1)
