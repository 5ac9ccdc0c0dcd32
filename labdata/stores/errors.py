"""Backend errors (botocore, aiohttp, OS) translated, in this one place, into labdata's errors.

Every call a store makes to its backend runs inside :func:`translated`, which
names the storage and the path in the message and says what to do next:

=====================================  =============================================
backend error                          raised
=====================================  =============================================
missing object, bucket or file         :class:`FileNotFoundError`
access denied, bad credentials         :class:`~labdata.core.errors.StorageAccessError`
endpoint unreachable, timeouts         :class:`~labdata.core.errors.StorageUnavailableError`
any other backend error                :class:`~labdata.core.errors.StorageError`
=====================================  =============================================
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from labdata.core.errors import LabdataError, StorageAccessError, StorageError, StorageUnavailableError

__all__ = ["translated"]

_MISSING = {"NoSuchKey", "NoSuchBucket", "404", "NotFound", "NoSuchUpload"}
_DENIED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "Forbidden",
           "ExpiredToken", "InvalidToken", "AllAccessDisabled"}


@contextlib.contextmanager
def translated(storage: str, path: str, action: str) -> Iterator[None]:
    """Translate backend errors raised inside the block.

    Parameters
    ----------
    storage : str
        The storage's name (a key of ``storage`` in the preferences).
    path : str
        The object or file the block works on.
    action : str
        What the block does, for the message (``"upload"``, ``"download"``, ...).
    """
    try:
        yield
    except (LabdataError, KeyboardInterrupt):
        raise
    except FileNotFoundError as error:
        raise FileNotFoundError(f"{action}: {path!r} does not exist in storage {storage!r} ({error}).") from error
    except PermissionError as error:
        raise _denied(storage, path, action, error) from error
    except Exception as error:
        raise _classified(storage, path, action, error) from error


def _code(error: BaseException) -> str | None:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code"))
    return None


def _classified(storage: str, path: str, action: str, error: Exception) -> Exception:
    code = _code(error)
    if code in _MISSING:
        return FileNotFoundError(f"{action}: {path!r} does not exist in storage {storage!r} ({code}).")
    if code in _DENIED:
        return _denied(storage, path, action, error)
    name = type(error).__name__
    if isinstance(error, ConnectionError | TimeoutError) or "Connect" in name or "Timeout" in name:
        return StorageUnavailableError(
            f"{action} of {path!r}: storage {storage!r} cannot be reached ({name}: {error}).",
            hint=f"Check storage.{storage}.endpoint and the network, then run the command again.")
    return StorageError(f"{action} of {path!r} in storage {storage!r} failed ({name}: {error}).",
                        hint="Run the command again; if it keeps failing, show this message to your admin.")


def _denied(storage: str, path: str, action: str, error: BaseException) -> StorageAccessError:
    return StorageAccessError(
        f"{action} of {path!r}: storage {storage!r} refused access ({type(error).__name__}: {error}).",
        hint=f"Check storage.{storage}.access_key and storage.{storage}.secret_key "
             f"(labdata config set storage.{storage}.secret_key ...), or ask your admin for access.")
