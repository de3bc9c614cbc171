"""All-or-nothing publication of several files: stage, journal, rename.

Every file is first written to a temporary name beside its target; the temporaries are then
fsynced together (concurrently, so the file system commits them in one journal transaction
where it can); nothing is visible yet, and a failure removes the temporaries. Then a journal
listing the pending renames (and removals, e.g. graph segments merged by a compaction) is
written atomically, the renames are done, then the removals, the touched folders are fsynced
and the journal is removed. A crash during the renames leaves the journal:
:func:`recover_publication` (called before every new publication) finishes them, so readers
see the old set of files or the new one, never a mix that lasts. Files whose bytes are
unchanged are not rewritten.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kfm_gate.errors import RecordError
from kfm_gate.layout import Layout, atomic_write

JOURNAL = "mcp/.publish-journal.json"
#: journal entries ``["", <path>]`` remove ``<path>`` (after every rename of the journal)
_REMOVE = ""


_POOL: Any = None


def _fsync_one(item: int | Path) -> None:
    if isinstance(item, Path):
        fd = os.open(item, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    else:
        os.fsync(item)


def fsync_all(items: Iterable[int | Path]) -> None:
    """fsync open file descriptors and folders, concurrently when there are several.

    fsync releases the GIL, and on a journaling file system concurrent fsyncs share one
    commit, so N small files cost little more than one. Every fsync finishes before the first
    error is raised.
    """
    global _POOL
    work = list(items)
    if len(work) <= 1:
        for item in work:
            _fsync_one(item)
        return
    if _POOL is None:
        from concurrent.futures import ThreadPoolExecutor

        _POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="kfm-fsync")
    futures = [_POOL.submit(_fsync_one, item) for item in work]
    errors = [err for err in (f.exception() for f in futures) if err is not None]
    if errors:
        raise errors[0]


class StagedWrites:
    """A set of files written together (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.layout = Layout(root)
        self._items: dict[Path, bytes] = {}
        self._removals: set[Path] = set()

    def add(self, target: Path, data: bytes) -> None:
        """Stage ``data`` for ``target`` (checked to be inside the allowed write roots)."""
        self._items[self.layout.check_inside(target)] = data

    def remove(self, target: Path) -> None:
        """Remove ``target`` in the same publication (after every staged file is in place)."""
        self._removals.add(self.layout.check_inside(target))

    def __len__(self) -> int:
        return len(self._items)

    @property
    def targets(self) -> list[Path]:
        return sorted(self._items)

    def commit(self) -> list[Path]:
        """Write every staged file and do the removals; returns what changed (sorted)."""
        recover_publication(self.root)
        changed = [t for t in sorted(self._items) if _read_or_none(t) != self._items[t]]
        removed = sorted(t for t in self._removals if t not in self._items and t.exists())
        if not changed and not removed:
            return []
        temps: list[tuple[Path, Path]] = []
        fds: list[int] = []
        try:
            try:
                for target in changed:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    fd, tmp_name = tempfile.mkstemp(
                        prefix=f".{target.name}.", suffix=".stg", dir=target.parent
                    )
                    fds.append(fd)
                    temps.append((Path(tmp_name), target))
                    view = memoryview(self._items[target])
                    while view:
                        view = view[os.write(fd, view) :]
                fsync_all(fds)
            finally:
                for fd in fds:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            root = self.layout.root
            journal = [[str(t.relative_to(root)), str(f.relative_to(root))] for t, f in temps] + [
                [_REMOVE, str(r.relative_to(root))] for r in removed
            ]
            atomic_write(root / JOURNAL, json.dumps(journal).encode("utf-8"))
        except BaseException as err:
            for staged, _ in temps:
                with contextlib.suppress(OSError):
                    staged.unlink()
            if isinstance(err, OSError):
                raise RecordError(
                    f"could not stage {len(changed)} files for publication: {err}; "
                    "nothing was published, fix the cause and re-run"
                ) from err
            raise
        _finish(self.layout.root)
        return sorted([*changed, *removed])


def _read_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _finish(root: Path) -> None:
    journal_path = root / JOURNAL
    try:
        pairs = json.loads(journal_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise RecordError(f"publication journal {journal_path} is unreadable: {err}") from err
    dirs: set[Path] = set()
    try:
        for tmp_rel, final_rel in pairs:
            if tmp_rel == _REMOVE:
                continue
            tmp, final = root / tmp_rel, root / final_rel
            if tmp.exists():
                tmp.replace(final)
                dirs.add(final.parent)
        for tmp_rel, final_rel in pairs:
            if tmp_rel == _REMOVE:
                with contextlib.suppress(FileNotFoundError):
                    (root / final_rel).unlink()
                    dirs.add((root / final_rel).parent)
        fsync_all(sorted(dirs))
        journal_path.unlink()
    except OSError as err:
        raise RecordError(
            f"publication stopped while renaming staged files ({err}); the journal {journal_path} "
            "is kept and the next run finishes it"
        ) from err


def recover_publication(root: Path) -> bool:
    """Finish a publication a crash interrupted; True when there was one."""
    root = root.resolve()
    if not (root / JOURNAL).exists():
        return False
    _finish(root)
    return True
