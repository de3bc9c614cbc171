"""All-or-nothing writes of several files and ledger entries: stage, journal, apply.

A :class:`Transaction` collects files to write (bytes, or a hard link to a file already
written), files to remove and ledger entries to append. :meth:`Transaction.commit`:

1. finishes what a crash left (:func:`recover`), under the repository's transaction lock;
2. stages every changed file as a temporary in ``mcp/.staging/`` (nothing is visible yet);
3. writes the journal (the renames, removals and ledger entries to do) to
   ``mcp/.journal.json``, sealed by the digest of its content, and fsyncs every temporary, the
   journal and its folder in one round: the **commit point**. A journal whose seal does not
   match (written in part) is no commit: before the commit point a crash leaves the old state
   (the next transaction removes such a journal and empties the staging area); after it the
   new state is decided and the journal finishes it;
4. applies the journal: the ledger entries first (so nothing is visible before its ledger
   entry is on disk; :meth:`Ledger.append_once` appends nothing twice), then the folders, the
   renames (each temporary onto its target), the removals, one fsync of every touched folder,
   and the journal is retired.

Applying is idempotent: a rename whose temporary is gone was done, a removal of a missing file
was done, a ledger entry already committed is not appended again. So re-running a transaction,
or finishing one a crash interrupted at any step, converges to the same bytes. Files whose bytes
are unchanged are not rewritten; a transaction with nothing to change writes nothing (not even a
journal). Readers that must see whole transactions call :func:`recover` first.

Transactions of one repository are serialized by a :class:`TransactionLock`. The default
(:class:`FileTransactionLock`) is an exclusive ``flock`` on ``mcp/.publish.lock``, re-entrant
within a thread: processes on one host. It is the seam for a shared backend (e.g. a
PostgreSQL advisory lock) when several hosts write one repository.

The staging area and the targets must be on one file system (renames); a target on another one
is refused before anything is staged. Creating a file costs far more than renaming one on this
project's VMs (a new inode), so a finished journal is kept as a spare that the next journal
reuses (truncated before it is renamed into place: an interruption leaves an empty journal),
and a staged file holding the same bytes as another staged file is a hard link to its
temporary.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from kfm_gate.errors import PathError, RecordError
from kfm_gate.layout import (
    JOURNAL_SPARE,
    WRITE_ROOTS,
    Layout,
    fill_temp,
    fsync_all,
    write_temp,
)

if TYPE_CHECKING:
    from kfm_gate.provenance.ledger import Ledger

__all__ = [
    "Commit",
    "FileTransactionLock",
    "Transaction",
    "TransactionLock",
    "journal_pending",
    "recover",
]

_held = threading.local()  # per thread: {root: depth} of the transaction locks held


@runtime_checkable
class TransactionLock(Protocol):
    """Serializes the transactions of one repository (see the module docstring)."""

    def hold(self) -> contextlib.AbstractContextManager[None]:
        """Held from reading what a transaction plans from until it is applied."""
        ...


class FileTransactionLock:
    """``flock`` on ``mcp/.publish.lock``: processes of one host; re-entrant per thread."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        depth: dict[Path, int] = getattr(_held, "depth", None) or {}
        _held.depth = depth
        root = self.layout.root
        if depth.get(root):
            depth[root] += 1
            try:
                yield
            finally:
                depth[root] -= 1
            return
        with self.layout.lock(self.layout.publish_lock_path):
            depth[root] = 1
            try:
                yield
            finally:
                depth.pop(root, None)


def default_lock(layout: Layout) -> TransactionLock:
    return FileTransactionLock(layout)


@dataclass
class Commit:
    """What a transaction changed (sorted paths) and the ledger lines it wrote or found."""

    changed: list[Path] = field(default_factory=list)
    ledger: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class _LedgerIntent:
    path: Path
    entry: dict[str, Any]
    receipt: Path | None


