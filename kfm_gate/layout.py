"""Where kfm-gate may write, and how: inside the allowed roots, atomically, one run at a time.

Writes go only under ``data/processed/``, ``data/stac/``, ``data/graph/`` and ``mcp/`` of the
repository root. Absolute paths, ``..`` and links that leave those roots are refused. Every
file is written to a temporary name in the same folder, fsynced, then renamed over the
target, so a crash leaves the old file or the new one, never half of it; files written
together share their fsyncs (:func:`atomic_write_all`). Files get the mode ``open()`` would
give them (0o666 less the umask), not the temporary's 0600: catalogs are meant to be read.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import os
import re
import stat
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from kfm_gate.errors import LockError, PathError, RecordError

#: folders (relative to the repository root) kfm-gate may write into
WRITE_ROOTS: tuple[str, ...] = ("data/processed", "data/stac", "data/graph", "mcp")
PROCESSED = "data/processed"
STAC = "data/stac"
RUNS = "mcp/runs"
_DRIVE = re.compile(r"^[A-Za-z]:")


#: per process: a repository root as given -> resolved (a root is configuration: it is not
#: expected to be re-linked while a process works in it; paths inside are always resolved)
_ROOTS: dict[Path, Path] = {}


class Layout:
    """The repository a gate works in; resolves and guards every path it writes."""

    def __init__(self, root: Path) -> None:
        resolved = _ROOTS.get(root)
        if resolved is None:
            resolved = root.resolve()
            if root.is_absolute() and len(_ROOTS) < 64:  # a relative one follows the cwd
                _ROOTS[root] = resolved
        self.root = resolved

    # -- paths -------------------------------------------------------------------------

    def resolve_relative(self, relpath: str, *, roots: tuple[str, ...] = WRITE_ROOTS) -> Path:
        """Absolute path of ``relpath``, refused unless it stays inside one of ``roots``.

        Links are followed: a link inside a root that points outside it is refused.
        """
        pure = PurePosixPath(relpath.replace("\\", "/"))
        if pure.is_absolute() or relpath.startswith(("/", "\\")) or _DRIVE.match(relpath):
            raise PathError(f"path {relpath!r} is absolute: give it relative to {self.root}")
        if any(part == ".." for part in pure.parts) or not pure.parts:
            raise PathError(f"path {relpath!r} contains '..' or is empty: paths must stay inside")
        return self._inside((self.root / pure).resolve(), relpath, roots)

    def _inside(self, target: Path, shown: str, roots: tuple[str, ...]) -> Path:
        # The roots are taken literally under the (resolved) repository root: a root that is
        # itself a link to somewhere else does not carry writes out of the repository.
        if not any(target == a or a in target.parents for a in (self.root / r for r in roots)):
            names = ", ".join(f"{r}/" for r in roots)
            raise PathError(f"path {shown!r} resolves to {target}, outside {names} of {self.root}")
        return target

    def check_inside(self, path: Path, *, roots: tuple[str, ...] = WRITE_ROOTS) -> Path:
        """Refuse an absolute ``path`` (links resolved) that is not under one of ``roots``."""
        target = self._resolve_below_root(path)
        if target != self.root and self.root not in target.parents:
            raise PathError(f"path {path} is outside the repository {self.root}")
        return self._inside(target, str(path), roots)

    def _resolve_below_root(self, path: Path) -> Path:
        """``path.resolve()``, looking only at the parts below the (resolved) root when
        ``path`` is plainly under it: the root is not looked at again, and a part that does
        not exist ends the walk (nothing below it can be a link)."""
        if not path.is_absolute() or ".." in path.parts:
            return path.resolve()
        try:
            below = path.relative_to(self.root).parts
        except ValueError:
            return path.resolve()
        current = self.root
        parts = [part for part in below if part != "."]
        for n, part in enumerate(parts):
            current = current / part
            try:
                mode = os.lstat(current).st_mode
            except FileNotFoundError:  # nothing below a missing part exists, nor is a link
                return current.joinpath(*parts[n + 1 :])
            except OSError:
                return path.resolve()
            if stat.S_ISLNK(mode):
                return path.resolve()
        return current

    def run_dir(self, folder: str) -> Path:
        """``mcp/runs/<folder>`` (not created)."""
        return self.resolve_relative(f"{RUNS}/{folder}")

    # -- writes ------------------------------------------------------------------------

    def write_bytes(self, path: Path, data: bytes) -> Path:
        """Atomically write ``data`` to ``path`` (which must be inside an allowed root)."""
        target = self.check_inside(path)
        atomic_write(target, data)
        return target

    def write_text(self, path: Path, text: str) -> Path:
        """Atomically write UTF-8 ``text``."""
        return self.write_bytes(path, text.encode("utf-8"))

    @contextlib.contextmanager
    def run_lock(self, folder: str) -> Iterator[None]:
        """Hold an exclusive lock on one run id; a second holder fails at once with LockError."""
        lock_dir = self.resolve_relative(f"{RUNS}/.locks")
        lock_dir.mkdir(parents=True, exist_ok=True)
        lock_path = lock_dir / f"{folder}.lock"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                if err.errno in (errno.EAGAIN, errno.EACCES):
                    raise LockError(
                        f"run {folder} is being gated by another process (lock {lock_path}); "
                        "wait for it to finish, then re-run: the second run reuses its decision"
                    ) from err
                raise
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


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


def write_temp(
    target: Path, data: bytes, *, suffix: str = ".tmp", make_dirs: bool = True
) -> tuple[Path, int]:
    """Create a temporary file beside ``target`` (its folder created when missing, unless
    ``make_dirs`` is false: the caller did) holding ``data``; returns its path and its open
    descriptor (not yet fsynced: the caller does)."""
    if make_dirs:
        target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    try:
        os.fchmod(fd, file_mode())  # mkstemp gives 0600: records and catalogs are for readers
    except OSError:
        os.close(fd)
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise
    return fill_temp(Path(tmp), fd, data)


@functools.cache
def file_mode() -> int:
    """The mode a new file gets from ``open()`` in this process: 0o666 less the umask (read
    from ``/proc/self/status``, without changing it; 022 assumed where that is unavailable).
    Secrets (the masking key) are written elsewhere, with 0600."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o644


