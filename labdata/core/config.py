"""The preference file of labdata: ``$LABDATA_PATH/user_preferences.json``.

The labdata folder is ``$LABDATA_PATH`` (default ``~/labdata``); it also holds the key
of the secrets (:mod:`labdata.core.secrets`). A non-empty ``LABDATA_PREFERENCES`` selects
another file, a name inside that folder or a path, which must exist. An explicit ``path``
given to :meth:`Preferences.load` wins over both and is created if missing.

Precedence, highest first: ``LABDATA_*`` variables (:data:`ENV_OVERRIDES`,
``LABDATA_OVERRIDE_DATAPATH``; in memory only, never saved) > the file plus
:meth:`Preferences.set` changes > the defaults (:func:`default_preferences`, deep-merged
in memory, never written into an existing file). Nothing is read at import time.

Secrets (:data:`~labdata.core.secrets.SECRET_KEYS`) never stay on disk in plain text:
plain values found at load are encrypted and the file re-saved; read them with
:meth:`Preferences.secret`.

Examples
--------
>>> prefs = Preferences.load()                                # doctest: +SKIP
>>> prefs["local_paths"], prefs.project, prefs.catalog.kind   # doctest: +SKIP
(['~/data'], None, <CatalogKind.SQLITE: 'sqlite'>)
>>> prefs.set("database.password", "s3cret"); prefs.save()    # doctest: +SKIP
"""

from __future__ import annotations

import copy
import json
import os
import socket
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Self

from labdata.core import secrets
from labdata.core.defaults import DATAPATH_VAR, DEFAULTS, ENV_OVERRIDES, PREFERENCES_FILE, default_preferences
from labdata.core.errors import ConfigError, LabdataWarning, did_you_mean
from labdata.core.prefs_file import (
    assign,
    join_location,
    locate_file,
    location,
    merge,
    read_or_create,
    validate,
    write_json,
)
from labdata.core.storage import StorageSettings

__all__ = [
    "ENV_OVERRIDES",
    "PREFERENCES_FILE",
    "CatalogKind",
    "CatalogSettings",
    "Preferences",
    "default_preferences",
    "n_jobs",
]

def n_jobs(environ: Mapping[str, str] | None = None) -> int:
    """Return the default parallelism: ``LABDATA_N_JOBS``, else ``SLURM_CPUS_ON_NODE``, else 8.

    Raises
    ------
    ConfigError
        The variable is not a positive integer.
    """
    env = os.environ if environ is None else environ
    for name in ("LABDATA_N_JOBS", "SLURM_CPUS_ON_NODE"):
        raw = env.get(name, "").strip()
        if not raw:
            continue
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value < 1:
            raise ConfigError(f"{name}={raw!r} is not a positive integer.",
                              hint=f"Set {name} to a number of processes such as 4, or unset it.")
        return value
    return 8


class CatalogKind(StrEnum):
    """The database holding the DuckLake catalog."""

    SQLITE = "sqlite"
    POSTGRES = "postgres"


@dataclass(frozen=True, slots=True)
class CatalogSettings:
    """Where the catalog lives, resolved from the ``catalog`` section and ``lake_path``.

    Attributes
    ----------
    kind : CatalogKind
        ``sqlite`` (embedded) or ``postgres``.
    dsn : str
        Decrypted. For ``sqlite`` the path of the SQLite file (default
        ``<lake_path>/catalog/catalog.sqlite``); for ``postgres`` a libpq string or URL.
    data_path : str
        Folder of the catalog's Parquet files (default ``<lake_path>/catalog``):
        an absolute local path, or a URL (``s3://...``) left as given.
    lake_path : str
        Root of the lake: an absolute local path or a URL.
    replica : bool
        Serve queries from an in-memory copy of the tables they read (``catalog.replica``).
    data_storage : StorageSettings, optional
        For a ``data_path`` on S3: the storage of the preferences whose bucket holds it (its endpoint and keys
        let DuckDB read and write the Parquet files; they are never written to the catalog).
    """

    kind: CatalogKind
    dsn: str = field(repr=False)
    data_path: str
    lake_path: str
    replica: bool = True
    data_storage: StorageSettings | None = field(default=None, repr=False)


