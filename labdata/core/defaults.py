"""Built-in default preferences, the environment overrides and the known keys with their types."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

__all__ = ["ENV_OVERRIDES", "PREFERENCES_FILE", "default_preferences"]

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
DATAPATH_VAR = "LABDATA_OVERRIDE_DATAPATH"

_ANALYSES = {
    "populate": "PopulateCompute", "spks": "SpksCompute",
    "spikeinterface": "SpikeInterfaceCompute", "deeplabcut": "DeeplabcutCompute",
    "lightningpose": "LightningPoseCompute", "caiman": "CaimanCompute", "suite2p": "Suite2pCompute",
}


def _storage(bucket: str) -> dict[str, Any]:
    return {"protocol": "s3", "endpoint": "s3.amazonaws.com:9000", "bucket": bucket,
            "folder": "", "access_key": None, "secret_key": None}


DEFAULTS: dict[str, Any] = {
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
    "catalog": {"kind": "sqlite", "dsn": None, "data_path": None, "replica": True, "arrays_storage": None,
                "retention_days": 30},
    "plugins_folder": "~/labdata/plugins",
    "submit_defaults": None,
    "run_defaults": {"delete-cache": False},
    "upload_path": None,
    "upload_host": None,
    "upload_storage": None,
    # the lab server (`labdata serve`): where the MySQL-wire facade listens, its TLS certificate, and the
    # seconds after which a statement is cancelled
    "server": {"host": "127.0.0.1", "port": 3306, "certificate": None, "key": None, "query_timeout": 300,
               "imports": []},
}

CHECKS: dict[str, tuple[Any, str]] = {
    "str": (lambda v: isinstance(v, str), "a string"),
    "int": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "number?": (lambda v: v is None or (isinstance(v, int | float) and not isinstance(v, bool)), "a number or null"),
    "number": (lambda v: isinstance(v, int | float) and not isinstance(v, bool), "a number"),
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
KNOWN_KEYS: dict[str, str] = {
    "local_paths": "paths", "scratch_path": "str", "lake_path": "str", "path_rules": "str",
    "path_rules_session_date": "strs", "allow_s3_download": "bool",
    "compute": "dict", "compute.remotes": "dict", "compute.remotes.*": "dict",
    "compute.containers": "dict", "compute.containers.local": "str",
    "compute.containers.storage": "str", "compute.containers.binds": "strs", "compute.analysis": "names",
    "compute.default_target": "str", "compute.aws": "dict",
    "compute.aws.access_key": "str?", "compute.aws.secret_key": "str?",
    "storage": "dict", "storage.*": "dict", "storage.*.protocol": "str",
    "storage.*.endpoint": "str?", "storage.*.bucket": "str?", "storage.*.folder": "str?",
    "storage.*.access_key": "str?", "storage.*.secret_key": "str?",
    "database": "dict", "database.host": "str?", "database.user": "str?",
    "database.password": "str?", "database.name": "str", "database.project": "str?",
    "catalog": "dict", "catalog.kind": "str", "catalog.dsn": "str?", "catalog.data_path": "str?",
    "catalog.replica": "bool", "catalog.arrays_storage": "str?", "catalog.retention_days": "number",
    "plugins_folder": "str?", "plugins": "names", "upload_rules": "names",
    "run_defaults": "dict?", "upload_path": "str?", "upload_host": "str?", "upload_storage": "str?",
    "server": "dict", "server.host": "str", "server.port": "int", "server.certificate": "str?", "server.key": "str?",
    "server.query_timeout": "number?", "server.imports": "strs",
}


def default_preferences() -> dict[str, Any]:
    """Return a fresh copy of the built-in default preferences."""
    return copy.deepcopy(DEFAULTS)