class Transaction:
    """A set of files, removals and ledger entries committed together (module docstring)."""

    def __init__(self, layout: Layout, *, lock: TransactionLock | None = None) -> None:
        self.layout = layout
        self.lock = lock or default_lock(layout)
        self._items: dict[Path, bytes] = {}
        self._links: dict[Path, Path] = {}
        self._removals: set[Path] = set()
        self._ledger: list[_LedgerIntent] = []
        #: folder as given -> checked, resolved folder (for this transaction only)
        self._dirs: dict[Path, Path] = {}

    def _check(self, target: Path) -> Path:
        """``layout.check_inside(target)``, resolving each folder once per transaction."""
        name = target.name
        if name in ("", ".", ".."):
            return self.layout.check_inside(target)
        folder = self._dirs.get(target.parent)
        if folder is None:
            try:
                folder = self.layout.check_inside(target.parent)
            except PathError:
                return self.layout.check_inside(target)  # the error names the file
            self._dirs[target.parent] = folder
        resolved = folder / name
        if resolved.is_symlink():  # a link is followed, and must stay inside as well
            return self.layout.check_inside(target)
        return resolved

    # -- building ----------------------------------------------------------------------

    def put(self, target: Path, data: bytes) -> Path:
        """Write ``data`` to ``target`` (checked to be inside the allowed write roots)."""
        path = self._check(target)
        self._links.pop(path, None)
        self._items[path] = data
        return path

    def link(self, target: Path, source: Path) -> Path:
        """Make ``target`` a hard link to the existing file ``source`` (a copy where the file
        system refuses links). Neither file is ever rewritten in place afterwards."""
        path = self._check(target)
        self._items.pop(path, None)
        self._links[path] = self.layout.check_inside(source)
        return path

    def remove(self, target: Path) -> None:
        """Remove ``target`` in the same transaction (after every staged file is in place)."""
        self._removals.add(self._check(target))

    def ledger(self, entry: Mapping[str, Any], *, receipt: Path | None = None) -> None:
        """Append ``entry`` to the repository's ledger when committing (once: see
        :meth:`Ledger.append_once`); ``receipt``: a file that records the stored line."""
        checked = self._check(receipt) if receipt is not None else None
        self._ledger.append(_LedgerIntent(self.layout.ledger_path, dict(entry), checked))

    def absorb(self, other: Transaction) -> None:
        """Take everything ``other`` holds, to commit it with this transaction."""
        self._items.update(other._items)
        self._links.update(other._links)
        self._removals |= other._removals
        self._ledger.extend(other._ledger)

    @property
    def targets(self) -> list[Path]:
        return sorted({*self._items, *self._links})

    @property
    def removals(self) -> list[Path]:
        return sorted(self._removals)

    def data(self, target: Path) -> bytes | None:
        """The bytes staged for ``target`` (None when it is not staged, or a link)."""
        return self._items.get(target)

    def __len__(self) -> int:
        return len(self._items) + len(self._links)

    def changes(self) -> list[Path]:
        """What committing would write or remove (sorted; ledger entries left out)."""
        changed = [t for t in self._items if not _holds(t, self._items[t])]
        changed += [t for t in self._links if not _same_file(t, self._links[t])]
        changed += [
            t
            for t in self._removals
            if t not in self._items and t not in self._links and (t.exists() or t.is_symlink())
        ]
        return sorted(changed)

    # -- committing --------------------------------------------------------------------

    def commit(self) -> Commit:
        """Write everything (see the module docstring); returns what changed.

        RecordError when it cannot: before the commit point nothing is visible; after it the
        journal stays and the next transaction (or :func:`recover`) finishes it.
        """
        with self.lock.hold():
            _recover(self.layout)
            return self._commit()

    def _commit(self) -> Commit:
        layout = self.layout
        changed = [t for t in sorted(self._items) if not _holds(t, self._items[t])]
        changed += [t for t in sorted(self._links) if not _same_file(t, self._links[t])]
        changed.sort()
        removed = sorted(t for t in self._removals if t not in self._items and t not in self._links)
        removed = [t for t in removed if t.exists() or t.is_symlink()]
        intents, done = self._pending_ledger()
        if not changed and not removed and not intents:
            return Commit([], done)
        for intent in intents:  # a damaged ledger stops the transaction before anything
            _ledger(layout, intent.path).check_tail()
        staging = layout.staging_dir
        temps: list[tuple[Path, Path]] = []  # (temporary, target)
        fds: list[int] = []
        journal_written = False
        try:
            if not staging.is_dir():
                staging.mkdir(parents=True, exist_ok=True)
            layout.preflight([staging, layout.journal_path, layout.root / JOURNAL_SPARE])
            self._same_device(staging, changed)
            same: dict[bytes, Path] = {}  # bytes -> the temporary written for them
            for target in changed:
                source = self._links.get(target)
                if source is not None:
                    layout.step("link", target)
                    tmp = _link_into(source, staging, target.name)
                    if tmp is not None:
                        temps.append((tmp, target))
                        continue
                    data = source.read_bytes()
                else:
                    data = self._items[target]
                layout.step("stage", target)
                first = same.get(data)
                linked = _link_into(first, staging, target.name) if first is not None else None
                if linked is not None:  # durable with its source's descriptor
                    temps.append((linked, target))
                    continue
                tmp, fd = write_temp(
                    target,
                    data,
                    suffix=".stg",
                    make_dirs=False,
                    folder=staging,
                    mode=layout.file_mode,
                )
                fds.append(fd)
                temps.append((tmp, target))
                same.setdefault(data, tmp)
            doc = {
                "renames": [[layout.rel(tmp), layout.rel(t)] for tmp, t in temps],
                "removals": [layout.rel(t) for t in removed],
                "ledger": [
                    {
                        "path": layout.rel(i.path),
                        "entry": i.entry,
                        "receipt": None if i.receipt is None else layout.rel(i.receipt),
                    }
                    for i in intents
                ],
            }
            layout.step("stage", layout.journal_path)
            journal_written = True
            fds.append(_write_journal(layout, doc))
            layout.step("commit", layout.journal_path)
            try:  # the temporaries, the journal and its folder in one round: the commit point
                fsync_all([*fds, layout.journal_path.parent])
            finally:
                _close(fds)
        except BaseException as err:
            _close(fds)
            for tmp in [t for t, _ in temps]:
                if tmp is not None:
                    with contextlib.suppress(OSError):
                        tmp.unlink()
            if journal_written:  # not committed: a journal that did not reach the disk whole
                with contextlib.suppress(OSError):
                    layout.journal_path.unlink()
            if isinstance(err, OSError):
                raise RecordError(
                    f"could not stage {len(changed)} file(s): {err.strerror or err}; nothing "
                    "was written, fix the cause and re-run"
                ) from err
            raise
        stored = _apply(layout, doc)
        return Commit(sorted([*changed, *removed]), [*done, *stored])

    def _pending_ledger(self) -> tuple[list[_LedgerIntent], list[dict[str, Any]]]:
        """The ledger entries to append, and those a receipt shows committed already."""
        from kfm_gate.provenance.ledger import Ledger

        todo: list[_LedgerIntent] = []
        done: list[dict[str, Any]] = []
        for intent in self._ledger:
            found = _read_receipt(intent.receipt)
            if found is not None and Ledger._same(found.get("entry", {}), intent.entry):
                done.append({**found, "appended": False})
            else:
                todo.append(intent)
        return todo, done

    def _same_device(self, staging: Path, targets: list[Path]) -> None:
        dev = staging.stat().st_dev
        seen: set[Path] = set()
        for target in targets:
            folder = target.parent
            while folder not in seen and not folder.exists():
                folder = folder.parent
            if folder in seen:
                continue
            seen.add(folder)
            if folder.stat().st_dev != dev:
                raise RecordError(
                    f"{folder} is on another file system than {staging}: kfm-gate writes "
                    "through renames, so mcp/ and data/ must be on one file system"
                )


