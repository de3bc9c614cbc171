"""The publisher: only a recorded allow of the current request; idempotent; withdrawals."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from rdflib import URIRef
from rdflib.namespace import PROV

from kfm_gate.catalog.graph import RdfGraphSink
from kfm_gate.catalog.stac import validate_stac
from kfm_gate.errors import PublicationRefusedError, RecordError
from kfm_gate.layout import Layout
from kfm_gate.provenance import Ledger
from kfm_gate.provenance.prov import stac_item_iri
from kfm_gate.publication import Publisher
from kfm_gate.runs import RunStore
from kfm_gate.samples import sample_draft
from tests.helpers import record_and_publish, record_draft

ITEM = "data/stac/historic_sites/historic_sites-ks-county-20045-2026-11-01"


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted((root / "data").rglob("*"))
        if p.is_file()
    }


def _kinds(root: Path) -> list[str]:
    return [e.get("kind", "decision") for e in Ledger(root / "mcp" / "ledger.jsonl").entries()]


def test_only_a_recorded_allow_of_the_current_request_is_published(tmp_path: Path) -> None:
    publisher = Publisher(Layout(tmp_path))
    allow = sample_draft("allow")
    assert allow.request is not None
    rid = allow.decision.run_id
    with pytest.raises(PublicationRefusedError, match="gate the partition first"):
        publisher.publish(allow.request, rid)
    record_draft(sample_draft("error"), tmp_path)  # an error is never a decision to publish
    with pytest.raises(PublicationRefusedError, match="gate the partition first"):
        publisher.publish(allow.request, rid)
    record_draft(sample_draft("deny"), tmp_path)
    with pytest.raises(PublicationRefusedError, match="outcome deny"):
        publisher.publish(allow.request, rid)
    record_draft(allow, tmp_path)
    other = type(allow.request).model_validate(
        {**allow.request.to_json_dict(), "params": {"changed": True}}
    )
    with pytest.raises(PublicationRefusedError, match="not on the current"):
        publisher.publish(other, rid)
    assert not (tmp_path / "data").exists()
    assert publisher.publish(allow.request, rid).published


def test_a_public_view_changed_after_the_decision_is_refused(tmp_path: Path) -> None:
    allow = sample_draft("allow")
    assert allow.request is not None
    run = record_draft(allow, tmp_path).run
    (run.folder / "public" / "sites.geojson").write_bytes(b'{"features":[]}\n')
    with pytest.raises(RecordError, match="does not match its checksum"):
        Publisher(Layout(tmp_path)).publish(allow.request, allow.decision.run_id)
    assert not (tmp_path / "data").exists()


def test_publishing_again_changes_nothing_and_appends_nothing(tmp_path: Path) -> None:
    first = record_and_publish(sample_draft("allow"), tmp_path)
    assert first.state.version == 1 and first.changed
    before = _files(tmp_path)
    ledger = (tmp_path / "mcp" / "ledger.jsonl").read_bytes()
    again = record_and_publish(sample_draft("allow"), tmp_path)
    assert again.changed == [] and again.ledger is None and again.state.version == 1
    assert _files(tmp_path) == before
    assert (tmp_path / "mcp" / "ledger.jsonl").read_bytes() == ledger
    assert _kinds(tmp_path) == ["decision", "publish"]


def test_a_publication_is_recorded(tmp_path: Path) -> None:
    done = record_and_publish(sample_draft("allow"), tmp_path)
    state = json.loads(
        (
            tmp_path
            / Layout(tmp_path).rel(
                Layout(tmp_path).release_path(sample_draft("allow").request)  # type: ignore[arg-type]
            )
        ).read_text()
    )
    assert state["status"] == "published" and state["decision_id"] == done.state.decision_id
    [publish] = [e for e in Ledger(tmp_path / "mcp" / "ledger.jsonl").entries() if e.get("kind")]
    assert publish["kind"] == "publish" and publish["decision_id"] == done.state.decision_id
    assert publish["state_digest"] == done.state.digest
    g = RdfGraphSink(tmp_path).graph()
    item = URIRef(stac_item_iri("historic_sites", "historic_sites-ks-county-20045-2026-11-01", 1))
    [activity] = g.objects(item, PROV.wasGeneratedBy)
    assert "/activity/publish/" in str(activity)
    assert any("/decision/" in str(o) for o in g.objects(activity, PROV.used))


def test_withdrawal_takes_back_everything_public(tmp_path: Path) -> None:
    allow = sample_draft("allow")
    assert allow.request is not None
    published = record_and_publish(allow, tmp_path)
    public = [tmp_path / f["path"] for f in published.state.public_files]
    assert all(p.is_file() for p in public)
    publisher = Publisher(Layout(tmp_path))
    done = publisher.withdraw(
        allow.request, reason="the council withdrew it", day=dt.date(2026, 11, 20)
    )
    assert not done.published and done.state.version == 2
    assert not any(p.exists() for p in public)
    assert not (public[0].parent).exists()  # the empty public folder goes too
    item = json.loads((tmp_path / ITEM / "item.json").read_text())
    assert item["properties"]["deprecated"] is True
    assert item["properties"]["kfm:release_state"] == "WITHDRAWN"
    assert item["properties"]["kfm:withdrawal"]["reason"] == "the council withdrew it"
    assert validate_stac(item) == []
    coll = json.loads((tmp_path / "data/stac/historic_sites/collection.json").read_text())
    assert not [lk for lk in coll["links"] if lk["rel"] == "item"]
    assert validate_stac(coll) == []
    dcat = (tmp_path / "data/stac/historic_sites/dcat.ttl").read_text()
    assert "distribution/historic_sites-ks-county-20045-2026-11-01" not in dcat
    g = RdfGraphSink(tmp_path).graph()
    item_iri = URIRef(stac_item_iri("historic_sites", item["id"], 1))
    [withdrawal] = g.objects(item_iri, PROV.wasInvalidatedBy)
    assert "/activity/withdraw/" in str(withdrawal)
    assert _kinds(tmp_path) == ["decision", "publish", "withdraw"]
    assert Ledger(tmp_path / "mcp" / "ledger.jsonl").verify().ok
    with pytest.raises(PublicationRefusedError, match="not published"):
        publisher.withdraw(allow.request, reason="again", day=dt.date(2026, 11, 21))
    # the recorded allow can be published again: the item is restored
    again = publisher.publish(allow.request, allow.decision.run_id)
    assert again.published and again.state.version == 3
    assert all(p.is_file() for p in public)
    item = json.loads((tmp_path / ITEM / "item.json").read_text())
    assert item["properties"]["deprecated"] is False


def test_a_later_denial_withdraws_the_publication(tmp_path: Path) -> None:
    allow = sample_draft("allow")
    assert allow.request is not None
    record_and_publish(allow, tmp_path)
    deny = sample_draft("deny")
    record_draft(deny, tmp_path)
    publisher = Publisher(Layout(tmp_path))
    done = publisher.settle(deny.request, deny.decision)
    assert done is not None and done.action == "withdraw"
    assert done.state.by == deny.decision.decision_id
    assert "deny" in (done.state.reason or "")
    # an error changes nothing, and nothing is withdrawn twice
    assert publisher.settle(deny.request, sample_draft("error").decision) is None
    assert publisher.settle(deny.request, deny.decision) is None


def test_a_new_decision_supersedes_the_published_one(tmp_path: Path) -> None:
    v1 = record_and_publish(sample_draft("allow"), tmp_path)
    v2 = record_and_publish(sample_draft("allow", source_sha="sha256:" + "f" * 64), tmp_path)
    assert v2.state.item_version == 2 and v2.state.version == 2
    old = {f["path"] for f in v1.state.public_files}
    new = {f["path"] for f in v2.state.public_files}
    assert old.isdisjoint(new)
    assert not any((tmp_path / p).exists() for p in old)  # the superseded view is gone
    assert all((tmp_path / p).is_file() for p in new)
    assert _kinds(tmp_path) == ["decision", "publish", "decision", "publish"]


def test_withdraw_command_by_partition_and_by_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from kfm_gate.cli import main

    record_and_publish(sample_draft("allow"), tmp_path)
    record_and_publish(sample_draft("allow", aoi="ks-county-20177"), tmp_path)
    code = main(
        [
            "--root",
            str(tmp_path),
            "withdraw",
            "ks-county-20045|2026-11-01",
            "--reason",
            "asked by the steward",
            "--as-of",
            "2026-11-20",
        ]
    )
    assert code == 0 and "WITHDRAWN" in capsys.readouterr().out
    other = sample_draft("allow", aoi="ks-county-20177")
    code = main(
        [
            "--root",
            str(tmp_path),
            "withdraw",
            other.decision.run_id,
            "--reason",
            "x",
            "--format",
            "json",
        ]
    )
    assert code == 0
    assert json.loads(capsys.readouterr().out)["state"]["status"] == "withdrawn"
    again = ["--root", str(tmp_path), "withdraw", "ks-county-20177|2026-11-01", "--reason"]
    assert main([*again, "x"]) == 0  # the same withdrawal again: done, nothing changes
    assert main([*again, "another reason"]) == 2
    assert "not published" in capsys.readouterr().err
    assert (
        main(["--root", str(tmp_path), "withdraw", "ks-county-20001|2026-11-01", "--reason", "x"])
        == 2
    )


def test_the_store_and_publisher_share_one_lock(tmp_path: Path) -> None:
    publisher = Publisher(Layout(tmp_path))
    assert publisher.store.lock is publisher.backend.lock
    assert isinstance(publisher.store, RunStore)


def test_a_denial_of_another_asset_withdraws_nothing(tmp_path: Path) -> None:
    record_and_publish(sample_draft("allow"), tmp_path)
    deny = sample_draft("deny")
    assert deny.request is not None
    other = type(deny.request).model_validate(
        {**deny.request.to_json_dict(), "asset_key": "kfm/historic_sites/other"}
    )
    assert Publisher(Layout(tmp_path)).settle(other, deny.decision) is None
    state = Publisher(Layout(tmp_path)).state(other)
    assert state is not None and state.published
