"""The masking key: where it comes from, and the sub-keys derived from it.

The key is a secret that never enters the repository, the catalog, provenance or a log. It is
read from ``KFM_MASK_KEY`` (at least 32 characters) or from a key file outside the repository:
``KFM_MASK_KEY_FILE`` or ``~/.config/kfm-gate/mask.key``. Only the default file is created on
first use (32 random bytes, hex, mode 0600, when creation is allowed), and its creation is
announced once on stderr with the key id (never the key): a file named by
``KFM_MASK_KEY_FILE`` that does not exist is an error, not a new key (a second key would be a
second draw of every masked site, and draws can be averaged). A keyed method without a key
fails closed with :class:`~kfm_gate.errors.ObligationError`.

Only one-way values derived with BLAKE2b ever leave this module: per-draw sub-keys (used in
memory) and :attr:`MaskKey.key_id`, a keyed digest of a fixed label that tells two keys apart
in provenance without revealing either.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kfm_gate.errors import ConfigError, ObligationError

ENV_KEY = "KFM_MASK_KEY"
ENV_KEY_FILE = "KFM_MASK_KEY_FILE"
DEFAULT_KEY_FILE = Path("~/.config/kfm-gate/mask.key")
#: fewest characters accepted from the environment or a key file
MIN_KEY_CHARS = 32
_PERSON = b"kfm-gate-mask-v1"  # BLAKE2b personalization (16 bytes)


@dataclass(frozen=True)
class MaskKey:
    """The secret masking key. ``repr`` and ``str`` never show it."""

    secret: bytes = field(repr=False)
    source: str  # "env" or "file" (never the value)

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_KEY_CHARS:
            raise ConfigError(
                f"masking key from {self.source} has {len(self.secret)} bytes; at least "
                f"{MIN_KEY_CHARS} are needed: generate one with "
                "`python -c 'import secrets; print(secrets.token_hex(32))'`"
            )

    def __str__(self) -> str:
        return f"MaskKey(source={self.source}, id={self.key_id})"

    @property
    def key_id(self) -> str:
        """A public identifier of this key (keyed digest of a fixed label), for provenance."""
        h = hashlib.blake2b(b"key-id", key=self.secret[:64], digest_size=8, person=_PERSON)
        return "blake2b:" + h.hexdigest()

    def subkey(self, label: str, size: int = 16) -> bytes:
        """A sub-key for one purpose (``label`` names method, epoch, parameters, attempt)."""
        h = hashlib.blake2b(
            label.encode("utf-8"), key=self.secret[:64], digest_size=size, person=_PERSON
        )
        return h.digest()


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def key_file_path(env: Mapping[str, str] | None = None) -> Path:
    """The key file in use: ``KFM_MASK_KEY_FILE`` or ``~/.config/kfm-gate/mask.key``."""
    environ = os.environ if env is None else env
    override = environ.get(ENV_KEY_FILE)
    return Path(override).expanduser() if override else DEFAULT_KEY_FILE.expanduser()


def load_mask_key(
    *,
    repo_root: Path | None = None,
    env: Mapping[str, str] | None = None,
    create: bool = True,
) -> MaskKey:
    """Find the masking key, or fail closed.

    ``KFM_MASK_KEY`` wins when set (an empty value is an error, not "no key"). Otherwise the key
    file is read; the default file (no ``KFM_MASK_KEY_FILE``) is created when ``create`` is
    true, a named one never (ConfigError when it does not exist). A key file inside
    ``repo_root`` is refused, as is a key file readable by group or others.
    """
    environ = os.environ if env is None else env
    if ENV_KEY in environ:
        value = environ[ENV_KEY].strip()
        if not value:
            raise ObligationError(
                f"{ENV_KEY} is set but empty: set it to a secret of at least {MIN_KEY_CHARS} "
                f"characters, or unset it to use the key file {key_file_path(environ)}"
            )
        return MaskKey(value.encode("utf-8"), source="env")

    path = key_file_path(environ)
    if repo_root is not None and _inside(path, repo_root):
        raise ConfigError(
            f"masking key file {path} is inside the repository {repo_root}: a key must never be "
            f"committed; point {ENV_KEY_FILE} to a file outside it"
        )
    if not path.exists():
        if environ.get(ENV_KEY_FILE):
            raise ConfigError(
                f"{ENV_KEY_FILE} names {path}, which does not exist: a named key file is never "
                "created (a new key would re-draw every masked location); restore the file, "
                f"fix the path, or unset {ENV_KEY_FILE} to use the default key file"
            )
        if not create:
            raise ObligationError(
                f"no masking key: {ENV_KEY} is unset and {path} does not exist; a keyed "
                f"masking method cannot run without one (set {ENV_KEY} or create the file)"
            )
        if _create_key_file(path):
            key = _read_key_file(path)
            sys.stderr.write(
                f"kfm-gate: created a new masking key file {path} (key id {key.key_id}); back "
                "it up: a different key re-draws every masked location\n"
            )
            return key
    return _read_key_file(path)


def _create_key_file(path: Path) -> bool:
    """Create the key file; False when another process created it first (read theirs)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    except OSError as err:
        raise ObligationError(
            f"cannot create the masking key file {path}: {err.strerror}; set {ENV_KEY} or "
            f"{ENV_KEY_FILE} to a writable place outside the repository"
        ) from err
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as err:  # a half-written key would be a different key: remove it
        path.unlink(missing_ok=True)
        raise ObligationError(
            f"cannot write the masking key file {path}: {err.strerror}; free space or set {ENV_KEY}"
        ) from err
    return True


def _read_key_file(path: Path) -> MaskKey:
    try:
        mode = path.stat().st_mode
        if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(
                f"masking key file {path} is readable by group or others "
                f"(mode {stat.S_IMODE(mode):o}); run `chmod 600 {path}`"
            )
        value = path.read_text(encoding="utf-8").strip()
    except OSError as err:
        raise ObligationError(
            f"cannot read the masking key file {path}: {err.strerror}; fix its permissions "
            f"or set {ENV_KEY}"
        ) from err
    if not value:
        raise ObligationError(
            f"masking key file {path} is empty: restore it from your backup (a new key re-draws every displacement)"
        )
    return MaskKey(value.encode("utf-8"), source="file")
