"""Signed ledger checkpoints, inclusion and consistency proofs (RFC 6962 / RFC 9162 2.1)."""

from __future__ import annotations

import base64
import io
import json
import random
from pathlib import Path
from typing import Any

import pytest

from kfm_gate.cli import main
from kfm_gate.errors import ConfigError, InputError, LedgerError
from kfm_gate.ids import digest
from kfm_gate.provenance.checkpoint import (
    EMPTY_ROOT,
    Checkpoint,
    MerkleTree,
    check_checkpoint,
    entry_hashes,
    leaf_hash,
    load_signing_key,
    load_verify_key,
    prove_consistency,
    prove_inclusion,
    take_checkpoint,
    verify_consistency,
    verify_inclusion,
)
from kfm_gate.provenance.ledger import Ledger, entry_from_decision, load_signer
from kfm_gate.samples import sample_record

# -- RFC 6962 reference vectors (certificate-transparency merkle_tree_test; RFC 9162 2.1) --
LEAVES = [
    bytes.fromhex(h)
    for h in (
        *("", "00", "10", "2021", "3031", "40414243", "5051525354555657"),
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
H1 = "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"
H2 = "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"
H3 = "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"
H4 = "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"
H5 = "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"
H6 = "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"
INCLUSION = [  # (leaf index, tree size, path)
    (0, 1, []),
    (0, 8, [H1, H2, H3]),
    (5, 8, [H4, H5, ROOTS[4]]),
    (2, 3, [ROOTS[2]]),
    (1, 5, [ROOTS[1], H2, H4]),
]
CONSISTENCY = [  # (old size, size, proof)
    (1, 1, []),
    (1, 8, [H1, H2, H3]),
    (6, 8, [H6, H5, ROOTS[4]]),
    (2, 5, [H2, H4]),
]


def _hx(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


def test_roots_match_the_rfc6962_vectors() -> None:
    tree = MerkleTree.from_data(LEAVES)
    assert [tree.root(n).hex() for n in range(9)] == ROOTS
    assert EMPTY_ROOT.hex() == ROOTS[0]
    for n in range(9):  # a tree built over the prefix alone gives the same root
        assert MerkleTree.from_data(LEAVES[:n]).root().hex() == ROOTS[n]


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_inclusion_proofs_match_the_vectors_and_verify(
    index: int, size: int, path: list[str]
) -> None:
    tree = MerkleTree.from_data(LEAVES)
    assert [p.hex() for p in tree.inclusion_proof(index, size)] == path
    root = bytes.fromhex(ROOTS[size])
    assert verify_inclusion(leaf_hash(LEAVES[index]), index, size, _hx(path), root)


@pytest.mark.parametrize(("old", "size", "proof"), CONSISTENCY)
def test_consistency_proofs_match_the_vectors_and_verify(
    old: int, size: int, proof: list[str]
) -> None:
    tree = MerkleTree.from_data(LEAVES)
    assert [p.hex() for p in tree.consistency_proof(old, size)] == proof
    old_root, root = bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[size])
    assert verify_consistency(old, size, old_root, root, _hx(proof))


def _flip(value: bytes, at: int) -> bytes:
    data = bytearray(value)
    data[at % len(data)] ^= 0x01
    return bytes(data)


def test_every_proof_of_trees_up_to_33_leaves_verifies_and_no_tampered_one_does() -> None:
    leaves = [f"leaf-{i}".encode() for i in range(33)]
    tree = MerkleTree.from_data(leaves)
    for n in range(1, 34):
        root = tree.root(n)
        for i in range(n):
            path = tree.inclusion_proof(i, n)
            leaf = tree.leaf(i)
            assert verify_inclusion(leaf, i, n, path, root), (i, n)
            for j in range(len(path)):  # one flipped bit anywhere in the path
                bad = [*path[:j], _flip(path[j], j), *path[j + 1 :]]
                assert not verify_inclusion(leaf, i, n, bad, root)
            # (the size is bound to the root by the signed checkpoint, not by the path: the
            # path of leaf 0 of 3 leaves has the shape of leaf 0 of 4)
            assert not verify_inclusion(_flip(leaf, i), i, n, path, root)
            if path:
                assert not verify_inclusion(leaf, i, n, path[:-1], root)  # truncated
                assert not verify_inclusion(leaf, i, n, [*path, path[0]], root)  # extended
            if n > 1:
                assert not verify_inclusion(leaf, (i + 1) % n, n, path, root)  # wrong index
        for m in range(0, n + 1):
            proof = tree.consistency_proof(m, n)
            assert verify_consistency(m, n, tree.root(m), root, proof), (m, n)
            for j in range(len(proof)):
                bad = [*proof[:j], _flip(proof[j], j), *proof[j + 1 :]]
                assert not verify_consistency(m, n, tree.root(m), root, bad)
            if 0 < m < n:
                assert not verify_consistency(m, n, _flip(tree.root(m), 0), root, proof)
                assert not verify_consistency(m, n, tree.root(m), _flip(root, 0), proof)
                assert not verify_consistency(m, n, tree.root(m), root, proof[:-1])
                # a tree whose first m leaves differ has no proof from this one
                other = MerkleTree.from_data([b"x", *leaves[1:n]])
                assert not verify_consistency(m, n, tree.root(m), other.root(), proof)
                assert not verify_consistency(m, n, other.root(m), root, proof)


def test_proofs_refuse_indexes_and_sizes_outside_the_tree() -> None:
    tree = MerkleTree.from_data(LEAVES[:3])
    with pytest.raises(InputError, match="outside"):
        tree.inclusion_proof(3)
    with pytest.raises(InputError, match="outside"):
        tree.root(4)
    with pytest.raises(InputError, match="outside"):
        tree.consistency_proof(4)
    assert not verify_inclusion(tree.leaf(0), 3, 3, [], tree.root())
    assert not verify_consistency(4, 3, tree.root(), tree.root(), [])
    assert verify_consistency(0, 3, EMPTY_ROOT, tree.root(), [])
    assert not verify_consistency(0, 3, tree.root(), tree.root(), [])


# -- the ledger -------------------------------------------------------------------------


def _entries(n: int, *, start: int = 0) -> list[dict[str, Any]]:
    outcomes = ["allow", "deny", "quarantine", "error"]
    out = []
    for i in range(start, start + n):
        d = sample_record(
            outcomes[i % 4], day=f"2026-11-{i % 28 + 1:02d}", aoi="ks-county-20045"
        ).decision.to_json_dict()
        d = {**d, "decision_id": f"{d['decision_id']}-{i}"}
        out.append(entry_from_decision(d, decision_digest=digest(d)))
    return out


def _ledger_of(path: Path, entries: list[dict[str, Any]]) -> Ledger:
    """A fresh ledger at ``path`` holding ``entries`` (a valid chain and head)."""
    for p in (path, path.with_name(path.stem + ".head.json")):
        p.unlink(missing_ok=True)
    led = Ledger(path)
    for e in entries:
        led.append(e)
    return led


@pytest.fixture
def key_env(monkeypatch: pytest.MonkeyPatch) -> str:
    """A signing key in $KFM_CHECKPOINT_KEY (base64 of the raw 32 bytes), as from a secret."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    raw = Ed25519PrivateKey.generate().private_bytes(
        Encoding.Raw, PrivateFormat.Raw, NoEncryption()
    )
    for var in ("KFM_CHECKPOINT_KEY_FILE", "KFM_LEDGER_KEY_FILE", "KFM_CHECKPOINT_PUBKEY_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("KFM_LEDGER_PUBKEY_FILE", raising=False)
    value = base64.b64encode(raw).decode()
    monkeypatch.setenv("KFM_CHECKPOINT_KEY", value)
    return value


def _pem_key(folder: Path, name: str = "checkpoint.key") -> Path:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    key = Ed25519PrivateKey.generate()
    path.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    return path


def _pub_of(key_file: Path) -> Path:
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        PublicFormat,
        load_pem_private_key,
    )

    private = load_pem_private_key(key_file.read_bytes(), password=None)
    pub = key_file.with_suffix(".pub")
    pub.write_bytes(
        private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    return pub


def test_leaves_are_the_stored_entry_hashes(tmp_path: Path) -> None:
    led = _ledger_of(tmp_path / "ledger.jsonl", _entries(5))
    stored = [
        json.loads(line)["hash"] for line in led.path.read_text().splitlines() if line.strip()
    ]
    assert ["sha256:" + h.hex() for h in entry_hashes(led)] == stored


def test_a_checkpoint_verifies_while_the_ledger_only_grows(tmp_path: Path, key_env: str) -> None:
    entries = _entries(9)
    led = _ledger_of(tmp_path / "ledger.jsonl", entries[:6])
    key = load_signing_key()
    cp = take_checkpoint(led, key, now="2026-11-03T00:00:00Z")
    assert cp.size == 6 and cp.key_id == key.key_id and cp.time == "2026-11-03T00:00:00Z"
    assert cp.head_hash == "sha256:" + entry_hashes(led)[-1].hex()
    assert key_env not in cp.to_bytes().decode()  # the key is never written
    same = check_checkpoint(led, cp, load_verify_key())
    assert same.ok and same.proof == (), same.render_text()
    for e in entries[6:]:
        led.append(e)
    report = check_checkpoint(led, Checkpoint.read(_write_cp(tmp_path, cp)), load_verify_key())
    assert report.ok, report.render_text()
    assert report.size == 9 and len(report.proof) > 0
    proof = prove_consistency(led, cp)
    assert proof.verify() and list(proof.path) == list(report.proof)
    assert proof.to_dict()["old_root"] == cp.root_hash


def _checkpointed(tmp_path: Path, entries: list[dict[str, Any]]) -> tuple[Ledger, Checkpoint]:
    """A ledger of ``entries`` and a checkpoint of it, signed with the key of the env."""
    led = _ledger_of(tmp_path / "ledger.jsonl", entries)
    return led, take_checkpoint(led, load_signing_key())


def _write_cp(folder: Path, cp: Checkpoint) -> Path:
    path = folder / "kept" / "checkpoint.json"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(cp.to_bytes())
    return path


def test_a_truncation_that_the_chain_does_not_see_is_detected(tmp_path: Path, key_env: str) -> None:
    entries = _entries(6)
    led, cp = _checkpointed(tmp_path, entries)
    led = _ledger_of(led.path, entries[:4])  # cut two entries, head rewritten to match
    assert led.verify().ok  # the chain alone cannot tell
    report = check_checkpoint(led, cp, load_verify_key())
    assert not report.ok
    assert [i.kind for i in report.issues] == ["truncated"]
    assert "entries 5..6 were removed" in report.render_text()
    with pytest.raises(LedgerError, match="truncated"):
        prove_consistency(led, cp)


def test_a_rewritten_entry_with_a_rebuilt_chain_is_detected(tmp_path: Path, key_env: str) -> None:
    entries = _entries(6)
    led, cp = _checkpointed(tmp_path, entries)
    forged = [dict(e) for e in entries]
    forged[2]["outcome"] = "allow" if forged[2]["outcome"] != "allow" else "deny"
    led = _ledger_of(led.path, [*forged, *_entries(2, start=6)])  # rewritten, then grown
    assert led.verify().ok
    report = check_checkpoint(led, cp, load_verify_key())
    assert {i.kind for i in report.issues} == {"head", "rewritten"}
    assert "at or before seq 6" in report.render_text()
    with pytest.raises(LedgerError, match="does not extend"):
        prove_consistency(led, cp)


def test_a_rewritten_head_is_detected(tmp_path: Path, key_env: str) -> None:
    entries = _entries(5)
    led, cp = _checkpointed(tmp_path, entries)
    last = dict(entries[-1], outcome="allow" if entries[-1]["outcome"] != "allow" else "deny")
    led = _ledger_of(led.path, [*entries[:-1], last])
    assert led.verify().ok
    report = check_checkpoint(led, cp, load_verify_key())
    assert [i.kind for i in report.issues] == ["head", "rewritten"]
    assert "entry seq 5, the head at the checkpoint" in report.render_text()


def test_a_forged_checkpoint_and_a_wrong_key_are_refused(
    tmp_path: Path, key_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    entries = _entries(6)
    led, cp = _checkpointed(tmp_path, entries)
    # an attacker truncates to 4 and edits the kept checkpoint to match, keeping its signature
    short = _ledger_of(tmp_path / "short.jsonl", entries[:4])
    tree = MerkleTree.from_data(entry_hashes(short))
    forged = Checkpoint(
        4,
        "sha256:" + tree.root().hex(),
        "sha256:" + tree.leaf(3).hex(),
        cp.time,
        cp.key_id,
        cp.signature,
    )
    report = check_checkpoint(short, forged, load_verify_key())
    assert [i.kind for i in report.issues] == ["signature"]
    # ... or signs it with a key of their own that claims our key id
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from kfm_gate.provenance.checkpoint import CheckpointKey

    theirs = Ed25519PrivateKey.generate()
    mallory = CheckpointKey(theirs.public_key(), theirs, "mallory")
    sig = mallory.sign(forged.signed_bytes()).replace(mallory.key_id, cp.key_id)
    report = check_checkpoint(
        short, Checkpoint(**{**forged.__dict__, "signature": sig}), load_verify_key()
    )
    assert [i.kind for i in report.issues] == ["signature"]
    # a checkpoint checked with another key names both keys
    other = _pem_key(tmp_path / "other")
    wrong = load_verify_key(_pub_of(other))
    report = check_checkpoint(led, cp, wrong)
    assert [i.kind for i in report.issues] == ["key"]
    assert cp.key_id in str(report.issues[0]) and wrong.key_id in str(report.issues[0])


def test_keys_come_from_settings_outside_the_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in (
        "KFM_CHECKPOINT_KEY",
        "KFM_CHECKPOINT_KEY_FILE",
        "KFM_LEDGER_KEY_FILE",
        "KFM_CHECKPOINT_PUBKEY_FILE",
        "KFM_LEDGER_PUBKEY_FILE",
    ):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ConfigError, match="no checkpoint signing key"):
        load_signing_key()
    with pytest.raises(ConfigError, match="no public key"):
        load_verify_key()
    repo = tmp_path / "repo"
    inside = _pem_key(repo / "keys")
    with pytest.raises(ConfigError, match="inside the repository"):
        load_signing_key(inside, repo_root=repo)
    outside = _pem_key(tmp_path / "secrets")
    monkeypatch.setenv("KFM_LEDGER_KEY_FILE", str(outside))  # the ledger's own key signs too
    key = load_signing_key(repo_root=repo)
    signer = load_signer(repo_root=repo)
    assert signer is not None and key.key_id == signer.key_id  # one id per key, everywhere
    assert load_verify_key(repo_root=repo).private is None
    bad = tmp_path / "bad.key"
    bad.write_bytes(b"not a key")
    with pytest.raises(ConfigError, match="not a usable ed25519"):
        load_signing_key(bad)
    monkeypatch.setenv("KFM_CHECKPOINT_KEY", "!!")
    with pytest.raises(ConfigError, match=r"\$KFM_CHECKPOINT_KEY"):
        load_signing_key()


def test_a_broken_ledger_gets_no_checkpoint_or_proof(tmp_path: Path, key_env: str) -> None:
    led = _ledger_of(tmp_path / "ledger.jsonl", _entries(4))
    lines = led.path.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b'"seq":2', b'"seq":7')
    led.path.write_bytes(b"\n".join(lines))
    with pytest.raises(LedgerError, match="does not verify"):
        take_checkpoint(led, load_signing_key())
    with pytest.raises(LedgerError, match="does not verify"):
        prove_inclusion(led, 1)


def test_inclusion_proof_of_every_entry(tmp_path: Path) -> None:
    led = _ledger_of(tmp_path / "ledger.jsonl", _entries(7))
    hashes = entry_hashes(led)
    for seq in range(1, 8):
        proof = prove_inclusion(led, seq)
        assert proof.verify() and proof.entry_hash == "sha256:" + hashes[seq - 1].hex()
    with pytest.raises(InputError, match="seq 8 is not in the ledger"):
        prove_inclusion(led, 8)
    bad = prove_inclusion(led, 3)
    assert not type(bad)(**{**bad.__dict__, "seq": 4}).verify()


def test_checkpoint_documents_are_validated(tmp_path: Path) -> None:
    for doc, match in [
        ([], "not a ledger checkpoint"),
        ({"kind": "x"}, "not a ledger checkpoint"),
        ({"kind": "kfm-gate/ledger-checkpoint/v1", "size": -1}, "size"),
        ({"kind": "kfm-gate/ledger-checkpoint/v1", "size": 1, "root_hash": "x"}, "root_hash"),
    ]:
        with pytest.raises(InputError, match=match):
            Checkpoint.from_json_dict(doc)
    path = tmp_path / "cp.json"
    path.write_text("{")
    with pytest.raises(InputError, match="not JSON"):
        Checkpoint.read(path)


# -- the CLI ------------------------------------------------------------------------------


def _cli(root: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    import contextlib

    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--root", str(root), "ledger", *args])
    return code, out.getvalue(), err.getvalue()


def test_cli_checkpoint_verify_and_prove(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("KFM_CHECKPOINT_KEY", "KFM_LEDGER_KEY_FILE", "KFM_LEDGER_PUBKEY_FILE"):
        monkeypatch.delenv(var, raising=False)
    root = tmp_path / "repo"
    entries = _entries(7)
    _ledger_of(root / "mcp" / "ledger.jsonl", entries[:5])
    key = _pem_key(tmp_path / "secrets")
    pub = _pub_of(key)
    kept = tmp_path / "kept.json"
    code, out, err = _cli(root, "checkpoint", "--key", str(key), "--out", str(kept))
    assert code == 0, err
    assert "checkpoint of 5 entries" in out
    assert json.loads(kept.read_text())["size"] == 5
    code, out, _ = _cli(root, "checkpoint", "--key", str(key))
    assert code == 0 and json.loads(out)["size"] == 5
    # nothing else configured: the chain alone, as before
    code, out, _ = _cli(root, "verify")
    assert code == 0 and "OK, 5 entries" in out and "extends" not in out
    led = Ledger(root / "mcp" / "ledger.jsonl")
    for e in entries[5:]:
        led.append(e)
    code, out, err = _cli(root, "verify", "--checkpoint", str(kept), "--pubkey", str(pub))
    assert code == 0, out + err
    assert "OK, 7 entries" in out and "extends it" in out
    code, out, _ = _cli(
        root, "verify", "--checkpoint", str(kept), "--pubkey", str(pub), "--format", "json"
    )
    doc = json.loads(out)
    assert doc["ok"] and doc["size"] == 7 and doc["chain"]["entries"] == 7
    code, out, _ = _cli(root, "prove", "--entry", "3")
    proof = json.loads(out)
    assert code == 0 and proof["leaf_index"] == 2 and proof["tree_size"] == 7
    leaf = bytes.fromhex(proof["leaf_hash"][7:])
    path = [bytes.fromhex(p[7:]) for p in proof["path"]]
    assert verify_inclusion(leaf, 2, 7, path, bytes.fromhex(proof["root_hash"][7:]))
    code, out, _ = _cli(root, "prove", "--from-checkpoint", str(kept))
    cons = json.loads(out)
    assert code == 0 and (cons["old_size"], cons["tree_size"]) == (5, 7)
    # truncated behind our back, head rewritten: the chain verifies, the checkpoint does not
    _ledger_of(root / "mcp" / "ledger.jsonl", entries[:3])
    code, out, _ = _cli(root, "verify")
    assert code == 0
    code, out, _ = _cli(root, "verify", "--checkpoint", str(kept), "--pubkey", str(pub))
    assert code == 1 and "truncated" in out and "FAILED" in out
    code, _, err = _cli(root, "prove", "--from-checkpoint", str(kept))
    assert code == 1 and "truncated" in err
    # the command cannot run: exit 2 with the reason
    code, _, err = _cli(root, "verify", "--checkpoint", str(kept))
    assert code == 2 and "no public key" in err
    code, _, err = _cli(root, "checkpoint")
    assert code == 2 and "no checkpoint signing key" in err
    code, _, err = _cli(root, "verify", "--checkpoint", str(tmp_path / "missing.json"))
    assert code == 2 and "cannot read checkpoint" in err


def test_random_truncations_and_rewrites_never_pass(tmp_path: Path, key_env: str) -> None:
    rng = random.Random(16)
    entries = _entries(12)
    for _ in range(6):
        n = rng.randint(2, 10)
        led = _ledger_of(tmp_path / "ledger.jsonl", entries[:n])
        cp = take_checkpoint(led, load_signing_key())
        cut = rng.randint(0, n - 1)
        forged = [dict(e) for e in entries[:n]]
        forged[rng.randrange(n)]["run_id"] = "run:kfm-gate:forged"
        for tampered in (entries[:cut], forged, [*forged, *entries[n:12]]):
            led = _ledger_of(led.path, tampered)
            assert led.verify().ok
            assert not check_checkpoint(led, cp, load_verify_key()).ok
