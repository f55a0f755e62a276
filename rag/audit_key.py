"""The secret that keys the audit chain, kept outside the data directory.

Someone who can write the data directory (the database and the checkpoint file beside it) must not be able to
recompute the chain, so its hashes are HMAC-SHA256 under a key they cannot read. The key comes from
`CTRLMAP_AUDIT_KEY`, or a file named by `CTRLMAP_AUDIT_KEY_FILE`, or else the default file
`$XDG_CONFIG_HOME/ctrlmap/audit.key` (`~/.config/ctrlmap/audit.key`), generated on first use with mode 0600.
A key file inside the data directory, or readable by group or others, is refused with a clear error.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from rag.errors import ConfigError
from rag.settings import Settings

MIN_KEY_BYTES = 16


@dataclass(frozen=True)
class AuditKey:
    secret: bytes
    source: str  # where it came from, for messages (never the key itself)

    @property
    def key_id(self) -> str:
        """A short public name for the key: it tells keys apart without revealing them."""
        return hmac.new(self.secret, b"ctrlmap audit key id", hashlib.sha256).hexdigest()[:12]

    def mac(self, payload: str) -> str:
        return hmac.new(self.secret, payload.encode("utf-8"), hashlib.sha256).hexdigest()


def default_key_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "ctrlmap" / "audit.key"


def load_key(settings: Settings) -> AuditKey:
    """The configured key; the default file is created when nothing is configured."""
    if settings.audit_key is not None:
        secret = settings.audit_key.get_secret_value().encode("utf-8")
        if len(secret) < MIN_KEY_BYTES:
            raise ConfigError(f"CTRLMAP_AUDIT_KEY must be at least {MIN_KEY_BYTES} characters long")
        return AuditKey(secret, "CTRLMAP_AUDIT_KEY")
    path = Path(settings.audit_key_file) if settings.audit_key_file else default_key_file()
    _check_outside(path, settings.data_dir)
    return _read_key_file(path.expanduser().resolve(), create=settings.audit_key_file is None)


def _check_outside(path: Path, data_dir: Path) -> None:
    if path.expanduser().resolve().is_relative_to(Path(data_dir).expanduser().resolve()):
        raise ConfigError(f"the audit key file {path} is inside the data directory {data_dir}; keep it elsewhere "
                          "(whoever can write the data directory must not be able to read the key)")


def _read_key_file(path: Path, create: bool) -> AuditKey:
    if not path.exists():
        if not create:
            raise ConfigError(f"the audit key file {path} (CTRLMAP_AUDIT_KEY_FILE) does not exist")
        _generate(path)
    mode = path.stat().st_mode
    if os.name == "posix" and mode & 0o077:
        raise ConfigError(f"the audit key file {path} is readable by group or others (mode {mode & 0o777:o}); "
                          f"run: chmod 600 {path}")
    try:
        secret = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the audit key file {path}: {exc.strerror}") from None
    if len(secret) < MIN_KEY_BYTES:
        raise ConfigError(f"the audit key file {path} holds fewer than {MIN_KEY_BYTES} bytes")
    return AuditKey(secret, str(path))


def _generate(path: Path) -> None:
    """A new key, written whole to a file of its own and then linked into place: a process that finds the
    file never reads it half-written, and of processes generating at once only the first one's key stays."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
        os.link(tmp, path)
    except FileExistsError:  # another process made it first
        pass
    finally:
        tmp.unlink(missing_ok=True)
