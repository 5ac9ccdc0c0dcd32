"""Upload rules: what the upload server does to a job's files before they go to the storage.

A rule receives the job's verified source files and returns the files to upload
(sources as they are, or files it wrote from them) and the sources it replaced,
which are recorded in ProcessedFile instead of being uploaded. Its
:meth:`UploadRule.register` adds rows of its own tables in the same transaction
that registers the files, so a job's rows appear together or not at all.

Rules are looked up by name: the built-in ones (``none``, ``ephys`` for SpikeGLX
recordings, :mod:`labdata.upload.ephys_rule`, and ``nwb`` for NWB files,
:mod:`labdata.upload.nwb_rule`) and those of the ``upload_rules`` preference,
``{"name": "package.module:ClassName"}``.

A rule can also read names and parent rows from the files on the rig (:meth:`UploadRule.names_from`,
:meth:`UploadRule.parent_rows_from`), which ``labdata put`` asks before it copies anything.

Examples
--------
>>> rule_for("none", {}).name
'none'
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from labdata.core.errors import ConfigError, UnknownRuleError, did_you_mean

__all__ = ["BUILTIN_RULES", "RuleOutput", "SourceFile", "UploadRule", "rule_for", "rule_names"]


@dataclass(frozen=True)
class SourceFile:
    """A file on the upload server: its lake path (relative to ``local_paths[0]``) and what was recorded of it."""

    path: str
    local: Path
    size: int
    md5: str | None
    datetime: dt.datetime


@dataclass
class RuleOutput:
    """What a rule hands back: files to upload, and sources it replaced (recorded in ProcessedFile)."""

    upload: list[SourceFile] = field(default_factory=list)
    processed: list[SourceFile] = field(default_factory=list)


class UploadRule:
    """The ``none`` rule: upload every file as it is.

    Subclasses override :meth:`apply` (write derived files, e.g. compressed Zarr, next to
    the sources and return them) and :meth:`register` (insert their tables' rows).

    Attributes
    ----------
    name : str
        The name given to ``labdata put -r``.
    max_concurrent : int
        Jobs of this rule one host runs at once (0: no limit).
    """

    name: ClassVar[str] = "none"
    max_concurrent: ClassVar[int] = 0

    def apply(self, job: Mapping[str, Any], sources: list[SourceFile],
              progress: Callable[[str], None]) -> RuleOutput:
        """Return the files to upload for ``sources`` (their MD5s are checked as they are uploaded)."""
        return RuleOutput(upload=list(sources))

    def register(self, job: Mapping[str, Any], dataset: Mapping[str, str] | None,
                 uploaded: list[SourceFile]) -> None:
        """Insert this rule's rows; runs inside the transaction that registers ``uploaded``."""

    def names_from(self, files: Mapping[str, Path]) -> dict[str, str]:
        """Names (subject_name, session_name, dataset_name) the files themselves give, read by ``put`` on the rig.

        ``-a``/``-s``/``-d`` win over them, and they over ``path_rules``. None by default.
        """
        return {}

    def parent_rows_from(self, files: Mapping[str, Path], dataset: Mapping[str, str],
                         new_subject_fields: Mapping[str, Any] | None) -> dict[str, dict[str, Any] | None] | None:
        """The Subject and Session rows ``put`` inserts for a dataset the lake does not have, from the files.

        None (the default): ``put`` makes them from ``new_subject_fields`` and ``path_rules``.
        """
        return None


def _ephys_rule() -> UploadRule:
    from labdata.upload.ephys_rule import EphysRule  # imports the SpikeGLX converters only when used

    return EphysRule()


def _nwb_rule() -> UploadRule:
    from labdata.upload.nwb_rule import NwbRule  # imports pynwb only when used

    return NwbRule()


BUILTIN_RULES: dict[str, Callable[[], UploadRule]] = {"none": UploadRule, "ephys": _ephys_rule, "nwb": _nwb_rule}


def rule_names(configured: Mapping[str, str] | None) -> list[str]:
    """The names of every known rule: built-in and configured."""
    return sorted({*BUILTIN_RULES, *(configured or {})})


def rule_for(name: str, configured: Mapping[str, str] | None) -> UploadRule:
    """The rule called ``name``.

    Parameters
    ----------
    name : str
        A built-in rule or a key of the ``upload_rules`` preference.
    configured : mapping
        The ``upload_rules`` preference (name -> ``"module:Class"`` or ``"module.Class"``).

    Raises
    ------
    UnknownRuleError
        No rule has this name.
    ConfigError
        The configured class cannot be imported or is not an UploadRule.
    """
    configured = configured or {}
    if name in configured:
        return _load(name, configured[name])()
    if name in BUILTIN_RULES:
        return BUILTIN_RULES[name]()
    names = rule_names(configured)
    raise UnknownRuleError(f"There is no upload rule {name!r}.{did_you_mean(name, names)}",
                           hint=f"Use one of {', '.join(names)}, or add yours to the upload_rules preference.")


def _load(name: str, target: str) -> type[UploadRule]:
    module_name, _, class_name = target.replace(":", ".").rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as error:
        raise ConfigError(f"upload_rules.{name} = {target!r} cannot be imported: {error}.",
                          hint="Give the class as 'package.module:ClassName', importable on this machine.") from error
    if not (isinstance(cls, type) and issubclass(cls, UploadRule)):
        raise ConfigError(f"upload_rules.{name} = {target!r} is not an UploadRule subclass.",
                          hint="Subclass labdata.upload.UploadRule.")
    return cls
