"""Where kfm-gate may write, and how: inside the allowed roots, atomically, one run at a time.

:class:`Layout` is the one place that builds the paths of a repository (partition, public view,
release, STAC item and collection, DCAT, graph, run, attempt, ledger, journal, locks) and the
one place that writes a file. Writes go only under ``data/processed/``, ``data/stac/``,
``data/graph/`` and ``mcp/`` of the repository root. Absolute paths, ``..`` and links that
leave those roots are refused (:class:`~kfm_gate.errors.PathError`); every file written or
locked is checked after its links are resolved. Every file is written to a temporary name,
fsynced, then renamed over the target, so a crash leaves the old file or the new one, never
half of it; files written together share their fsyncs (:func:`atomic_write_all`, and
:mod:`kfm_gate.journal` for sets of files that must appear together). Files get the mode
``open()`` would give them (0o666 less the umask), not the temporary's 0600: catalogs are
meant to be read.

Every write, rename, link and removal first tells the layout's :class:`Checkpoints` which step
it is about to take (``stage mcp/runs/<run>/decision.json``, ``rename ...``, ``ledger line``,
...). The default does nothing; ``KFM_GATE_CHECKPOINT=kill:<step>`` (or ``enospc:<step>``, or
``#<n>`` for the n-th step) stops the process there, which is how the crash suite proves that
any step may be the last one.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import signal
import stat
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from kfm_gate.errors import LockError, PathError, RecordError, describe_failure
from kfm_gate.ids import run_folder_name

if TYPE_CHECKING:
    from kfm_gate.models import PromotionRequest

#: folders (relative to the repository root) kfm-gate may write into
WRITE_ROOTS: tuple[str, ...] = ("data/processed", "data/stac", "data/graph", "mcp")
PROCESSED = "data/processed"
STAC = "data/stac"
GRAPH = "data/graph"
MCP = "mcp"
RUNS = "mcp/runs"
LEDGER = "mcp/ledger.jsonl"
#: the committed journal of the transaction being finished, and its staging area
JOURNAL = "mcp/.journal.json"
STAGING = "mcp/.staging"
#: the repository's transaction (publication) lock, and the finished journal kept for reuse
PUBLISH_LOCK = "mcp/.publish.lock"
JOURNAL_SPARE = "mcp/.journal.spare"
#: a run's error attempts and superseded decisions, inside its folder
ATTEMPTS = "attempts"
#: the masked public view inside a run folder (allowed runs only)
PUBLIC_VIEW = "public"
#: the publication state of a partition, beside its candidate
RELEASE_FILE = "release.json"
GRAPH_FILE = "data/graph/lineage.nt"
DCAT_FILE = "dcat.ttl"
_DRIVE = re.compile(r"^[A-Za-z]:")

#: the environment variables of :func:`checkpoints_from_env`
CHECKPOINT_ENV = "KFM_GATE_CHECKPOINT"
CHECKPOINT_LOG_ENV = "KFM_GATE_CHECKPOINT_LOG"


# -- checkpoints --------------------------------------------------------------------------


@runtime_checkable
class Checkpoints(Protocol):
    """Told the name of every write step before it is taken (see the module docstring)."""

    def reached(self, step: str) -> None: ...


class NoCheckpoints:
    """The default: every step goes ahead."""

    def reached(self, step: str) -> None:
        return None


class FaultCheckpoints:
    """Stops at one step: ``kill`` sends this process SIGKILL, ``enospc`` raises
    ``OSError(ENOSPC)`` (once); ``log`` (a file) receives every step name, one a line.

    ``step`` is a step name or ``#<n>``, the n-th step reached (1-based) in this process.
    """

    def __init__(self, action: str | None, step: str | None, log: Path | None = None) -> None:
        if action not in (None, "kill", "enospc"):
            raise ValueError(f"{CHECKPOINT_ENV} action {action!r}: use kill or enospc")
        self.action = action
        self.step = step
        self.log = log
        self.count = 0
        self.fired = False
        self._lock = threading.Lock()

    def reached(self, step: str) -> None:
        with self._lock:
            self.count += 1
            n = self.count
            if self.log is not None:
                with self.log.open("a", encoding="utf-8") as fh:
                    fh.write(step + "\n")
            hit = not self.fired and (self.step == step or self.step == f"#{n}")
            if hit:
                self.fired = True
        if hit and self.action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if hit and self.action == "enospc":
            raise OSError(errno.ENOSPC, f"No space left on device (injected at {step})")


_ENV_CHECKPOINTS: dict[tuple[str, str], Checkpoints] = {}


def checkpoints_from_env(environ: Mapping[str, str] | None = None) -> Checkpoints:
    """The checkpoints the environment asks for (shared by every layout of the process, so
    ``#<n>`` counts every step); :class:`NoCheckpoints` when it asks for none."""
    env = os.environ if environ is None else environ
    spec, log = env.get(CHECKPOINT_ENV, ""), env.get(CHECKPOINT_LOG_ENV, "")
    if not spec and not log:
        return NoCheckpoints()
    found = _ENV_CHECKPOINTS.get((spec, log))
    if found is None:
        action, _, step = spec.partition(":") if spec else ("", "", "")
        found = FaultCheckpoints(action or None, step or None, Path(log) if log else None)
        _ENV_CHECKPOINTS[(spec, log)] = found
    return found


# -- the layout ---------------------------------------------------------------------------


class Layout:
    """The repository a gate works in: its paths, and every write into it."""

    def __init__(self, root: Path, *, checkpoints: Checkpoints | None = None) -> None:
        self.root = root.resolve()
        self.checkpoints: Checkpoints = (
            checkpoints if checkpoints is not None else checkpoints_from_env()
        )
        self.file_mode = current_file_mode()
        #: the write roots of this layout, as strings (per tuple of roots asked for)
        self._roots: dict[tuple[str, ...], tuple[str, ...]] = {}

    def rel(self, path: Path) -> str:
        """``path`` relative to the root (``str(path)`` when it is not under it)."""
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def step(self, action: str, path: Path | None = None) -> None:
        """Tell the checkpoints the next step (``<action> <path relative to the root>``)."""
        self.checkpoints.reached(action if path is None else f"{action} {self.rel(path)}")

    # -- paths: partitions -----------------------------------------------------------------

    def partition_rel(self, pipeline: str, dataset: str, aoi_key: str, time_key: str) -> str:
        """``data/processed/<pipeline>/<dataset>/<aoi>/<day>`` (relative)."""
        return partition_rel(pipeline, dataset, aoi_key, time_key)

    def partition_dir(self, pipeline: str, dataset: str, aoi_key: str, time_key: str) -> Path:
        """The partition's folder under ``data/processed/`` (checked, not created)."""
        return self.resolve_relative(self.partition_rel(pipeline, dataset, aoi_key, time_key))

    def request_partition(self, request: PromotionRequest) -> Path:
        part = request.partition
        return self.partition_dir(request.pipeline, request.dataset, part.aoi_key, part.time_key)

    def public_dir(self, request: PromotionRequest, run_id: str) -> Path:
        """Where the publisher puts a run's public view: ``<partition>/public/<run folder>``."""
        return self.resolve_relative(public_rel(request, run_id))

    def release_path(self, request: PromotionRequest) -> Path:
        """The partition's publication state (``<partition>/release.json``)."""
        return self.request_partition(request) / RELEASE_FILE

    def work_dir(self, run_id: str) -> Path:
        """The gate's scratch folder of one run (the public view before it is recorded)."""
        return self.resolve_relative(f"{MCP}/work/{run_folder_name(run_id)}")

    # -- paths: catalogs -------------------------------------------------------------------

    def collection_dir(self, collection_id: str) -> Path:
        return self.resolve_relative(f"{STAC}/{collection_id}")

    def collection_path(self, collection_id: str) -> Path:
        return self.collection_dir(collection_id) / "collection.json"

    def item_dir(self, collection_id: str, item_id: str) -> Path:
        return self.collection_dir(collection_id) / item_id

    def item_path(self, collection_id: str, item_id: str) -> Path:
        return self.item_dir(collection_id, item_id) / "item.json"

    def dcat_path(self, collection_id: str) -> Path:
        return self.collection_dir(collection_id) / DCAT_FILE

    @property
    def graph_path(self) -> Path:
        return self.root / GRAPH_FILE

    # -- paths: records --------------------------------------------------------------------

    @property
    def runs_dir(self) -> Path:
        return self.root / RUNS

    def run_dir(self, run_id: str) -> Path:
        """``mcp/runs/<run folder>`` (not created)."""
        return self.resolve_relative(f"{RUNS}/{run_folder_name(run_id)}")

    def attempt_dir(self, run_id: str, attempt: str) -> Path:
        """``mcp/runs/<run folder>/attempts/<attempt>``: an error or a superseded decision."""
        return self.run_dir(run_id) / ATTEMPTS / attempt

    @property
    def ledger_path(self) -> Path:
        return self.root / LEDGER

    @property
    def journal_path(self) -> Path:
        return self.root / JOURNAL

    @property
    def staging_dir(self) -> Path:
        return self.root / STAGING

    @property
    def publish_lock_path(self) -> Path:
        return self.root / PUBLISH_LOCK

    def run_lock_path(self, folder: str) -> Path:
        return self.resolve_relative(f"{RUNS}/.locks/{folder}.lock")

    # -- containment -----------------------------------------------------------------------

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
        # (Compared as strings: ``target`` is absolute and normalized, a resolved path.)
        text = str(target)
        bases = self._roots.get(roots)
        if bases is None:
            bases = self._roots[roots] = tuple(str(self.root / r) for r in roots)
        if not any(text == b or text.startswith(b + "/") for b in bases):
            names = ", ".join(f"{r}/" for r in roots)
            raise PathError(
                f"path {shown!r} resolves to {target}, outside {names} of {self.root}; "
                "replace the link by a plain file or folder"
            )
        return target

    def check_inside(self, path: Path, *, roots: tuple[str, ...] = WRITE_ROOTS) -> Path:
        """Refuse an absolute ``path`` (links resolved) that is not under one of ``roots``."""
        target = self._resolve_below_root(path)
        root = str(self.root)
        if not (str(target) == root or str(target).startswith(root + "/")):
            raise PathError(
                f"path {path} resolves to {target}, outside the repository {self.root}; "
                "replace the link by a plain file or folder"
            )
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

    def preflight(self, paths: Iterable[Path]) -> None:
        """Check, before any work, every path a step will write or lock (PathError)."""
        for path in paths:
            self.check_inside(path)

    # -- writes ----------------------------------------------------------------------------

    def write_bytes(self, path: Path, data: bytes) -> Path:
        """Atomically write ``data`` to ``path`` (which must be inside an allowed root)."""
        target = self.check_inside(path)
        atomic_write_all({target: data}, layout=self)
        return target

    def write_text(self, path: Path, text: str) -> Path:
        """Atomically write UTF-8 ``text``."""
        return self.write_bytes(path, text.encode("utf-8"))

    @contextlib.contextmanager
    def lock(self, path: Path, *, wait: bool = True, busy: str = "") -> Iterator[None]:
        """Hold an exclusive ``flock`` on ``path`` (checked to be inside the roots): wait for
        it, or with ``wait=False`` fail at once with LockError (``busy`` says why)."""
        target = self.check_inside(path)
        try:
            if not target.parent.is_dir():
                target.parent.mkdir(parents=True, exist_ok=True)
                self.check_inside(target)  # a folder made here may not be a link
            fd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as err:
            raise RecordError(f"cannot open the lock {target}: {describe_failure(err)}") from err
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except OSError as err:
                if err.errno in (errno.EAGAIN, errno.EACCES):
                    raise LockError(busy or f"{target} is held by another process") from err
                raise
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    @contextlib.contextmanager
    def run_lock(self, folder: str) -> Iterator[None]:
        """Hold an exclusive lock on one run id; a second holder fails at once with LockError."""
        path = self.run_lock_path(folder)
        busy = (
            f"run {folder} is being gated by another process (lock {path}); "
            "wait for it to finish, then re-run: the second run reuses its decision"
        )
        with self.lock(path, wait=False, busy=busy):
            yield


def partition_rel(pipeline: str, dataset: str, aoi_key: str, time_key: str) -> str:
    """``data/processed/<pipeline>/<dataset>/<aoi>/<day>`` (relative to the root)."""
    return f"{PROCESSED}/{pipeline}/{dataset}/{aoi_key}/{time_key}"


def public_rel(request: PromotionRequest, run_id: str) -> str:
    """``data/processed/<pipeline>/<dataset>/<aoi>/<day>/public/<run folder>`` (relative)."""
    part = request.partition
    base = partition_rel(request.pipeline, request.dataset, part.aoi_key, part.time_key)
    return f"{base}/public/{run_folder_name(run_id)}"


def write_output(path: Path, data: bytes, *, make_dirs: bool = False) -> Path:
    """Write a file the user named (``--out``) atomically, where it is named: a link there is
    refused (it would carry the write elsewhere) and nothing is written; its folder must
    exist unless ``make_dirs``. PathError says what is wrong and the fix."""
    path = path if path.is_absolute() else Path.cwd() / path
    if path.is_symlink():
        raise PathError(
            f"{path} is a link (to {path.resolve()}): name the file itself, not a link; "
            "nothing was written"
        )
    if path.is_dir():
        raise PathError(f"{path} is a folder: name a file")
    if not path.parent.is_dir():
        if not make_dirs:
            raise PathError(f"the folder of {path} does not exist: create it first")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise PathError(f"cannot create the folder of {path}: {err.strerror or err}") from err
    atomic_write_all({path: data})
    return path


_POOL: Any = None
_POOL_LOCK = threading.Lock()


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
    error is raised. The threads are a process-wide pool (a resource, not a cache).
    """
    global _POOL
    work = list(items)
    if len(work) <= 1:
        for item in work:
            _fsync_one(item)
        return
    with _POOL_LOCK:
        if _POOL is None:
            from concurrent.futures import ThreadPoolExecutor

            _POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="kfm-fsync")
    futures = [_POOL.submit(_fsync_one, item) for item in work]
    errors = [err for err in (f.exception() for f in futures) if err is not None]
    if errors:
        raise errors[0]


def write_temp(
    target: Path,
    data: bytes,
    *,
    suffix: str = ".tmp",
    make_dirs: bool = True,
    folder: Path | None = None,
    mode: int | None = None,
) -> tuple[Path, int]:
    """Create a temporary file beside ``target`` (or in ``folder``) holding ``data`` (its
    folder created when missing, unless ``make_dirs`` is false: the caller did); returns its
    path and its open descriptor (not yet fsynced: the caller does)."""
    where = folder if folder is not None else target.parent
    if make_dirs and not where.is_dir():
        where.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=where)
    try:
        # mkstemp gives 0600: records and catalogs are for readers
        os.fchmod(fd, current_file_mode() if mode is None else mode)
    except OSError:
        os.close(fd)
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise
    return fill_temp(Path(tmp), fd, data)


def current_file_mode() -> int:
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


#: the old name of :func:`current_file_mode`
file_mode = current_file_mode


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
    layout: Layout | None = None,
    staging: Path | None = None,
) -> None:
    """Write several files, each atomically (temp beside it, fsync, rename), in three steps
    shared by all of them: the temporaries (and the open descriptors ``sync_with``, e.g. a
    file just appended to) are fsynced together, then every temporary is renamed over its
    target, then each folder is fsynced once. No target is replaced before every file and
    descriptor (or folder) of ``sync_with`` is on disk; a crash leaves each target old or
    new, never half written. ``defer_dirs``: the folders are appended to this list instead
    of being fsynced here (the caller fsyncs them with its own, before relying on them).
    ``layout``: its checkpoints are told each write and rename. ``staging``: the temporaries
    go there instead of beside their targets (a transaction's staging area, emptied by the next
    transaction: a crash leaves no temporary beside a target).
    """
    temps: list[tuple[Path, Path]] = []
    fds: list[int] = []
    current = next(iter(files), None)
    try:
        try:
            for target, data in files.items():
                current = target
                if layout is not None:
                    layout.step("write", target)
                if staging is not None and not target.parent.is_dir():
                    target.parent.mkdir(parents=True, exist_ok=True)
                tmp, fd = write_temp(
                    target,
                    data,
                    folder=staging,
                    mode=layout.file_mode if layout is not None else None,
                )
                temps.append((tmp, target))
                fds.append(fd)
            fsync_all([*sync_with, *fds])
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
        for tmp, target in temps:
            current = target
            if layout is not None:
                layout.step("rename", target)
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