def fill_temp(tmp: Path, fd: int, data: bytes) -> tuple[Path, int]:
    """Write all of ``data`` to the open temporary ``tmp``; on failure it is closed and
    removed. Returns ``(tmp, fd)``."""
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return tmp, fd


def atomic_write_all(
    files: Mapping[Path, bytes],
    *,
    sync_with: Iterable[int | Path] = (),
    defer_dirs: list[Path] | None = None,
) -> None:
    """Write several files, each atomically (temp beside it, fsync, rename), in three steps
    shared by all of them: the temporaries (and the open descriptors ``sync_with``, e.g. a
    file just appended to) are fsynced together, then every temporary is renamed over its
    target, then each folder is fsynced once. No target is replaced before every file and
    descriptor (or folder) of ``sync_with`` is on disk; a crash leaves each target old or
    new, never half written. ``defer_dirs``: the folders are appended to this list instead
    of being fsynced here (the caller fsyncs them with its own, before relying on them).
    """
    temps: list[tuple[Path, Path]] = []
    fds: list[int] = []
    current = next(iter(files), None)
    try:
        try:
            for target, data in files.items():
                current = target
                tmp, fd = write_temp(target, data)
                temps.append((tmp, target))
                fds.append(fd)
            fsync_all([*sync_with, *fds])
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
        for tmp, target in temps:
            current = target
            tmp.replace(target)
        folders = sorted({target.parent for _, target in temps})
        if defer_dirs is not None:
            defer_dirs.extend(folders)
        else:
            fsync_all(folders)
    except BaseException as err:
        for tmp, _ in temps:
            with contextlib.suppress(OSError):
                tmp.unlink()
        if isinstance(err, OSError):
            raise RecordError(f"could not write {current}: {err.strerror or err}") from err
        raise


def atomic_write(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` via a temp file in the same folder, fsync and rename."""
    atomic_write_all({target: data})
