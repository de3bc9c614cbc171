"""Signed checkpoints of the ledger, with inclusion and consistency proofs (RFC 6962 style).

The hash chain of :mod:`kfm_gate.provenance.ledger` shows an edit *inside* the file, but whoever
controls the file can truncate it, or rewrite its last entries and its head, and the chain
still verifies. A **checkpoint** closes that gap for anyone who kept an earlier one: it is the
size of the ledger and the root of a Merkle tree over its entry hashes, with the hash of the
last entry and the time, signed with ed25519. Later, :func:`check_checkpoint` proves that the
current ledger *extends* the checkpointed one (the first ``size`` entries still give the same
root and the same last hash), so a truncation, a rewritten entry or a rewritten head shows.

The tree is RFC 6962's Merkle Tree Hash (section 2.1), with the hashing of RFC 9162:
``leaf = SHA-256(0x00 || data)``, ``node = SHA-256(0x01 || left || right)``, the empty tree
``SHA-256("")``; a tree of ``n > 1`` leaves splits at the largest power of two below ``n``. The
leaf data of entry ``seq`` is the 32-byte SHA-256 of its canonical body (the entry's ``hash``).
Inclusion proofs (``PATH``) and consistency proofs (``PROOF``) are built as in RFC 6962 section
2.1.1-2.1.2 and verified with the iterative algorithms of RFC 9162 section 2.1.3.2 and 2.1.4.2,
so the builder and the verifier are independent code.

Keys: the signing key comes from ``--key FILE``, ``$KFM_CHECKPOINT_KEY_FILE``, the key itself
in ``$KFM_CHECKPOINT_KEY`` (PEM, or base64 of the 32 raw bytes: a deployment's secret), or the
ledger's own ``$KFM_LEDGER_KEY_FILE``, in that order; a key file inside the repository is
refused and the key is never written anywhere. Verifying needs only the public key
(``--pubkey FILE``, ``$KFM_CHECKPOINT_PUBKEY_FILE``, ``$KFM_LEDGER_PUBKEY_FILE``, or the
public half of a signing key found as above). The checkpoint names the key id (the first 16 hex
of the SHA-256 of the raw public key, as the ledger's signatures do).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from kfm_gate.errors import ConfigError, InputError, LedgerError
from kfm_gate.ids import canonical_json, sha256_bytes
from kfm_gate.provenance.ledger import GENESIS, load_signer

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

KIND = "kfm-gate/ledger-checkpoint/v1"
KEY_FILE_ENV = "KFM_CHECKPOINT_KEY_FILE"
KEY_ENV = "KFM_CHECKPOINT_KEY"
PUBKEY_FILE_ENV = "KFM_CHECKPOINT_PUBKEY_FILE"
LEDGER_KEY_FILE_ENV = "KFM_LEDGER_KEY_FILE"
LEDGER_PUBKEY_FILE_ENV = "KFM_LEDGER_PUBKEY_FILE"
_LEAF, _NODE = b"\x00", b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()


# -- the tree -------------------------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || data)."""
    return hashlib.sha256(_LEAF + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(_NODE + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """An RFC 6962 Merkle tree over leaf hashes; roots and proofs for any prefix size.

    Hashes of complete (power-of-two, aligned) subtrees are remembered, so the root of every
    prefix and every proof costs O(log n) hashes once the full root was computed.
    """

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        self._leaves = list(leaf_hashes)
        self._complete: dict[tuple[int, int], bytes] = {}

    @classmethod
    def from_data(cls, leaves: Iterable[bytes]) -> MerkleTree:
        """A tree over raw leaf data (each leaf hashed with the 0x00 prefix)."""
        return cls([leaf_hash(d) for d in leaves])

    @property
    def size(self) -> int:
        return len(self._leaves)

    def leaf(self, index: int) -> bytes:
        return self._leaves[index]

    def _mth(self, start: int, end: int) -> bytes:
        """MTH of the leaves ``[start, end)`` (end > start)."""
        n = end - start
        if n == 1:
            return self._leaves[start]
        complete = n & (n - 1) == 0
        if complete:
            cached = self._complete.get((start, end))
            if cached is not None:
                return cached
        k = _split(n)
        value = node_hash(self._mth(start, start + k), self._mth(start + k, end))
        if complete:
            self._complete[(start, end)] = value
        return value

    def _size(self, size: int | None) -> int:
        n = self.size if size is None else size
        if not 0 <= n <= self.size:
            raise InputError(f"tree size {n} is outside 0..{self.size}")
        return n

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first ``size`` leaves (all by default); the empty tree hashes ``b""``."""
        n = self._size(size)
        return EMPTY_ROOT if n == 0 else self._mth(0, n)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 6962 ``PATH(index, D[size])``: the audit path of leaf ``index`` (0-based)."""
        n = self._size(size)
        if not 0 <= index < n:
            raise InputError(f"leaf index {index} is outside a tree of {n} leaves")
        path: list[bytes] = []
        start, end, m = 0, n, index
        while end - start > 1:
            k = _split(end - start)
            if m < k:
                path.append(self._mth(start + k, end))
                end = start + k
            else:
                path.append(self._mth(start, start + k))
                start, m = start + k, m - k
        path.reverse()
        return path

    def consistency_proof(self, old_size: int, size: int | None = None) -> list[bytes]:
        """RFC 6962 ``PROOF(old_size, D[size])``: the first ``old_size`` leaves are a prefix."""
        n = self._size(size)
        if not 0 <= old_size <= n:
            raise InputError(f"old size {old_size} is outside 0..{n}")
        if old_size in (0, n):
            return []
        proof: list[bytes] = []
        start, end, m, whole = 0, n, old_size, True
        while m != end - start:
            k = _split(end - start)
            if m <= k:
                proof.append(self._mth(start + k, end))
                end = start + k
            else:
                proof.append(self._mth(start, start + k))
                start, m, whole = start + k, m - k, False
        if not whole:
            proof.append(self._mth(start, end))
        proof.reverse()
        return proof


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 section 2.1.3.2: does ``proof`` put ``leaf`` (a leaf hash) at ``index`` of the
    tree of ``size`` leaves whose root is ``root``?"""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, size: int, old_root: bytes, root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 section 2.1.4.2: is the tree ``(old_size, old_root)`` a prefix of the tree
    ``(size, root)``, as ``proof`` claims?"""
    if not 0 <= old_size <= size:
        return False
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    if old_size == size:
        return not proof and old_root == root
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == old_root and sr == root and sn == 0


# -- the ledger as leaves -------------------------------------------------------------------


class LedgerReader(Protocol):
    """What a checkpoint needs of a ledger: its entry bodies in order, and a verification.
    :class:`kfm_gate.provenance.ledger.Ledger` is one; a database-backed ledger with the same
    canonical entries is another."""

    def entries(self) -> list[dict[str, Any]]: ...

    def verify(self, *, require_signatures: bool = False) -> Any: ...


def _hex(value: bytes) -> str:
    return "sha256:" + value.hex()


def _unhex(value: object, what: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("sha256:") or len(value) != 71:
        raise InputError(f"{what} {value!r} is not a sha256:<64 hex> digest")
    try:
        return bytes.fromhex(value[7:])
    except ValueError as err:
        raise InputError(f"{what} {value!r} is not a sha256:<64 hex> digest") from err


def entry_hashes(ledger: LedgerReader) -> list[bytes]:
    """The 32-byte entry hashes of ``ledger`` in order: SHA-256 of each canonical body,
    i.e. the ``hash`` each line stores (``ledger verify`` checks the two agree)."""
    return [hashlib.sha256(canonical_json(body)).digest() for body in ledger.entries()]


def ledger_tree(ledger: LedgerReader) -> MerkleTree:
    """The Merkle tree of ``ledger``: leaf data = the entry hashes, in sequence order."""
    return MerkleTree.from_data(entry_hashes(ledger))


def verified_tree(ledger: LedgerReader) -> tuple[MerkleTree, list[bytes]]:
    """The tree of a ledger that verifies; :class:`LedgerError` naming the first problem
    otherwise (a checkpoint or a proof of a broken chain would vouch for it)."""
    report = ledger.verify()
    if not report.ok:
        raise LedgerError(
            f"the ledger does not verify ({report.first_bad}); "
            "run `kfm-gate ledger verify` and repair it first"
        )
    hashes = entry_hashes(ledger)
    last = _hex(hashes[-1]) if hashes else None
    if hashes and last != report.last_hash:
        raise LedgerError(
            f"the last entry's canonical hash {last} differs from its stored hash "
            f"{report.last_hash}: the ledger's bodies are not canonical JSON"
        )
    return MerkleTree.from_data(hashes), hashes


# -- keys -------------------------------------------------------------------------------------


def key_id(public: Ed25519PublicKey) -> str:
    """16 hex of the SHA-256 of the raw public key (the ledger's signatures use the same)."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return sha256_bytes(public.public_bytes(Encoding.Raw, PublicFormat.Raw))[7:23]


@dataclass(frozen=True)
class CheckpointKey:
    """An ed25519 key: ``private`` is None for a verify-only key. ``source`` says where it
    came from (a path or an environment variable's name), never the key."""

    public: Ed25519PublicKey
    private: Ed25519PrivateKey | None = None
    source: str = ""

    @property
    def key_id(self) -> str:
        return key_id(self.public)

    def sign(self, message: bytes) -> str:
        if self.private is None:
            raise ConfigError(f"key {self.key_id} ({self.source}) is public only: cannot sign")
        raw = self.private.sign(message)
        return f"ed25519:{self.key_id}:{base64.b64encode(raw).decode('ascii')}"

    def verify(self, message: bytes, signature: str) -> bool:
        from cryptography.exceptions import InvalidSignature

        try:
            scheme, kid, b64 = signature.split(":", 2)
            if scheme != "ed25519" or kid != self.key_id:
                return False
            self.public.verify(base64.b64decode(b64, validate=True), message)
        except (ValueError, binascii.Error, InvalidSignature):
            return False
        return True


def _parse_key(data: bytes, where: str, *, private: bool) -> CheckpointKey:
    """An ed25519 key from PEM, its 32 raw bytes, or base64 of them (an environment value)."""
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from cryptography.hazmat.primitives.serialization import (
        load_pem_private_key,
        load_pem_public_key,
    )

    text = data.strip()
    try:
        if text.startswith(b"-----BEGIN"):
            key: object = (
                load_pem_private_key(text, password=None) if private else load_pem_public_key(text)
            )
        else:
            raw = data if len(data) == 32 else base64.b64decode(text, validate=True)
            key = (
                ed25519.Ed25519PrivateKey.from_private_bytes(raw)
                if private
                else ed25519.Ed25519PublicKey.from_public_bytes(raw)
            )
    except (ValueError, TypeError, binascii.Error) as err:
        raise ConfigError(
            f"key from {where} is not a usable ed25519 {'private' if private else 'public'} "
            f"key ({err}): PEM, 32 raw bytes or their base64; e.g. `openssl genpkey -algorithm "
            "ed25519 -out checkpoint.key`, `openssl pkey -in checkpoint.key -pubout`"
        ) from err
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return CheckpointKey(key.public_key(), key if private else None, where)
    if isinstance(key, ed25519.Ed25519PublicKey) and not private:
        return CheckpointKey(key, None, where)
    raise ConfigError(f"key from {where} is not an ed25519 key")


def _signing_source(
    key_file: Path | None, environ: Mapping[str, str]
) -> tuple[str, Path | None] | None:
    """(where, path) of the first signing key configured; path None: the key is in KEY_ENV."""
    if key_file is not None:
        return str(key_file), key_file
    if environ.get(KEY_FILE_ENV):
        return f"${KEY_FILE_ENV}", Path(environ[KEY_FILE_ENV])
    if environ.get(KEY_ENV):
        return f"${KEY_ENV}", None
    if environ.get(LEDGER_KEY_FILE_ENV):
        return f"${LEDGER_KEY_FILE_ENV}", Path(environ[LEDGER_KEY_FILE_ENV])
    return None


def load_signing_key(
    key_file: Path | None = None,
    *,
    repo_root: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> CheckpointKey:
    """The key that signs checkpoints (see the module docstring for the order); a
    :class:`ConfigError` naming the settings when none is configured."""
    env = os.environ if environ is None else environ
    found = _signing_source(key_file, env)
    if found is None:
        raise ConfigError(
            f"no checkpoint signing key: pass --key FILE or set ${KEY_FILE_ENV}, ${KEY_ENV} "
            f"or ${LEDGER_KEY_FILE_ENV} (an ed25519 key kept outside the repository)"
        )
    where, path = found
    if path is None:
        return _parse_key(env[KEY_ENV].encode("utf-8"), where, private=True)
    # a key file: read as the ledger reads its own (refused inside the repository)
    signer = load_signer(path, repo_root=repo_root)
    assert signer is not None and signer.private is not None and signer.public is not None
    return CheckpointKey(signer.public, signer.private, where)


def load_verify_key(
    pubkey_file: Path | None = None,
    *,
    repo_root: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> CheckpointKey:
    """The public key that checks checkpoint signatures (``--pubkey``, then
    ``$KFM_CHECKPOINT_PUBKEY_FILE``, ``$KFM_LEDGER_PUBKEY_FILE``, then the public half of the
    signing key); a :class:`ConfigError` when there is none: an unchecked signature is no
    checkpoint."""
    env = os.environ if environ is None else environ
    for where, path in (
        (str(pubkey_file), pubkey_file),
        (f"${PUBKEY_FILE_ENV}", Path(env[PUBKEY_FILE_ENV]) if env.get(PUBKEY_FILE_ENV) else None),
        (
            f"${LEDGER_PUBKEY_FILE_ENV}",
            Path(env[LEDGER_PUBKEY_FILE_ENV]) if env.get(LEDGER_PUBKEY_FILE_ENV) else None,
        ),
    ):
        if path is not None:
            try:
                data = path.read_bytes()
            except OSError as err:
                raise ConfigError(f"cannot read key {path}: {err.strerror or err}") from err
            return _parse_key(data, where, private=False)
    if _signing_source(None, env) is not None:
        signing = load_signing_key(repo_root=repo_root, environ=env)
        return CheckpointKey(signing.public, None, signing.source)
    raise ConfigError(
        "no public key to check the checkpoint's signature: pass --pubkey FILE or set "
        f"${PUBKEY_FILE_ENV} (or ${LEDGER_PUBKEY_FILE_ENV})"
    )


# -- checkpoints ---------------------------------------------------------------------------


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement "the ledger had ``size`` entries, with this root and last hash"."""

    size: int
    root_hash: str
    head_hash: str  # hash of entry ``size`` (the genesis hash for an empty ledger)
    time: str
    key_id: str
    signature: str = ""

    def body(self) -> dict[str, Any]:
        return {
            "head_hash": self.head_hash,
            "key_id": self.key_id,
            "kind": KIND,
            "root_hash": self.root_hash,
            "size": self.size,
            "time": self.time,
        }

    def signed_bytes(self) -> bytes:
        """What the signature covers: the canonical JSON of every field but the signature."""
        return canonical_json(self.body())

    def to_json_dict(self) -> dict[str, Any]:
        return {**self.body(), "signature": self.signature}

    def to_bytes(self) -> bytes:
        return (json.dumps(self.to_json_dict(), sort_keys=True, indent=2) + "\n").encode()

    @classmethod
    def from_json_dict(cls, doc: object, where: str = "checkpoint") -> Checkpoint:
        if not isinstance(doc, dict) or doc.get("kind") != KIND:
            raise InputError(f"{where} is not a ledger checkpoint (kind {KIND!r} expected)")
        size = doc.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InputError(f"{where}: size {size!r} is not a count of entries")
        _unhex(doc.get("root_hash"), f"{where}: root_hash")
        _unhex(doc.get("head_hash"), f"{where}: head_hash")
        for name in ("time", "key_id", "signature"):
            if not isinstance(doc.get(name), str) or not doc[name]:
                raise InputError(f"{where}: {name} is missing")
        return cls(
            size, doc["root_hash"], doc["head_hash"], doc["time"], doc["key_id"], doc["signature"]
        )

    @classmethod
    def read(cls, path: Path) -> Checkpoint:
        try:
            doc = json.loads(path.read_bytes())
        except OSError as err:
            raise InputError(f"cannot read checkpoint {path}: {err.strerror or err}") from err
        except ValueError as err:
            raise InputError(f"checkpoint {path} is not JSON: {err}") from err
        return cls.from_json_dict(doc, f"checkpoint {path}")


def take_checkpoint(
    ledger: LedgerReader, key: CheckpointKey, *, now: str | None = None
) -> Checkpoint:
    """Verify ``ledger``, then sign its size, Merkle root and last hash."""
    tree, hashes = verified_tree(ledger)
    unsigned = Checkpoint(
        size=tree.size,
        root_hash=_hex(tree.root()),
        head_hash=_hex(hashes[-1]) if hashes else GENESIS,
        time=now or _now(),
        key_id=key.key_id,
    )
    return replace(unsigned, signature=key.sign(unsigned.signed_bytes()))


@dataclass(frozen=True)
class CheckpointIssue:
    kind: str  # signature | key | truncated | rewritten | head
    message: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


@dataclass(frozen=True)
class CheckpointReport:
    """The current ledger against a checkpoint someone kept; ``ok`` when it extends it."""

    checkpoint: Checkpoint
    size: int  # entries in the ledger now
    root_hash: str  # its root now
    issues: tuple[CheckpointIssue, ...] = ()
    proof: tuple[str, ...] = field(default=())  # consistency proof checkpoint -> now

    @property
    def ok(self) -> bool:
        return not self.issues

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checkpoint": self.checkpoint.to_json_dict(),
            "size": self.size,
            "root_hash": self.root_hash,
            "consistency_proof": list(self.proof),
            "issues": [{"kind": i.kind, "message": i.message} for i in self.issues],
        }

    def render_text(self) -> str:
        cp = self.checkpoint
        if self.ok:
            return (
                f"checkpoint of {cp.size} entries ({cp.time}, key {cp.key_id}): OK, the ledger "
                f"({self.size} entries, root {self.root_hash}) extends it "
                f"(consistency proof of {len(self.proof)} hashes verified)"
            )
        lines = [f"checkpoint of {cp.size} entries ({cp.time}, key {cp.key_id}): FAILED"]
        lines.extend(f"  {issue}" for issue in self.issues)
        return "\n".join(lines)


def check_checkpoint(
    ledger: LedgerReader, checkpoint: Checkpoint, key: CheckpointKey
) -> CheckpointReport:
    """Does the current ``ledger`` extend ``checkpoint``? Checks the signature with ``key``
    (the key id must match), then that the ledger still has at least ``size`` entries, that
    entry ``size`` still has the checkpoint's head hash, that the first ``size`` entries still
    give its root, and verifies the consistency proof from it to the current tree."""
    issues: list[CheckpointIssue] = []
    if checkpoint.key_id != key.key_id:
        issues.append(
            CheckpointIssue(
                "key",
                f"the checkpoint names key {checkpoint.key_id}; the verifying key "
                f"({key.source}) is {key.key_id}",
            )
        )
    elif not key.verify(checkpoint.signed_bytes(), checkpoint.signature):
        issues.append(
            CheckpointIssue(
                "signature",
                f"the signature does not verify with key {key.key_id}: the checkpoint was "
                "altered or forged",
            )
        )
    hashes = entry_hashes(ledger)
    tree = MerkleTree.from_data(hashes)
    now_root = _hex(tree.root())
    if issues:  # an unauthenticated checkpoint proves nothing about the ledger
        return CheckpointReport(checkpoint, tree.size, now_root, tuple(issues))
    n = checkpoint.size
    if tree.size < n:
        issues.append(
            CheckpointIssue(
                "truncated",
                f"the checkpoint of {checkpoint.time} saw {n} entries, the ledger has "
                f"{tree.size}: entries {tree.size + 1}..{n} were removed",
            )
        )
        return CheckpointReport(checkpoint, tree.size, now_root, tuple(issues))
    if n and _hex(hashes[n - 1]) != checkpoint.head_hash:
        issues.append(
            CheckpointIssue(
                "head",
                f"entry seq {n}, the head at the checkpoint, now hashes to "
                f"{_hex(hashes[n - 1])[:23]}..., not {checkpoint.head_hash[:23]}...: "
                "it was rewritten",
            )
        )
    old_root = _unhex(checkpoint.root_hash, "checkpoint root_hash")
    if tree.root(n) != old_root:
        issues.append(
            CheckpointIssue(
                "rewritten",
                f"the first {n} entries no longer give the checkpoint's root "
                f"{checkpoint.root_hash[:23]}...: an entry at or before seq {n} was rewritten, "
                "removed or inserted since the checkpoint",
            )
        )
        return CheckpointReport(checkpoint, tree.size, now_root, tuple(issues))
    proof = tree.consistency_proof(n)
    if not verify_consistency(n, tree.size, old_root, tree.root(), proof):
        issues.append(  # pragma: no cover - the tree's own proof: a bug if it fails
            CheckpointIssue("rewritten", "the consistency proof does not verify")
        )
    return CheckpointReport(
        checkpoint, tree.size, now_root, tuple(issues), tuple(_hex(p) for p in proof)
    )


# -- proofs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class InclusionProof:
    """Entry ``seq`` is leaf ``seq - 1`` of the tree of ``tree_size`` leaves with ``root_hash``."""

    seq: int
    tree_size: int
    entry_hash: str
    leaf_hash: str
    root_hash: str
    path: tuple[str, ...]

    def verify(self) -> bool:
        return _hex(leaf_hash(_unhex(self.entry_hash, "entry_hash"))) == self.leaf_hash and (
            verify_inclusion(
                _unhex(self.leaf_hash, "leaf_hash"),
                self.seq - 1,
                self.tree_size,
                [_unhex(p, "path") for p in self.path],
                _unhex(self.root_hash, "root_hash"),
            )
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "inclusion",
            "seq": self.seq,
            "leaf_index": self.seq - 1,
            "tree_size": self.tree_size,
            "entry_hash": self.entry_hash,
            "leaf_hash": self.leaf_hash,
            "root_hash": self.root_hash,
            "path": list(self.path),
        }


@dataclass(frozen=True)
class ConsistencyProof:
    """The tree of ``old_size`` leaves (root ``old_root``) is a prefix of the current one."""

    old_size: int
    old_root: str
    tree_size: int
    root_hash: str
    path: tuple[str, ...]

    def verify(self) -> bool:
        return verify_consistency(
            self.old_size,
            self.tree_size,
            _unhex(self.old_root, "old_root"),
            _unhex(self.root_hash, "root_hash"),
            [_unhex(p, "path") for p in self.path],
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "consistency",
            "old_size": self.old_size,
            "old_root": self.old_root,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "path": list(self.path),
        }


def prove_inclusion(ledger: LedgerReader, seq: int) -> InclusionProof:
    """The inclusion proof of entry ``seq`` (1-based) in the current, verified ledger."""
    tree, hashes = verified_tree(ledger)
    if not 1 <= seq <= tree.size:
        raise InputError(f"entry seq {seq} is not in the ledger (seq 1..{tree.size})")
    return InclusionProof(
        seq=seq,
        tree_size=tree.size,
        entry_hash=_hex(hashes[seq - 1]),
        leaf_hash=_hex(tree.leaf(seq - 1)),
        root_hash=_hex(tree.root()),
        path=tuple(_hex(p) for p in tree.inclusion_proof(seq - 1)),
    )


def prove_consistency(ledger: LedgerReader, checkpoint: Checkpoint) -> ConsistencyProof:
    """The consistency proof from ``checkpoint`` to the current, verified ledger; a
    :class:`LedgerError` when the ledger does not extend it (no proof exists)."""
    tree, _ = verified_tree(ledger)
    n = checkpoint.size
    if n > tree.size:
        raise LedgerError(
            f"the checkpoint has {n} entries, the ledger {tree.size}: it was truncated, "
            "no consistency proof exists"
        )
    if _hex(tree.root(n)) != checkpoint.root_hash:
        raise LedgerError(
            f"the first {n} entries do not give the checkpoint's root: the ledger does not "
            "extend the checkpoint, no consistency proof exists"
        )
    return ConsistencyProof(
        old_size=n,
        old_root=checkpoint.root_hash,
        tree_size=tree.size,
        root_hash=_hex(tree.root()),
        path=tuple(_hex(p) for p in tree.consistency_proof(n)),
    )
