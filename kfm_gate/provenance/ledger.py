"""An append-only, hash-chained ledger of decisions (``mcp/ledger.jsonl``).

Each line is ``{"entry":<body>,"hash":"sha256:<hex>"[,"sig":"ed25519:<key id>:<base64>"]}``
where ``<body>`` is the RFC 8785 canonical JSON of the entry (sequence number, previous hash,
decision, request, evidence and policy digests, outcome, time) and ``hash`` the SHA-256 of
exactly those body bytes. Each body names the previous entry's hash, so editing, deleting,
inserting or reordering a line breaks the chain at a place :meth:`Ledger.verify` names.

A head file (``ledger.head.json`` beside the ledger) records the number of entries and the
last hash, so removing the *last* entry is detected too. An entry is committed when the head
names it: :meth:`Ledger.append_once` (what the journal of :mod:`kfm_gate.journal` calls)
finishes an append a crash interrupted between the line and the head, and appends nothing
twice.

Entries have a ``kind``: ``decision`` (the default, and every entry without a kind), ``publish``
(the publisher made a decision's partition public) or ``withdraw`` (it took it back). With ``KFM_LEDGER_KEY_FILE`` set to
an ed25519 private key (PEM or 32 raw bytes) kept outside the repository, every entry hash and
the head are signed; ``verify`` checks the signatures with the public key.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kfm_gate.errors import ConfigError, LedgerError, RecordError
from kfm_gate.ids import canonical_json, sha256_bytes

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

    from kfm_gate.layout import Layout

GENESIS = "sha256:" + "0" * 64
KEY_ENV = "KFM_LEDGER_KEY_FILE"
PUBKEY_ENV = "KFM_LEDGER_PUBKEY_FILE"
_PREFIX = b'{"entry":'
_HASH_SEP = b',"hash":"'
#: fields of an entry body, besides ``seq`` and ``prev``
ENTRY_FIELDS = (
    "asset_key",
    "decision_digest",
    "decision_id",
    "evidence_digest",
    "outcome",
    "partition",
    "policy_digest",
    "request_digest",
    "run_id",
    "time",
)
#: fields an entry may carry besides :data:`ENTRY_FIELDS` (``kind``: decision, publish,
#: withdraw; ``state_digest``: digest of the publication state a publish/withdraw wrote)
OPTIONAL_FIELDS = ("kind", "state_digest")
KINDS = ("decision", "publish", "withdraw")


@dataclass(frozen=True)
class LedgerIssue:
    """One problem found by :meth:`Ledger.verify`, naming the line and the entry."""

    line: int  # 1-based line of the ledger file (0: the head file)
    seq: int | None  # the entry's sequence number when it could be read
    kind: str  # edited | malformed | deleted | inserted | reordered | signature | head
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "head"
        seq = f" (seq {self.seq})" if self.seq is not None else ""
        return f"{where}{seq}: {self.kind}: {self.message}"


@dataclass(frozen=True)
class LedgerReport:
    """Result of a verification; ``ok`` only when no issue was found."""

    path: Path
    entries: int
    issues: tuple[LedgerIssue, ...] = ()
    signed: int = 0
    signatures_checked: int = 0
    last_hash: str = GENESIS

    @property
    def ok(self) -> bool:
        return not self.issues

    @property
    def first_bad(self) -> LedgerIssue | None:
        return self.issues[0] if self.issues else None

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "ok": self.ok,
            "entries": self.entries,
            "signed": self.signed,
            "signatures_checked": self.signatures_checked,
            "last_hash": self.last_hash,
            "issues": [
                {"line": i.line, "seq": i.seq, "kind": i.kind, "message": i.message}
                for i in self.issues
            ],
        }

    def render_text(self) -> str:
        if self.ok:
            sig = (
                f", {self.signatures_checked} signatures checked" if self.signatures_checked else ""
            )
            return f"ledger {self.path}: OK, {self.entries} entries{sig}, head {self.last_hash}"
        lines = [f"ledger {self.path}: FAILED, {len(self.issues)} issue(s) in {self.entries} lines"]
        lines.extend(f"  {issue}" for issue in self.issues)
        return "\n".join(lines)


@dataclass
class _Signer:
    key_id: str
    private: Ed25519PrivateKey | None = None
    public: Ed25519PublicKey | None = None
    _cache: dict[str, bool] = field(default_factory=dict)

    def sign(self, message: bytes) -> str:
        assert self.private is not None
        raw = self.private.sign(message)
        return f"ed25519:{self.key_id}:{base64.b64encode(raw).decode('ascii')}"

    def verify(self, message: bytes, sig: str) -> bool:
        from cryptography.exceptions import InvalidSignature

        assert self.public is not None
        try:
            scheme, key_id, b64 = sig.split(":", 2)
            if scheme != "ed25519" or key_id != self.key_id:
                return False
            self.public.verify(base64.b64decode(b64, validate=True), message)
        except (ValueError, InvalidSignature):
            return False
        return True


def _key_id(public: Ed25519PublicKey) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_signer(
    key_file: Path | None = None,
    *,
    repo_root: Path | None = None,
    public_key_file: Path | None = None,
) -> _Signer | None:
    """The signing key from ``key_file`` or ``$KFM_LEDGER_KEY_FILE`` (None when neither is set).

    The key must live outside the repository: a key file under ``repo_root`` is refused.
    With only a public key (``public_key_file`` or ``$KFM_LEDGER_PUBKEY_FILE``) the signer
    verifies but cannot sign.
    """
    if key_file is None and os.environ.get(KEY_ENV):
        key_file = Path(os.environ[KEY_ENV])
    if public_key_file is None and os.environ.get(PUBKEY_ENV):
        public_key_file = Path(os.environ[PUBKEY_ENV])
    if key_file is None and public_key_file is None:
        return None
    try:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import (
            Ed25519PrivateKey,
            Ed25519PublicKey,
        )
        from cryptography.hazmat.primitives.serialization import (
            load_pem_private_key,
            load_pem_public_key,
        )
    except ImportError as err:  # pragma: no cover - cryptography ships with the venv
        raise ConfigError(
            f"{KEY_ENV} is set but the 'cryptography' package is missing: install it"
        ) from err
    path = key_file or public_key_file
    assert path is not None
    if repo_root is not None:
        resolved, root = path.resolve(), repo_root.resolve()
        if resolved == root or root in resolved.parents:
            raise ConfigError(
                f"ledger key {path} is inside the repository {root}: keep it outside "
                f"(e.g. ~/.config/kfm-gate/ledger.key) and point {KEY_ENV} at it"
            )
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"cannot read ledger key {path}: {err.strerror or err}") from err
    try:
        if key_file is not None:
            if data.lstrip().startswith(b"-----BEGIN"):
                private = load_pem_private_key(data, password=None)
            elif len(data) == 32:
                private = Ed25519PrivateKey.from_private_bytes(data)
            else:
                raise ValueError("neither PEM nor 32 raw bytes")
            if not isinstance(private, Ed25519PrivateKey):
                raise ValueError("not an ed25519 key")
            public = private.public_key()
            return _Signer(_key_id(public), private, public)
        pub = (
            load_pem_public_key(data)
            if data.lstrip().startswith(b"-----BEGIN")
            else (Ed25519PublicKey.from_public_bytes(data))
        )
        if not isinstance(pub, Ed25519PublicKey):
            raise ValueError("not an ed25519 public key")
        return _Signer(_key_id(pub), None, pub)
    except ValueError as err:
        raise ConfigError(
            f"ledger key {path} is not a usable ed25519 key ({err}); generate one with "
            "`openssl genpkey -algorithm ed25519 -out ledger.key`"
        ) from err


def entry_from_decision(
    decision: Mapping[str, Any],
    *,
    decision_digest: str,
    kind: str = "decision",
    state_digest: str | None = None,
) -> dict[str, Any]:
    """The ledger fields of a decision document (``Decision.to_json_dict()``); ``kind``
    publish or withdraw for what the publisher did with it (``state_digest``: the digest of
    the publication state it wrote)."""
    if kind not in KINDS:
        raise RecordError(f"ledger entry kind {kind!r} is unknown: use one of {', '.join(KINDS)}")
    part = decision.get("partition") or {}
    extra: dict[str, Any] = {}
    if kind != "decision":
        extra["kind"] = kind
    if state_digest is not None:
        extra["state_digest"] = state_digest
    return {
        **extra,
        "asset_key": decision["asset_key"],
        "decision_digest": decision_digest,
        "decision_id": decision["decision_id"],
        "evidence_digest": decision["evidence_digest"],
        "outcome": decision["outcome"],
        "partition": f"{part.get('aoi_key', '')}|{part.get('time_key', '')}",
        "policy_digest": decision["policy_digest"],
        "request_digest": decision["request_digest"],
        "run_id": decision["run_id"],
        "time": decision["evaluated_at"],
    }


def receipt_bytes(stored: Mapping[str, Any]) -> bytes:
    """A stored line's dict (what :meth:`Ledger.append` returns) as receipt file bytes."""
    return json.dumps(stored, sort_keys=True, indent=1).encode("utf-8") + b"\n"


