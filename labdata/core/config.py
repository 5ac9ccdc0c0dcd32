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
import stat
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Self

from labdata.core import secrets
from labdata.core.errors import ConfigError, LabdataWarning, did_you_mean

__all__ = [
    "ENV_OVERRIDES",
    "PREFERENCES_FILE",
    "CatalogKind",
    "CatalogSettings",
    "Preferences",
    "default_preferences",
    "n_jobs",
]

PREFERENCES_FILE = "user_preferences.json"

#: Environment variable -> the preference it overrides (in memory, never saved).
ENV_OVERRIDES: Mapping[str, str] = {
    "LABDATA_DATABASE_USER": "database.user",
    "LABDATA_DATABASE_PASS": "database.password",
    "LABDATA_DATABASE_HOST": "database.host",
    "LABDATA_DATABASE": "database.name",
    "LABDATA_DATABASE_PROJECT": "database.project",
    "LABDATA_CATALOG_KIND": "catalog.kind",
    "LABDATA_CATALOG_DSN": "catalog.dsn",
    "LABDATA_CATALOG_DATA_PATH": "catalog.data_path",
    "LABDATA_LAKE_PATH": "lake_path",
}
_DATAPATH_VAR = "LABDATA_OVERRIDE_DATAPATH"

_ANALYSES = {
    "populate": "PopulateCompute", "spks": "SpksCompute",
    "spikeinterface": "SpikeInterfaceCompute", "deeplabcut": "DeeplabcutCompute",
    "lightningpose": "LightningPoseCompute", "caiman": "CaimanCompute", "suite2p": "Suite2pCompute",
}


def _storage(bucket: str) -> dict[str, Any]:
    return {"protocol": "s3", "endpoint": "s3.amazonaws.com:9000", "bucket": bucket,
            "folder": "", "access_key": None, "secret_key": None}


_DEFAULTS: dict[str, Any] = {
    "local_paths": ["~/data"],
    "scratch_path": "~/scratch",
    "lake_path": "~/labdata/lake",
    "path_rules": "{subject_name}/{session_name}/{dataset_name}",
    "path_rules_session_date": ["session_name", "%Y%m%d_%H%M%S"],
    "queues": None,
    "allow_s3_download": False,
    "compute": {
        "remotes": {},
        "containers": {"local": "~/labdata/containers", "storage": "analysis"},
        "analysis": {name: f"labdata.compute.{cls}" for name, cls in _ANALYSES.items()},
        "default_target": "slurm",
    },
    "storage": {"data": _storage("xxxx-data"), "analysis": _storage("xxxx-analysis")},
    "database": {"host": "database-path.us-west-2.rds.amazonaws.com", "user": None,
                 "password": None, "name": "lab_data", "project": None},
    "catalog": {"kind": "sqlite", "dsn": None, "data_path": None},
    "plugins_folder": "~/labdata/plugins",
    "submit_defaults": None,
    "run_defaults": {"delete-cache": False},
    "upload_path": None,
    "upload_host": None,
    "upload_storage": None,
}

_CHECKS: dict[str, tuple[Any, str]] = {
    "str": (lambda v: isinstance(v, str), "a string"),
    "str?": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "dict": (lambda v: isinstance(v, dict), "an object"),
    "dict?": (lambda v: v is None or isinstance(v, dict), "an object or null"),
    "paths": (lambda v: isinstance(v, list) and v and all(isinstance(x, str) for x in v),
              "a non-empty list of strings"),
    "strs": (lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
             "a list of strings"),
    "names": (lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
              "an object whose values are strings"),
}
# Known keys and their types, parents before children; "*" matches any name.
_SCHEMA: dict[str, str] = {
    "local_paths": "paths", "scratch_path": "str", "lake_path": "str", "path_rules": "str",
    "path_rules_session_date": "strs", "allow_s3_download": "bool",
    "compute": "dict", "compute.remotes": "dict", "compute.remotes.*": "dict",
    "compute.containers": "dict", "compute.containers.local": "str",
    "compute.containers.storage": "str", "compute.analysis": "names",
    "compute.default_target": "str", "compute.aws": "dict",
    "compute.aws.access_key": "str?", "compute.aws.secret_key": "str?",
    "storage": "dict", "storage.*": "dict", "storage.*.protocol": "str",
    "storage.*.endpoint": "str?", "storage.*.bucket": "str?", "storage.*.folder": "str?",
    "storage.*.access_key": "str?", "storage.*.secret_key": "str?",
    "database": "dict", "database.host": "str?", "database.user": "str?",
    "database.password": "str?", "database.name": "str", "database.project": "str?",
    "catalog": "dict", "catalog.kind": "str", "catalog.dsn": "str?", "catalog.data_path": "str?",
    "plugins_folder": "str?", "plugins": "names", "upload_rules": "names",
    "run_defaults": "dict?", "upload_path": "str?", "upload_host": "str?", "upload_storage": "str?",
}


