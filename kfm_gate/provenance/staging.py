"""All-or-nothing publication of several files: stage, journal, rename.

Every file is first written to a temporary name beside its target and fsynced; nothing is
visible yet, and a failure removes the temporaries. Then a journal listing the pending renames
is written atomically, the renames are done, and the journal is removed. A crash during the
renames leaves the journal: :func:`recover_publication` (called before every new publication)
finishes them, so readers see the old set of files or the new one, never a mix that lasts.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

from kfm_gate.errors import RecordError
from kfm_gate.layout import Layout, atomic_write

JOURNAL = "mcp/.publish-journal.json"


class StagedWrites:
    """A set of files written together (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.layout = Layout(root)
        self._items: dict[Path, bytes] = {}

    def add(self, target: Path, data: bytes) -> None:
        """Stage ``data`` for ``target`` (checked to be inside the allowed write roots)."""
        self._items[self.layout.check_inside(target)] = data

    def __len__(self) -> int:
        return len(self._items)

    @property
    def targets(self) -> list[Path]:
        return sorted(self._items)

    def commit(self) -> list[Path]:
        """Write every staged file; returns those whose bytes changed (sorted)."""
        recover_publication(self.root)
        changed = [t for t in sorted(self._items) if _read_or_none(t) != self._items[t]]
        if not changed:
            return []
        temps: list[tuple[Path, Path]] = []
        try:
            for target in changed:
                target.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp_name = tempfile.mkstemp(
                    prefix=f".{target.name}.", suffix=".stg", dir=target.parent
                )
                temps.append((Path(tmp_name), target))
                with os.fdopen(fd, "wb") as fh:
                    fh.write(self._items[target])
                    fh.flush()
                    os.fsync(fh.fileno())
            journal = [
                [str(t.relative_to(self.layout.root)), str(f.relative_to(self.layout.root))]
                for t, f in temps
            ]
            atomic_write(self.layout.root / JOURNAL, json.dumps(journal).encode("utf-8"))
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
        return changed


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
            tmp, final = root / tmp_rel, root / final_rel
            if tmp.exists():
                tmp.replace(final)
                dirs.add(final.parent)
        for d in sorted(dirs):
            fd = os.open(d, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
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