class Preferences(Mapping[str, Any]):
    """The merged preferences: defaults < file (+ :meth:`set` changes) < environment.

    Build it with :meth:`load`. Reading returns copies: change values with
    :meth:`set`, then :meth:`save`.
    """

    def __init__(self, stored: Mapping[str, Any], *, path: str | Path,
                 labdata_path: str | Path, environ: Mapping[str, str]) -> None:
        self._path = Path(path)
        self._labdata_path = Path(labdata_path)
        self._environ = dict(environ)
        self._hostname = socket.gethostname()
        self._stored = copy.deepcopy(dict(stored))
        self._stored.pop("hostname", None)
        self._data = self._effective(self._stored)

    @classmethod
    def load(cls, path: str | Path | None = None, *,
             environ: Mapping[str, str] | None = None) -> Self:
        """Read the preference file, creating it with the defaults if missing.

        Plain-text secrets found in the file are encrypted and the file re-saved
        (a :class:`LabdataWarning` is emitted if it cannot be written).

        Parameters
        ----------
        path : str or Path, optional
            The file; by default ``$LABDATA_PREFERENCES`` or
            ``$LABDATA_PATH/user_preferences.json``.
        environ : Mapping[str, str], optional
            Environment to use; ``os.environ`` at call time by default.

        Raises
        ------
        ConfigError
            The file is missing (``LABDATA_PREFERENCES``), unreadable, not valid
            JSON, or a known key has the wrong type.
        SecretError
            The encryption key file cannot be created or read.
        """
        env = dict(os.environ if environ is None else environ)
        labdata_path = secrets.resolve_labdata_path(env)
        file = locate_file(path, labdata_path, env)
        prefs = cls(read_or_create(file), path=file, labdata_path=labdata_path, environ=env)
        if secrets.encrypt_plain(prefs._stored, key_file=prefs.key_file):
            prefs._data = prefs._effective(prefs._stored)
            try:
                prefs.save()
            except ConfigError as exc:
                warnings.warn(f"Plain-text secrets in {file} could not be re-saved "
                              f"encrypted: {exc}", LabdataWarning, stacklevel=2)
        return prefs

    def save(self) -> None:
        """Write the file values and :meth:`set` changes atomically (never env values).

        Raises
        ------
        ConfigError
            The file cannot be written.
        """
        write_json(self._path, self._stored)

    def set(self, key: str, value: Any) -> None:
        """Change a preference in memory (call :meth:`save` to write it).

        Secret keys (:func:`~labdata.core.secrets.is_secret_key`) are encrypted. An environment
        override of the same key keeps winning in memory.

        Parameters
        ----------
        key : str
            Dotted key, e.g. ``"database.user"`` or ``"storage.data.bucket"``.
        value : Any
            A JSON value.

        Raises
        ------
        ConfigError
            The key is ``hostname``, the value is not JSON or has the wrong type.
        """
        if key.split(".")[0] == "hostname":
            raise ConfigError("'hostname' is set at load time and cannot be changed.",
                              hint="Set another key.")
        try:
            json.dumps(value)
        except (TypeError, ValueError) as exc:
            hint = "Pass strings, numbers, booleans, None, lists or dicts."
            raise ConfigError(f"The value for {key!r} is not JSON: {exc}", hint=hint) from exc
        stored = copy.deepcopy(self._stored)
        assign(stored, key, copy.deepcopy(value), source=self._path)
        self._effective(stored)  # validate before anything is encrypted
        secrets.encrypt_plain(stored, key_file=self.key_file)
        self._data = self._effective(stored)
        self._stored = stored

    def secret(self, key: str) -> str | None:
        """Return the decrypted value of a dotted key (None if absent or null).

        Raises
        ------
        SecretError
            The value was encrypted with another key file.
        """
        value = self.get(key)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"Preference {key!r} is not a string.",
                              hint=f"Fix {key} in {self._path}.")
        return secrets.decrypt(value, key_file=self.key_file, name=key)

    def get(self, key: str, default: Any = None) -> Any:
        """Return a copy of a value, by top-level or dotted key, or ``default``."""
        node: Any = self._data
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return copy.deepcopy(node)

    def as_dict(self) -> dict[str, Any]:
        """Return a copy of all effective values (secrets encrypted, unless from the env)."""
        return copy.deepcopy(self._data)

    def __getitem__(self, key: str) -> Any:
        if key not in self._data:
            raise KeyError(f"No preference {key!r}.{did_you_mean(key, self._data)}")
        return copy.deepcopy(self._data[key])

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"Preferences(path={str(self._path)!r})"

    @property
    def path(self) -> Path:
        """The preference file."""
        return self._path

    @property
    def labdata_path(self) -> Path:
        """The labdata folder (``$LABDATA_PATH`` or ``~/labdata``)."""
        return self._labdata_path

    @property
    def key_file(self) -> Path:
        """The machine-local encryption key file."""
        return self._labdata_path / secrets.KEY_FILE_NAME

    @property
    def overridden(self) -> dict[str, str]:
        """Dotted keys currently overridden by the environment -> the variable."""
        found = {key: var for var, key in ENV_OVERRIDES.items() if self._environ.get(var)}
        if self._environ.get(DATAPATH_VAR):
            found.update(local_paths=DATAPATH_VAR, scratch_path=DATAPATH_VAR)
        return found

    @property
    def project(self) -> str | None:
        """The active project: ``LABDATA_DATABASE_PROJECT`` > ``database.project`` > None."""
        return self._data["database"].get("project") or None

    @property
    def local_paths(self) -> list[Path]:
        """The data folders, ``~`` expanded, first one being where downloads go."""
        return [Path(p).expanduser().absolute() for p in self._data["local_paths"]]

    @property
    def scratch_path(self) -> Path:
        """The scratch folder, ``~`` expanded."""
        return Path(self._data["scratch_path"]).expanduser().absolute()

    @property
    def n_jobs(self) -> int:
        """Default parallelism, see :func:`n_jobs`."""
        return n_jobs(self._environ)

    @property
    def catalog(self) -> CatalogSettings:
        """The catalog settings, validated and resolved.

        Raises
        ------
        ConfigError
            Unknown ``catalog.kind``; ``postgres`` without a DSN; ``sqlite`` with
            a remote ``lake_path`` and no DSN.
        """
        kind = _catalog_kind(self._data["catalog"]["kind"], self._path)
        lake = location(self._data["lake_path"])
        raw_data_path = self._data["catalog"]["data_path"]
        data_path = location(raw_data_path) if raw_data_path else join_location(lake, "catalog/data") + "/"
        dsn = self.secret("catalog.dsn")
        if kind is CatalogKind.POSTGRES and not dsn:
            raise ConfigError("catalog.kind is 'postgres' but catalog.dsn is not set.",
                              hint=f"Set catalog.dsn (e.g. 'dbname=lake host=db user=me') in "
                                   f"{self._path} or LABDATA_CATALOG_DSN.")
        if kind is CatalogKind.SQLITE:
            if not dsn and "://" in lake:
                raise ConfigError(f"The lake {lake} is remote; the SQLite catalog file "
                                  "cannot live there.",
                                  hint="Set catalog.dsn to a local SQLite file path.")
            dsn = location(dsn) if dsn else os.path.join(lake, "catalog", "catalog.sqlite")
        return CatalogSettings(kind=kind, dsn=dsn or "", data_path=data_path, lake_path=lake,
                               replica=self._data["catalog"].get("replica", True),
                               data_storage=self.storage_of(data_path))

    def storage_of(self, url: str) -> StorageSettings | None:
        """The S3 storage whose bucket holds ``url`` (an ``s3://`` URL), or None."""
        if not url.startswith("s3://"):
            return None
        bucket = url[len("s3://"):].split("/", 1)[0]
        for name, entry in sorted((self._data.get("storage") or {}).items()):
            if isinstance(entry, dict) and entry.get("bucket") == bucket and entry.get("protocol", "s3") == "s3":
                return StorageSettings.from_prefs(self, name)
        return None

    def _effective(self, stored: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults < stored < environment, validated, plus ``hostname``."""
        data = merge(DEFAULTS, stored)
        validate(data, self._path)
        for var, key in ENV_OVERRIDES.items():
            if self._environ.get(var):
                assign(data, key, self._environ[var], source=self._path)
        if self._environ.get(DATAPATH_VAR):
            data["local_paths"] = [self._environ[DATAPATH_VAR]]
            data["scratch_path"] = self._environ[DATAPATH_VAR]
        data["hostname"] = self._hostname
        return data

def _catalog_kind(raw: str, source: Path) -> CatalogKind:
    name = raw.strip().lower()
    name = {"postgresql": "postgres", "sqlite3": "sqlite"}.get(name, name)
    try:
        return CatalogKind(name)
    except ValueError:
        kinds = ", ".join(kind.value for kind in CatalogKind)
        raise ConfigError(f"Unknown catalog.kind {raw!r}.",
                          hint=f"Set catalog.kind to one of {kinds} in {source} "
                               "or LABDATA_CATALOG_KIND.") from None
