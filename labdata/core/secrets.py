"""Encryption of the secrets kept in the preference file, and which keys are secrets.

Secrets (database password, S3 keys, a catalog DSN holding a password) are stored
as ``"encrypted:<Fernet token>"``. The Fernet key is machine-local: it lives in
``$LABDATA_PATH/.labdata_encrypted.key`` (default ``~/labdata``), is created on
first use with mode ``0o600`` and never leaves the machine. A preference file
copied to another machine therefore needs its secrets re-entered there.

Key file permissions: when the key file is readable or writable by group or
others, it is tightened to ``0o600`` and a :class:`LabdataWarning` is emitted;
if it cannot be tightened (the file belongs to another user), a
:class:`SecretError` is raised. On Windows the mode is not checked.

Nothing here touches the disk or the environment at import time, and
``cryptography`` is imported only when a key is needed.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TypeGuard

from labdata.core.errors import LabdataWarning, SecretError

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

__all__ = [
    "KEY_FILE_NAME",
    "PREFIX",
    "SECRET_KEYS",
    "decrypt",
    "default_key_file",
    "dsn_has_password",
    "encrypt",
    "encrypt_plain",
    "find_keys",
    "is_encrypted",
    "is_secret_key",
    "load_key",
    "resolve_labdata_path",
]

PREFIX = "encrypted:"
KEY_FILE_NAME = ".labdata_encrypted.key"
#: Dotted preference keys holding secrets ("*" matches any storage name).
#: ``catalog.dsn`` counts as a secret only when it embeds a password.
SECRET_KEYS = ("database.password", "storage.*.access_key", "storage.*.secret_key",
               "compute.aws.access_key", "compute.aws.secret_key", "catalog.dsn")
_DSN_PASSWORD = re.compile(r"(?:^|[\s;:?&])password\s*=|://[^/@\s]*:[^/@\s]*@", re.IGNORECASE)
_RESTORE_HINT = (
    "Re-enter {key}: write its plain value in the preference file (it is encrypted again at "
    "the next load), or restore the key file {path} it was encrypted with."
)


def resolve_labdata_path(environ: Mapping[str, str] | None = None) -> Path:
    """Return the labdata folder: ``$LABDATA_PATH`` or ``~/labdata``, with ``~`` expanded.

    Parameters
    ----------
    environ : Mapping[str, str], optional
        Environment to read; ``os.environ`` at call time by default.
    """
    env = os.environ if environ is None else environ
    return Path(env.get("LABDATA_PATH") or "~/labdata").expanduser()


def default_key_file(environ: Mapping[str, str] | None = None) -> Path:
    """Return the path of the machine-local key file in the labdata folder."""
    return resolve_labdata_path(environ) / KEY_FILE_NAME


def is_encrypted(value: object) -> TypeGuard[str]:
    """Tell whether a value is an ``"encrypted:<token>"`` string.

    Examples
    --------
    >>> is_encrypted("encrypted:gAAAA..."), is_encrypted("hunter2"), is_encrypted(None)
    (True, False, False)
    """
    return isinstance(value, str) and value.startswith(PREFIX)


def is_secret_key(key: str) -> bool:
    """Tell whether a dotted preference key holds a secret stored encrypted.

    Examples
    --------
    >>> is_secret_key("storage.data.secret_key"), is_secret_key("storage.data.bucket")
    (True, False)
    """
    parts = key.split(".")
    return any(len(parts) == len(pattern.split(".")) and all(
        want in ("*", part) for want, part in zip(pattern.split("."), parts, strict=True))
        for pattern in SECRET_KEYS)


def dsn_has_password(dsn: str) -> bool:
    """Tell whether a catalog DSN embeds a password (``password=...`` or ``user:pw@``).

    Examples
    --------
    >>> dsn_has_password("postgresql://ana:pw@db/lake"), dsn_has_password("dbname=lake host=db")
    (True, False)
    """
    return bool(_DSN_PASSWORD.search(dsn))


def find_keys(data: object, pattern: str, prefix: str = "") -> Iterator[tuple[str, object]]:
    """Yield ``(dotted key, value)`` for the keys of nested dicts matching a pattern.

    Examples
    --------
    >>> list(find_keys({"storage": {"a": {"bucket": "x"}, "b": {}}}, "storage.*.bucket"))
    [('storage.a.bucket', 'x')]
    """
    head, _, rest = pattern.partition(".")
    if not isinstance(data, dict):
        return
    for name in data if head == "*" else [head] if head in data else []:
        key = f"{prefix}{name}"
        yield from find_keys(data[name], rest, f"{key}.") if rest else [(key, data[name])]


def encrypt_plain(data: dict[str, object], *, key_file: str | Path | None = None) -> list[str]:
    """Encrypt in place the plain-text secrets (:data:`SECRET_KEYS`) of a preference dict.

    Returns
    -------
    list of str
        The dotted keys that were encrypted.
    """
    changed = []
    for pattern in SECRET_KEYS:
        for key, value in list(find_keys(data, pattern)):
            if not isinstance(value, str) or not value or is_encrypted(value):
                continue
            if key != "catalog.dsn" or dsn_has_password(value):
                *parents, last = key.split(".")
                node = data
                for part in parents:
                    node = node[part]  # type: ignore[assignment]
                node[last] = encrypt(value, key_file=key_file)
                changed.append(key)
    return changed


def load_key(key_file: str | Path, *, create: bool = False) -> bytes:
    """Read the Fernet key, creating it (mode ``0o600``) when asked and missing.

    Parameters
    ----------
    key_file : str or Path
        The key file.
    create : bool
        Create a new key when the file does not exist.

    Returns
    -------
    bytes
        The url-safe base64 Fernet key.

    Raises
    ------
    SecretError
        The file is missing (and ``create`` is false), unreadable, corrupt, or
        too open and cannot be tightened.
    """
    path = Path(key_file).expanduser()
    if create and not path.exists():
        _create_key(path)
    try:
        _check_mode(path)
        key = path.read_bytes().strip()
    except FileNotFoundError as exc:
        raise SecretError(
            f"The encryption key file {path} does not exist.",
            hint=f"Restore {path} from a backup, or re-enter the secrets it encrypted.",
        ) from exc
    except OSError as exc:
        raise SecretError(f"Cannot read the encryption key file {path}: {exc}",
                          hint="Check the permissions of the file and of its folder.") from exc
    from cryptography.fernet import Fernet

    try:
        Fernet(key)
    except ValueError as exc:
        hint = f"Restore {path} from a backup, or delete it and re-enter every secret."
        raise SecretError(f"The encryption key file {path} is corrupt.", hint=hint) from exc
    return key


def encrypt(text: str, *, key_file: str | Path | None = None) -> str:
    """Encrypt a secret into ``"encrypted:<token>"``.

    A value that is already encrypted is returned unchanged.

    Parameters
    ----------
    text : str
        The plain-text secret.
    key_file : str or Path, optional
        The key file; :func:`default_key_file` by default. Created if missing.

    Returns
    -------
    str
        ``"encrypted:"`` followed by the Fernet token.

    Raises
    ------
    SecretError
        The key file cannot be created or read.
    """
    if is_encrypted(text):
        return text
    fernet = _fernet(key_file, create=True)
    return PREFIX + fernet.encrypt(text.encode("utf-8")).decode("ascii")


def decrypt(
    value: str | None, *, key_file: str | Path | None = None, name: str = "<key>"
) -> str | None:
    """Decrypt an ``"encrypted:<token>"`` value; plain values and None pass through.

    Parameters
    ----------
    value : str or None
        The stored value.
    key_file : str or Path, optional
        The key file; :func:`default_key_file` by default. Never created here.
    name : str
        The preference key the value belongs to, used in error messages.

    Returns
    -------
    str or None
        The plain-text secret.

    Raises
    ------
    SecretError
        The key file is missing or the token was encrypted with another key.
    """
    if not is_encrypted(value):
        return value
    from cryptography.fernet import InvalidToken

    path = Path(key_file).expanduser() if key_file is not None else default_key_file()
    fernet = _fernet(path, create=False)
    try:
        return fernet.decrypt(value[len(PREFIX):].encode("ascii")).decode("utf-8")
    except (InvalidToken, ValueError) as exc:
        raise SecretError(
            f"The secret {name!r} cannot be decrypted with the key file {path} "
            "(the key file was replaced, or the value was encrypted on another machine).",
            hint=_RESTORE_HINT.format(key=name, path=path),
        ) from exc


def _fernet(key_file: str | Path | None, *, create: bool) -> Fernet:
    from cryptography.fernet import Fernet

    path = Path(key_file).expanduser() if key_file is not None else default_key_file()
    return Fernet(load_key(path, create=create))


def _create_key(path: Path) -> None:
    """Write a new key atomically; if another process won the race, keep its key."""
    from cryptography.fernet import Fernet

    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".labdata_key.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:  # mkstemp opens with mode 0o600
            handle.write(Fernet.generate_key())
        os.link(tmp, path)  # atomic, and never replaces a key written meanwhile
    except FileExistsError:
        pass
    except OSError as exc:
        hint = f"Make {path.parent} writable, or set LABDATA_PATH to a writable folder."
        message = f"Cannot create the encryption key file {path}: {exc}"
        raise SecretError(message, hint=hint) from exc
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def _check_mode(path: Path) -> None:
    """Tighten a key file readable by group/others to 0o600 (POSIX only)."""
    if os.name == "nt":
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if not mode & 0o077:
        return
    try:
        os.chmod(path, 0o600)
    except OSError as exc:
        raise SecretError(
            f"The encryption key file {path} has mode {mode:o} (readable by others) "
            f"and cannot be restricted: {exc}",
            hint=f"Run `chmod 600 {path}` as its owner.",
        ) from exc
    warnings.warn(f"The encryption key file {path} had mode {mode:o}; restricted it to 600.",
                  LabdataWarning, stacklevel=4)