def default_preferences() -> dict[str, Any]:
    """Return a fresh copy of the built-in default preferences."""
    return copy.deepcopy(_DEFAULTS)


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
    """

    kind: CatalogKind
    dsn: str = field(repr=False)
    data_path: str
    lake_path: str


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
        file = _locate(path, labdata_path, env)
        prefs = cls(_read_or_create(file), path=file, labdata_path=labdata_path, environ=env)
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
        _write_json(self._path, self._stored)

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
        _assign(stored, key, copy.deepcopy(value), source=self._path)
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
        if self._environ.get(_DATAPATH_VAR):
            found.update(local_paths=_DATAPATH_VAR, scratch_path=_DATAPATH_VAR)
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
        lake = _location(self._data["lake_path"])
        raw_data_path = self._data["catalog"]["data_path"]
        data_path = _location(raw_data_path) if raw_data_path else _join(lake, "catalog/data") + "/"
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
            dsn = _location(dsn) if dsn else os.path.join(lake, "catalog", "catalog.sqlite")
        return CatalogSettings(kind=kind, dsn=dsn or "", data_path=data_path, lake_path=lake)

    def _effective(self, stored: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults < stored < environment, validated, plus ``hostname``."""
        data = _merge(_DEFAULTS, stored)
        _validate(data, self._path)
        for var, key in ENV_OVERRIDES.items():
            if self._environ.get(var):
                _assign(data, key, self._environ[var], source=self._path)
        if self._environ.get(_DATAPATH_VAR):
            data["local_paths"] = [self._environ[_DATAPATH_VAR]]
            data["scratch_path"] = self._environ[_DATAPATH_VAR]
        data["hostname"] = self._hostname
        return data


def _locate(path: str | Path | None, labdata_path: Path, environ: Mapping[str, str]) -> Path:
    """Resolve the preference file: explicit path > LABDATA_PREFERENCES > default."""
    if path is not None:
        return Path(path).expanduser()
    name = environ.get("LABDATA_PREFERENCES", "")
    if not name:
        return labdata_path / PREFERENCES_FILE
    candidates = [labdata_path / Path(name).expanduser(), Path(name).expanduser()]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    tried = " nor ".join(map(str, dict.fromkeys(candidates)))
    raise ConfigError(
        f"LABDATA_PREFERENCES={name!r}: no such file ({tried}).",
        hint=f"Point LABDATA_PREFERENCES to an existing file (a name in {labdata_path} or a path), "
             f"or unset it to use {labdata_path / PREFERENCES_FILE}.")


def _read_or_create(file: Path) -> dict[str, Any]:
    """Parse the file; write the defaults first if it does not exist."""
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        data = default_preferences()
        _write_json(file, data)
        return data
    except OSError as exc:
        hint = "Check its permissions, or set LABDATA_PATH to another folder."
        raise ConfigError(f"Cannot read the preference file {file}: {exc}", hint=hint) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"The preference file {file} is not valid JSON: {exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}.",
            hint="Fix the file at that position, or delete it to regenerate the defaults "
                 "(its secrets will then have to be re-entered).") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"The preference file {file} holds a JSON {type(data).__name__}, "
                          "not an object.",
                          hint="Fix the file, or delete it to regenerate the defaults.")
    return data


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write JSON (sorted keys, indent 4) via a temp file and os.replace; keep the mode."""
    target = path.resolve() if path.is_symlink() else path
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else 0o600
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        hint = "Make its folder writable, or set LABDATA_PATH to another folder."
        raise ConfigError(f"Cannot write the preference file {path}: {exc}", hint=hint) from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, sort_keys=True, indent=4)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except OSError as exc:
        raise ConfigError(f"Cannot write the preference file {path}: {exc}",
                          hint="Make it writable, or set LABDATA_PATH to another folder.") from exc
    finally:
        Path(tmp).unlink(missing_ok=True)


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``override`` into a copy of ``base`` (dicts merged, other values replaced)."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _assign(data: dict[str, Any], key: str, value: Any, *, source: Path) -> None:
    """Set a dotted key, creating the missing intermediate objects."""
    *parents, last = key.split(".")
    node = data
    for depth, part in enumerate(parents):
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            where = ".".join(parents[: depth + 1])
            raise ConfigError(f"Cannot set {key!r}: {where!r} is not an object.",
                              hint=f"Fix {where} in {source}.")
    node[last] = value


def _validate(data: Mapping[str, Any], source: Path) -> None:
    """Raise ConfigError for the first known key whose value has the wrong type."""
    for pattern, kind in _SCHEMA.items():
        check, expected = _CHECKS[kind]
        for key, value in secrets.find_keys(data, pattern):
            if not check(value):
                shown = type(value).__name__ if secrets.is_secret_key(key) else f"{value!r:.60}"
                raise ConfigError(
                    f"Preference {key!r} in {source} must be {expected}, got {shown}.",
                    hint=f"Fix {key} in {source}, or delete it to use the default.")


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


def _location(value: str) -> str:
    """Expand ``~`` and make a local path absolute; leave URLs (``s3://...``) as given."""
    return value if "://" in value else str(Path(value).expanduser().absolute())


def _join(base: str, name: str) -> str:
    return f"{base.rstrip('/')}/{name}" if "://" in base else os.path.join(base, name)