# -- applying and recovering ---------------------------------------------------------------


def _apply(layout: Layout, doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Do what a committed journal says (idempotent), then retire it."""
    root = layout.root
    dirs: list[Path] = []
    stored: list[dict[str, Any]] = []
    try:
        for intent in doc.get("ledger", []):
            ledger = _ledger(layout, root / intent["path"])
            receipt = root / intent["receipt"] if intent.get("receipt") else None
            stored.append(ledger.append_once(intent["entry"], receipt=receipt, defer_dirs=dirs))
        touched: set[Path] = set(dirs)
        for tmp_rel, final_rel in doc.get("renames", []):
            tmp, final = root / tmp_rel, root / final_rel
            if not tmp.exists():
                continue  # renamed before an interruption
            folder = final.parent
            if not folder.is_dir():
                existing, made = folder, []
                while not existing.exists():
                    made.append(existing)
                    existing = existing.parent
                folder.mkdir(parents=True, exist_ok=True)
                layout.check_inside(folder)  # a folder made here is no link
                touched.add(existing)  # it got a new entry
                touched.update(made)
            layout.step("rename", final)
            tmp.replace(final)
            touched.add(folder)
        for final_rel in doc.get("removals", []):
            final = root / final_rel
            layout.step("remove", final)
            with contextlib.suppress(FileNotFoundError):
                final.unlink()
            touched.add(final.parent)
            _prune(final.parent, layout)
        fsync_all(sorted(p for p in touched if p.exists()))
        layout.step("retire", layout.journal_path)
        _retire_journal(layout)
    except OSError as err:
        raise RecordError(
            f"stopped while applying the journal {layout.journal_path} ({err.strerror or err}); "
            "it is kept and the next transaction finishes it"
        ) from err
    _clear_staging(layout)
    return stored


def _ledger(layout: Layout, path: Path) -> Ledger:
    from kfm_gate.provenance.ledger import Ledger

    return Ledger(path, repo_root=layout.root, layout=layout)


def _prune(folder: Path, layout: Layout) -> None:
    """Remove ``folder`` when a removal left it empty (a withdrawn public view), and so up to
    (not including) the roots."""
    stop = {layout.root / r for r in WRITE_ROOTS}
    while folder not in stop and layout.root in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def _recover(layout: Layout) -> bool:
    """Finish a committed journal, then empty the staging area (the lock is held)."""
    journal = layout.journal_path
    if journal.exists() or journal.is_symlink():
        doc = _read_journal(journal)
        if doc is not None:
            _apply(layout, doc)
            return True
        journal.unlink()  # written only in part: its transaction never committed
    _clear_staging(layout)
    return False


def recover(layout: Layout, lock: TransactionLock | None = None) -> bool:
    """Finish a transaction a crash interrupted after its commit point, and remove what one
    interrupted before it left in the staging area; True when a journal was finished."""
    if not layout.journal_path.exists() and not _has_entries(layout.staging_dir):
        return False
    with (lock or default_lock(layout)).hold():
        return _recover(layout)


def journal_pending(root: Path) -> bool:
    """True when a committed journal is waiting to be finished (after a crash)."""
    return Layout(root).journal_path.exists()


def _has_entries(folder: Path) -> bool:
    try:
        with os.scandir(folder) as it:
            return any(True for _ in it)
    except FileNotFoundError:
        return False


def _clear_staging(layout: Layout) -> None:
    folder = layout.staging_dir
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return
    for entry in entries:
        with contextlib.suppress(FileNotFoundError):
            Path(entry.path).unlink()


def _write_journal(layout: Layout, doc: Mapping[str, Any]) -> int:
    """Write the journal at its place, sealed by the digest of its content (first line); returns
    its open descriptor (not fsynced yet). The spare journal is reused when there is one (a
    rename, not a new file): truncated before it is renamed into place, so an interruption
    leaves an empty journal, which is no commit."""
    body = json.dumps(doc, sort_keys=True).encode("utf-8")
    data = hashlib.sha256(body).hexdigest().encode("ascii") + b"\n" + body
    path, spare = layout.journal_path, layout.root / JOURNAL_SPARE
    try:
        fd = os.open(spare, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, layout.file_mode)
    else:
        try:
            spare.rename(path)
        except OSError:
            os.close(fd)
            raise
    return fill_temp(path, fd, data)[1]


def _read_journal(path: Path) -> dict[str, Any] | None:
    """The journal's content, or None when it is not whole (its seal does not match): a
    transaction stopped before its commit point."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise RecordError(f"the journal {path} is unreadable: {err}") from err
    seal, _, body = data.partition(b"\n")
    if not body or hashlib.sha256(body).hexdigest().encode("ascii") != seal:
        return None
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def _retire_journal(layout: Layout) -> None:
    """Take the finished journal out of the way (kept as the spare)."""
    with contextlib.suppress(FileNotFoundError):
        layout.journal_path.rename(layout.root / JOURNAL_SPARE)


def _link_into(source: Path, folder: Path, name: str) -> Path | None:
    """A new temporary in ``folder`` hard-linked to ``source``; None when the file system
    refuses (the caller writes a copy instead)."""
    tmp = folder / f".{name}.{os.urandom(6).hex()}.stg"
    try:
        os.link(source, tmp)
    except OSError as err:
        if err.errno == errno.ENOSPC:
            raise
        return None
    return tmp


def _close(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    fds.clear()


def _holds(path: Path, data: bytes) -> bool:
    """Whether the file at ``path`` holds exactly ``data`` (read only when the sizes agree)."""
    try:
        if path.stat().st_size != len(data):
            return False
        return path.read_bytes() == data
    except OSError:
        return False


def _same_file(path: Path, source: Path) -> bool:
    """Whether ``path`` is ``source`` (one inode) or holds the same bytes."""
    try:
        if path.samefile(source):
            return True
        return _holds(path, source.read_bytes())
    except OSError:
        return False


def _read_receipt(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("entry"), dict) else None
