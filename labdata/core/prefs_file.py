"""Reading, merging, validating and atomically writing the preference file."""

from __future__ import annotations

import copy
import json
import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labdata.core.defaults import CHECKS, KNOWN_KEYS, PREFERENCES_FILE, default_preferences

__all__ = ["assign", "join_location", "locate_file", "location", "merge", "read_or_create", "validate", "write_json"]
from labdata.core import secrets
from labdata.core.errors import ConfigError


def locate_file(path: str | Path | None, labdata_path: Path, environ: Mapping[str, str]) -> Path:
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


def read_or_create(file: Path) -> dict[str, Any]:
    """Parse the file; write the defaults first if it does not exist."""
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        data = default_preferences()
        write_json(file, data)
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


def write_json(path: Path, data: Mapping[str, Any]) -> None:
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


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``override`` into a copy of ``base`` (dicts merged, other values replaced)."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def assign(data: dict[str, Any], key: str, value: Any, *, source: Path) -> None:
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


def validate(data: Mapping[str, Any], source: Path) -> None:
    """Raise ConfigError for the first known key whose value has the wrong type."""
    for pattern, kind in KNOWN_KEYS.items():
        check, expected = CHECKS[kind]
        for key, value in secrets.find_keys(data, pattern):
            if not check(value):
                shown = type(value).__name__ if secrets.is_secret_key(key) else f"{value!r:.60}"
                raise ConfigError(
                    f"Preference {key!r} in {source} must be {expected}, got {shown}.",
                    hint=f"Fix {key} in {source}, or delete it to use the default.")



def location(value: str) -> str:
    """Expand ``~`` and make a local path absolute; leave URLs (``s3://...``) as given."""
    return value if "://" in value else str(Path(value).expanduser().absolute())


def join_location(base: str, name: str) -> str:
    return f"{base.rstrip('/')}/{name}" if "://" in base else os.path.join(base, name)
