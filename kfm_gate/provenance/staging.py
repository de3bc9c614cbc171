"""All-or-nothing publication of several files: stage, journal, rename.

Every file is first written to a temporary name beside its target, and the journal listing
the pending renames (and removals, e.g. graph segments merged by a compaction) to a temporary
name beside ``mcp/.publish-journal.json``; they are all fsynced together (concurrently, so
the file system commits them in one journal transaction where it can). Nothing is visible
yet, and a failure removes the temporaries. Then the journal is renamed into place and its
folder fsynced, the renames are done, then the removals, the touched folders (and the parents
of new folders) are fsynced and the journal is removed. A crash during the renames leaves the
journal: :func:`recover_publication` (called before every new publication) finishes them, so
readers see the old set of files or the new one, never a mix that lasts. Files whose bytes
are unchanged are not rewritten.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

from kfm_gate.errors import PathError, RecordError
from kfm_gate.layout import Layout, fsync_all, write_temp

__all__ = ["JOURNAL", "StagedWrites", "fsync_all", "recover_publication"]

JOURNAL = "mcp/.publish-journal.json"
#: journal entries ``["", <path>]`` remove ``<path>`` (after every rename of the journal)
_REMOVE = ""


class StagedWrites:
    """A set of files written together (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.layout = Layout(root)
        self._items: dict[Path, bytes] = {}
        self._removals: set[Path] = set()
        #: folder as given -> checked, resolved folder (for this publication only)
        self._dirs: dict[Path, Path] = {}
        self._prepared = False
        self._changed: list[Path] = []
        self._removed: list[Path] = []
        self._new_dirs: set[Path] = set()
        self._temps: list[tuple[Path, Path]] = []
        self._fds: list[int] = []
        self._journal_tmp: Path | None = None
        self._pairs: list[list[str]] | None = None
        self._pending: list[Path] | None = None

    def _check(self, target: Path) -> Path:
        """``layout.check_inside(target)``, resolving each folder once per publication."""
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

    def add(self, target: Path, data: bytes) -> None:
        """Stage ``data`` for ``target`` (checked to be inside the allowed write roots)."""
        self._items[self._check(target)] = data

    def remove(self, target: Path) -> None:
        """Remove ``target`` in the same publication (after every staged file is in place)."""
        self._removals.add(self._check(target))

    def __len__(self) -> int:
        return len(self._items)

    @property
    def targets(self) -> list[Path]:
        return sorted(self._items)

    def prepare(self) -> list[int]:
        """Write every changed file, and the journal, to temporaries beside their targets.

        Nothing is visible yet and nothing is fsynced: returns the open descriptors, which the
        caller may fsync together with other work (e.g. another publication's) before
        :meth:`commit` with ``synced=True``. :meth:`abort` removes the temporaries.
        """
        if self._prepared:
            raise RecordError("these staged writes are prepared already")
        self._prepared = True
        recover_publication(self.root)
        self._changed = [t for t in sorted(self._items) if _read_or_none(t) != self._items[t]]
        self._removed = sorted(t for t in self._removals if t not in self._items and t.exists())
        if not self._changed and not self._removed:
            return []
        root = self.layout.root
        for folder in {t.parent for t in self._changed}:
            while folder not in self._new_dirs and not folder.exists():
                self._new_dirs.add(folder)
                folder = folder.parent
        try:
            for folder in sorted(self._new_dirs, key=lambda d: len(d.parts)):
                folder.mkdir(exist_ok=True)
            for target in self._changed:
                tmp, fd = write_temp(target, self._items[target], suffix=".stg", make_dirs=False)
                self._fds.append(fd)
                self._temps.append((tmp, target))
            pairs = [[str(t.relative_to(root)), str(f.relative_to(root))] for t, f in self._temps]
            pairs += [[_REMOVE, str(r.relative_to(root))] for r in self._removed]
            self._journal_tmp, fd = write_temp(root / JOURNAL, json.dumps(pairs).encode("utf-8"))
            self._fds.append(fd)
            self._pairs = pairs
        except BaseException as err:
            self.abort()
            if isinstance(err, OSError):
                raise self._staging_error(err) from err
            raise
        return list(self._fds)

    def _staging_error(self, err: OSError) -> RecordError:
        return RecordError(
            f"could not stage {len(self._changed)} files for publication: {err}; "
            "nothing was published, fix the cause and re-run"
        )

    def abort(self) -> None:
        """Close and remove the temporaries of :meth:`prepare` (nothing was published)."""
        self._close()
        for staged in [*(t for t, _ in self._temps), self._journal_tmp]:
            if staged is not None:
                with contextlib.suppress(OSError):
                    staged.unlink()
        self._temps, self._journal_tmp, self._pairs = [], None, None

    def _close(self) -> None:
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = []

    def commit(
        self, *, synced: bool = False, defer_dirs: bool = False, sync_dirs: Iterable[Path] = ()
    ) -> list[Path]:
        """Write every staged file and do the removals; returns what changed (sorted).

        The staged files and the journal are fsynced together (``synced``: the caller did it,
        on the descriptors :meth:`prepare` returned); the journal is renamed into place (and
        its folder fsynced) only once all of them are on disk, then the renames and removals
        are done. ``defer_dirs``: the folders are not fsynced and the journal stays until
        :meth:`finish` (the caller fsyncs :attr:`pending_dirs` together with other work in
        between; until then the journal still finishes the renames after a crash).
        ``sync_dirs`` are fsynced with the journal's folder (other work's pending folders).
        """
        if not self._prepared:
            self.prepare()
        changed = sorted([*self._changed, *self._removed])
        if self._pairs is None:  # nothing to write
            try:
                fsync_all(sync_dirs)
            except OSError as err:
                raise RecordError(f"cannot sync the folders {list(sync_dirs)}: {err}") from err
            return changed
        root = self.layout.root
        journal_path = root / JOURNAL
        try:
            try:
                if not synced:
                    fsync_all(self._fds)
            finally:
                self._close()
            assert self._journal_tmp is not None
            self._journal_tmp.replace(journal_path)
            self._journal_tmp = None
            fsync_all([journal_path.parent, *sync_dirs])
        except BaseException as err:
            self.abort()
            if isinstance(err, OSError):
                raise self._staging_error(err) from err
            raise
        self._pending = _finish(
            root, self._pairs, {d.parent for d in self._new_dirs}, sync=not defer_dirs
        )
        return changed

    @property
    def pending_dirs(self) -> list[Path]:
        """The folders :meth:`commit` with ``defer_dirs`` left for :meth:`finish` to fsync."""
        return list(self._pending or ())

    def finish(self, *, synced: bool = False) -> None:
        """After ``commit(defer_dirs=True)``: fsync :attr:`pending_dirs` (unless ``synced``: the
        caller did) and remove the journal."""
        if self._pending is None:
            return
        pending, self._pending = self._pending, None
        journal_path = self.layout.root / JOURNAL
        try:
            if not synced:
                fsync_all(pending)
            journal_path.unlink()
        except OSError as err:
            raise RecordError(
                f"publication stopped while syncing its folders ({err}); the journal "
                f"{journal_path} is kept and the next run finishes it"
            ) from err


def _read_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _finish(
    root: Path,
    pairs: list[list[str]] | None = None,
    new_entries: set[Path] | None = None,
    *,
    sync: bool = True,
) -> list[Path] | None:
    """Do the renames and removals of the journal (``pairs``: its content, when known), then
    fsync the folders they touched (and ``new_entries``: folders that got a new folder) and
    remove the journal; with ``sync=False`` return those folders instead (journal kept)."""
    journal_path = root / JOURNAL
    if pairs is None:
        try:
            pairs = json.loads(journal_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise RecordError(f"publication journal {journal_path} is unreadable: {err}") from err
    assert pairs is not None
    dirs: set[Path] = set(new_entries or ())
    try:
        for tmp_rel, final_rel in pairs:
            if tmp_rel == _REMOVE:
                continue
            tmp, final = root / tmp_rel, root / final_rel
            try:
                tmp.replace(final)
            except FileNotFoundError:
                continue  # renamed before an interruption
            dirs.add(final.parent)
        for tmp_rel, final_rel in pairs:
            if tmp_rel == _REMOVE:
                with contextlib.suppress(FileNotFoundError):
                    (root / final_rel).unlink()
                    dirs.add((root / final_rel).parent)
        if not sync:
            return sorted(dirs)
        fsync_all(sorted(dirs))
        journal_path.unlink()
    except OSError as err:
        raise RecordError(
            f"publication stopped while renaming staged files ({err}); the journal {journal_path} "
            "is kept and the next run finishes it"
        ) from err
    return None


def recover_publication(root: Path) -> bool:
    """Finish a publication a crash interrupted; True when there was one."""
    root = root.resolve()
    if not (root / JOURNAL).exists():
        return False
    _finish(root)
    return True