_hash = sha256_bytes  # entry hash: sha256 of the entry's canonical bytes


def _holds(path: Path, data: bytes) -> bool:
    try:
        return path.read_bytes() == data
    except OSError:
        return False


class Ledger:
    """The ledger file at ``path`` (conventionally ``<root>/mcp/ledger.jsonl``)."""

    def __init__(
        self,
        path: Path,
        *,
        key_file: Path | None = None,
        public_key_file: Path | None = None,
        repo_root: Path | None = None,
        layout: Layout | None = None,
    ) -> None:
        self.path = path
        self.head_path = path.with_name(path.stem + ".head.json")
        self.lock_path = path.with_name(path.name + ".lock")
        #: when given, every file the ledger writes or locks is checked to be inside its roots
        #: and its checkpoints are told each step
        self.layout = layout
        self._key_file = key_file
        self._public_key_file = public_key_file
        self._repo_root = repo_root
        self._signer: _Signer | None = None
        self._signer_loaded = False

    @property
    def signer(self) -> _Signer | None:
        if not self._signer_loaded:
            self._signer = load_signer(
                self._key_file, repo_root=self._repo_root, public_key_file=self._public_key_file
            )
            self._signer_loaded = True
        return self._signer

    # -- writing -----------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if self.layout is not None:
            with self.layout.lock(self.lock_path):
                yield
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _check(self, *paths: Path | None) -> None:
        if self.layout is not None:
            self.layout.preflight(p for p in paths if p is not None)

    def _last_lines(self, n: int) -> tuple[list[bytes], int, bool]:
        """The last ``n`` complete lines (oldest first), the file size, and whether the file
        ends in the middle of a line (a write a crash or a full disk cut short)."""
        try:
            with self.path.open("rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                pos, buf = size, b""
                while pos > 0 and buf.count(b"\n") <= n:
                    step = min(4096, pos)
                    pos -= step
                    fh.seek(pos)
                    buf = fh.read(step) + buf
        except FileNotFoundError:
            return [], 0, False
        except OSError as err:
            raise RecordError(f"cannot read ledger {self.path}: {err.strerror or err}") from err
        torn = bool(buf) and not buf.endswith(b"\n")
        lines = buf.split(b"\n")
        lines.pop()  # the torn part, or the empty string after the last newline
        if pos > 0:
            lines = lines[1:]  # the first may be cut
        return lines[-n:], size, torn

    def _parse(self, line: bytes) -> tuple[dict[str, Any], str]:
        idx = line.rfind(_HASH_SEP)
        try:
            body = json.loads(line[len(_PREFIX) : idx])
            int(body["seq"])
            stored = line[idx + len(_HASH_SEP) : idx + len(_HASH_SEP) + 71].decode("ascii")
        except (ValueError, KeyError, TypeError) as err:
            raise LedgerError(
                f"a line at the end of {self.path} is not a ledger entry ({err}); "
                "run `kfm-gate ledger verify` to find the damage before appending"
            ) from err
        return body, stored

    def _tail(self) -> tuple[int, str]:
        """(number of entries, last hash), read from the end of the file."""
        lines, _, _ = self._last_lines(1)
        if not lines:
            return 0, GENESIS
        body, stored = self._parse(lines[-1])
        return int(body["seq"]), stored

    def _read_head(self) -> tuple[int, str] | None:
        try:
            head = json.loads(self.head_path.read_text(encoding="utf-8"))
            return int(head["count"]), str(head["hash"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise LedgerError(
                f"ledger head {self.head_path} is unreadable ({err}); run `kfm-gate ledger "
                "verify` before appending"
            ) from err

    def append(
        self,
        entry: Mapping[str, Any],
        *,
        receipt: Path | None = None,
        defer_dirs: list[Path] | None = None,
    ) -> dict[str, Any]:
        """Append one entry (the fields of :data:`ENTRY_FIELDS`); returns the stored line's dict.

        The previous hash and sequence number are read under an exclusive lock, so concurrent
        gates append one after the other. The appended line and the new head (and the
        ``receipt``, when given: the returned dict as JSON, e.g. a run's record that its
        decision is in the ledger) are fsynced together before the head and the receipt are
        renamed into place: when this returns, the entry is on disk, and neither the head nor
        the receipt can name an entry that is not. ``defer_dirs``: the folders
        of the head and the receipt are appended to this list instead of being fsynced (the
        caller fsyncs them with its own next batch).
        """
        self._check_fields(entry)
        self._check(self.path, self.head_path, self.lock_path, receipt)
        with self._locked():
            seq, prev = self._tail()
            return self._append_line(entry, seq, prev, receipt, defer_dirs)

    def append_once(
        self,
        entry: Mapping[str, Any],
        *,
        receipt: Path | None = None,
        defer_dirs: list[Path] | None = None,
    ) -> dict[str, Any]:
        """:meth:`append`, unless the last committed entry already holds ``entry``: then only
        the receipt is (re)written. Finishes first what a crash left: a torn last line is cut
        off, and a complete line the head does not name yet is committed when it holds
        ``entry`` (the journal is finishing that very append), else refused (LedgerError).
        Returns the stored line's dict with ``appended`` True or False."""
        self._check_fields(entry)
        self._check(self.path, self.head_path, self.lock_path, receipt)
        with self._locked():
            lines, size, torn = self._last_lines(2)
            if torn:
                self._cut(size)
                lines, size, torn = self._last_lines(2)
            head = self._read_head()
            parsed = [self._parse(line) for line in lines]
            if head is None and parsed:
                if int(parsed[-1][0]["seq"]) != 1:
                    raise LedgerError(
                        f"the head {self.head_path} of {self.path} is missing: run `kfm-gate "
                        "ledger verify` before appending"
                    )
                head = (0, GENESIS)  # the first append stopped before its head
            if parsed and head is not None and parsed[-1][1] != head[1]:
                # the last line is not committed: a crash stopped between line and head
                body, stored = parsed[-1]
                committed = parsed[-2][1] if len(parsed) > 1 else GENESIS
                if committed != head[1] or int(body["seq"]) != head[0] + 1:
                    raise LedgerError(
                        f"the end of {self.path} does not match its head {self.head_path}; "
                        "run `kfm-gate ledger verify` to find the damage before appending"
                    )
                if not self._same(body, entry):
                    raise LedgerError(
                        f"the last line of {self.path} was appended but never committed, and "
                        "it is not the entry being recorded; run `kfm-gate ledger verify`"
                    )
                return self._commit_line(body, stored, receipt, defer_dirs)
            if parsed and self._same(parsed[-1][0], entry):
                body, stored = parsed[-1]
                out: dict[str, Any] = {"entry": body, "hash": stored}
                if receipt is not None and not _holds(receipt, receipt_bytes(out)):
                    self._write_files({receipt: receipt_bytes(out)}, None, defer_dirs)
                return {**out, "appended": False}
            seq, prev = (int(parsed[-1][0]["seq"]), parsed[-1][1]) if parsed else (0, GENESIS)
            return {**self._append_line(entry, seq, prev, receipt, defer_dirs), "appended": True}

    @staticmethod
    def _same(body: Mapping[str, Any], entry: Mapping[str, Any]) -> bool:
        fields = [*ENTRY_FIELDS, *OPTIONAL_FIELDS]
        return all(body.get(f) == entry.get(f) for f in fields)

    @staticmethod
    def _check_fields(entry: Mapping[str, Any]) -> None:
        missing = [f for f in ENTRY_FIELDS if f not in entry]
        if missing:
            raise RecordError(f"ledger entry lacks {', '.join(missing)}; give every field")
        if entry.get("kind", "decision") not in KINDS:
            raise RecordError(f"ledger entry kind {entry.get('kind')!r} is unknown")

    def _cut(self, size: int) -> None:
        """Drop a torn last line (never committed: no head names it)."""
        with self.path.open("rb+") as fh:
            fh.seek(max(0, size - 65536))
            tail = fh.read()
            keep = tail.rfind(b"\n")
            data_end = size - len(tail) + keep + 1 if keep >= 0 else size - len(tail)
            fh.truncate(data_end)
            fh.flush()
            os.fsync(fh.fileno())

    def _body(self, entry: Mapping[str, Any], seq: int, prev: str) -> dict[str, Any]:
        doc = {f: entry[f] for f in ENTRY_FIELDS}
        doc.update({f: entry[f] for f in OPTIONAL_FIELDS if entry.get(f) is not None})
        if doc.get("kind") == "decision":
            del doc["kind"]
        return {**doc, "prev": prev, "seq": seq + 1}

    def _append_line(
        self,
        entry: Mapping[str, Any],
        seq: int,
        prev: str,
        receipt: Path | None,
        defer_dirs: list[Path] | None,
    ) -> dict[str, Any]:
        body_doc = self._body(entry, seq, prev)
        body = canonical_json(body_doc)
        h = _hash(body)
        line = _PREFIX + body + _HASH_SEP + h.encode("ascii") + b'"'
        signer = self.signer
        sig = None
        if signer is not None and signer.private is not None:
            sig = signer.sign(h.encode("ascii"))
            line += b',"sig":"' + sig.encode("ascii") + b'"'
        line += b"}\n"
        out: dict[str, Any] = {"entry": body_doc, "hash": h}
        if sig is not None:
            out["sig"] = sig
        files = {self.head_path: self._head_bytes(seq + 1, h)}
        if receipt is not None:
            files[receipt] = receipt_bytes(out)
        try:
            if not self.path.parent.is_dir():
                self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("ab") as fh:
                start = fh.tell()
                try:
                    if self.layout is not None:
                        self.layout.step("ledger line", self.path)
                    fh.write(line)
                    fh.flush()
                    # the head is renamed first: it commits the line; then the receipt
                    self._write_files(files, fh.fileno(), defer_dirs)
                except BaseException:
                    if self._read_head_hash() != h:  # not committed: never leave it behind
                        with contextlib.suppress(OSError):
                            fh.truncate(start)
                    raise
        except OSError as err:
            raise RecordError(
                f"cannot append to ledger {self.path}: {err.strerror or err}"
            ) from err
        return out

    def check_tail(self) -> None:
        """LedgerError when the end of the ledger is not entries (an append would fail): a
        transaction checks this before its commit point, so a damaged ledger stops it while
        nothing is written."""
        lines, _, _ = self._last_lines(2)
        for line in lines:
            self._parse(line)
        self._read_head()

    def _read_head_hash(self) -> str | None:
        try:
            head = self._read_head()
        except LedgerError:
            return None
        return None if head is None else head[1]

    def _commit_line(
        self,
        body: dict[str, Any],
        stored: str,
        receipt: Path | None,
        defer_dirs: list[Path] | None,
    ) -> dict[str, Any]:
        """Write the head (and receipt) naming a line that is on disk but not committed."""
        out: dict[str, Any] = {"entry": body, "hash": stored}
        files = {self.head_path: self._head_bytes(int(body["seq"]), stored)}
        if receipt is not None:
            files[receipt] = receipt_bytes(out)
        with self.path.open("rb") as fh:
            self._write_files(files, fh.fileno(), defer_dirs)
        return {**out, "appended": True}

    def _write_files(
        self, files: dict[Path, bytes], sync_fd: int | None, defer_dirs: list[Path] | None
    ) -> None:
        from kfm_gate.layout import atomic_write_all

        staging = None
        if self.layout is not None:  # written under the transaction lock: its staging area
            staging = self.layout.staging_dir
            if not staging.is_dir():
                staging.mkdir(parents=True, exist_ok=True)
        atomic_write_all(
            files,
            sync_with=[sync_fd] if sync_fd is not None else [],
            defer_dirs=defer_dirs,
            layout=self.layout,
            staging=staging,
        )

    def _head_bytes(self, count: int, last_hash: str) -> bytes:
        head: dict[str, Any] = {"count": count, "hash": last_hash}
        signer = self.signer
        if signer is not None and signer.private is not None:
            head["sig"] = signer.sign(f"{count}|{last_hash}".encode("ascii"))
        return json.dumps(head, sort_keys=True).encode("utf-8") + b"\n"

    # -- reading -----------------------------------------------------------------------

    def entries(self) -> list[dict[str, Any]]:
        """The entry bodies, in file order (unverified: call :meth:`verify` first)."""
        out = []
        for raw in self._read().split(b"\n"):
            if raw:
                idx = raw.rfind(_HASH_SEP)
                out.append(json.loads(raw[len(_PREFIX) : idx]))
        return out

    def _read(self) -> bytes:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return b""
        except OSError as err:
            raise LedgerError(f"cannot read ledger {self.path}: {err.strerror or err}") from err

    def verify(self, *, require_signatures: bool = False) -> LedgerReport:
        """Check every line, the chain, the order and the head; each issue names its line.

        An edited byte breaks the line's own hash; a deleted entry leaves a gap in the
        sequence (or, at the end, a count below the head's); an inserted entry repeats a
        sequence number or does not chain to its predecessor; reordered entries are out of
        sequence order.
        """
        data = self._read()
        signer = self.signer
        can_check = signer is not None and signer.public is not None
        issues: list[tuple[int, int, LedgerIssue]] = []

        def issue(line: int, seq: int | None, kind: str, msg: str) -> None:
            issues.append((line, len(issues), LedgerIssue(line, seq, kind, msg)))

        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        elif data:
            issue(
                len(lines), None, "malformed", "the file does not end with a newline (truncated?)"
            )
        # pass 1: each line on its own -------------------------------------------------
        rows: list[tuple[int, int, str, str, bool]] = []  # line, seq, prev, stored hash, edited
        signed = checked = 0
        loads, sha = json.loads, hashlib.sha256
        plen, sep, slen = len(_PREFIX), _HASH_SEP, len(_HASH_SEP)
        for n, raw in enumerate(lines, start=1):
            idx = raw.rfind(sep)
            if not raw.startswith(_PREFIX) or idx < 0:
                issue(n, None, "malformed", "not a ledger entry line (edited?)")
                continue
            body = raw[plen:idx]
            tail = raw[idx + slen :]
            stored_b, rest = tail[:71], tail[71:]
            sig: str | None = None
            if rest.startswith(b'","sig":"') and rest.endswith(b'"}'):
                sig = rest[9:-2].decode("ascii", "replace")
            elif rest != b'"}':
                issue(n, None, "malformed", "unexpected bytes after the entry's hash (edited?)")
                continue
            try:
                doc = loads(body)
                seq, entry_prev = doc["seq"], doc["prev"]
                if not isinstance(seq, int) or not isinstance(entry_prev, str):
                    raise TypeError("seq or prev of the wrong type")
            except (ValueError, KeyError, TypeError):
                issue(n, None, "malformed", "the entry body lacks a valid seq and prev (edited?)")
                continue
            stored = stored_b.decode("ascii", "replace")
            actual = "sha256:" + sha(body).hexdigest()
            edited = actual != stored
            if edited:
                issue(
                    n,
                    seq,
                    "edited",
                    f"stored hash {stored[:23]}... does not match the entry's content "
                    f"({actual[:23]}...): the entry was edited",
                )
            elif sig is not None:
                signed += 1
                if can_check:
                    assert signer is not None
                    checked += 1
                    if not signer.verify(stored_b, sig):
                        issue(
                            n,
                            seq,
                            "signature",
                            f"the signature does not verify with ledger key {signer.key_id}",
                        )
            elif require_signatures:
                issue(n, seq, "signature", "the entry is not signed")
            rows.append((n, seq, entry_prev, stored, edited))
        # pass 2: sequence, chain and order --------------------------------------------
        by_seq: dict[int, tuple[int, str, bool]] = {}
        last_seq = 0
        for n, seq, _prev, stored, edited in rows:
            if seq in by_seq:
                issue(
                    n,
                    seq,
                    "inserted",
                    f"seq {seq} already appears on line {by_seq[seq][0]}: "
                    "the entry was inserted (or duplicated)",
                )
                continue
            by_seq[seq] = (n, stored, edited)
            if seq < last_seq:
                issue(
                    n,
                    seq,
                    "reordered",
                    f"seq {seq} comes after seq {last_seq}: entries were reordered",
                )
            last_seq = max(last_seq, seq)
        for n, seq, entry_prev, _stored, edited in rows:
            if by_seq[seq][0] != n or edited:
                continue
            want = (0, GENESIS, False) if seq == 1 else by_seq.get(seq - 1)
            if want is not None and not want[2] and entry_prev != want[1]:
                before = f"entry seq {seq - 1} (line {want[0]})" if seq > 1 else "the genesis"
                issue(
                    n,
                    seq,
                    "inserted",
                    f"its previous hash {entry_prev[:23]}... does not chain to {before}: "
                    "the entry was inserted or replaced",
                )
        top = max(by_seq, default=0)
        for s in range(1, top + 1):
            if s not in by_seq:
                after = next(by_seq[t][0] for t in range(s + 1, top + 1) if t in by_seq)
                issue(after, s, "deleted", f"entry seq {s} is missing before line {after}: deleted")
        last_hash = by_seq[top][1] if top else GENESIS
        for h_issue in self._check_head(top, last_hash, signer if can_check else None):
            issue(h_issue.line, h_issue.seq, h_issue.kind, h_issue.message)
        ordered = tuple(i for _, _, i in sorted(issues, key=lambda t: (t[0], t[1])))
        return LedgerReport(self.path, len(lines), ordered, signed, checked, last_hash)

    def _check_head(self, count: int, last: str, signer: _Signer | None) -> list[LedgerIssue]:
        try:
            head = json.loads(self.head_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            if count:
                return [
                    LedgerIssue(
                        0,
                        None,
                        "head",
                        f"head file {self.head_path} is missing: the last entries "
                        "cannot be checked for removal",
                    )
                ]
            return []
        except (OSError, ValueError) as err:
            return [LedgerIssue(0, None, "head", f"head file {self.head_path} unreadable: {err}")]
        issues = []
        h_count, h_hash = head.get("count"), head.get("hash")
        if signer is not None:
            sig = head.get("sig")
            if not isinstance(sig, str) or not signer.verify(
                f"{h_count}|{h_hash}".encode("ascii"), sig
            ):
                issues.append(
                    LedgerIssue(0, None, "signature", "the head's signature does not verify")
                )
        if isinstance(h_count, int) and h_count > count:
            missing = f"seq {count + 1}" if h_count == count + 1 else f"seq {count + 1}..{h_count}"
            issues.append(
                LedgerIssue(
                    count + 1,
                    h_count,
                    "deleted",
                    f"the head records {h_count} entries, the file has {count}: "
                    f"{missing} removed from the end",
                )
            )
        elif isinstance(h_count, int) and h_count < count:
            issues.append(
                LedgerIssue(
                    h_count + 1,
                    h_count + 1,
                    "inserted",
                    f"the head records {h_count} entries, the file has {count}: "
                    f"line {h_count + 1} onwards were added after the last "
                    "append (or a crash stopped the head update)",
                )
            )
        elif h_hash != last:
            issues.append(
                LedgerIssue(
                    count,
                    count,
                    "edited",
                    f"the last entry's hash {last[:23]}... differs from the "
                    f"head's {str(h_hash)[:23]}...: the last entry was replaced",
                )
            )
        return issues
