"""Analyses: what a queued task runs, which datasets it runs on, and its options.

An analysis is a class with a ``name``, the options its tasks take (click parameters, so that
``labdata run <analysis> --help`` lists them and a value of the wrong type is refused before anything is
queued), the files it reads (``file_filters``), the resources a scheduler must give it and the container it
runs in. :meth:`Analysis.find_work` lists the units of work of a selection (one per dataset, or per probe);
:meth:`Analysis.compute` does one task's work and registers its results, each result in one transaction, so
that a task killed midway leaves nothing half-registered.

Built-in analyses are listed in :data:`BUILTIN`; the ``compute.analysis`` preference maps further names (or
the same names) to ``"package.module.ClassName"``, as the original's plugins did.
"""

from __future__ import annotations

import importlib
import shlex
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import click

from labdata.compute.selection import datasets_with_files
from labdata.compute.work import Resources, Work
from labdata.core.errors import AnalysisOptionError, UnknownAnalysisError, did_you_mean

if TYPE_CHECKING:
    from labdata.catalog.engine.context import Context
    from labdata.compute.task import RunningTask

__all__ = ["Analysis", "Resources", "Work", "analysis_class", "analysis_names", "options_to_args"]


class Analysis:
    """Base class of analyses. Subclasses set the class attributes and implement :meth:`compute`.

    Attributes
    ----------
    name : str
        What ``labdata run`` calls it.
    params : list of click.Parameter
        Its options, parsed by click (types, defaults, choices).
    file_filters : tuple of str
        Substrings of the file paths a task reads (its AssignedFiles).
    per_dataset : bool
        One task per dataset of the selection (else one task for the whole selection).
    container : str
        The container image (``containers/<container>.def``) the SLURM runner uses when present.
    resources : Resources
        Default scheduler resources; the ``compute.resources.<name>`` preference overrides them.
    """

    name: ClassVar[str] = ""
    params: ClassVar[list[click.Parameter]] = []
    file_filters: ClassVar[tuple[str, ...]] = ()
    per_dataset: ClassVar[bool] = True
    container: ClassVar[str] = "labdata-base"
    resources: ClassVar[Resources] = Resources()

    @classmethod
    def command(cls) -> click.Command:
        """The click command whose parameters are this analysis' options (for parsing and ``--help``)."""
        return click.Command(cls.name, params=list(cls.params), help=(cls.__doc__ or "").strip(),
                             add_help_option=True)

    @classmethod
    def parse(cls, args: Sequence[str]) -> dict[str, Any]:
        """The parameters of ``args`` (command-line options), checked and with defaults filled in.

        Raises
        ------
        AnalysisOptionError
            An unknown option, a missing argument or a value of the wrong type.
        """
        try:
            context = cls.command().make_context(cls.name, list(args), resilient_parsing=False)
        except click.exceptions.Exit as stop:
            raise AnalysisOptionError(f"--help is not an option of a task of {cls.name!r}.",
                                      hint=f"Run `labdata run {cls.name} --help` to list them.") from stop
        except click.ClickException as error:
            raise AnalysisOptionError(f"{cls.name}: {error.format_message()}",
                                      hint=f"Run `labdata run {cls.name} --help` for its options.") from error
        return dict(context.params)

    @classmethod
    def resources_for(cls, parameters: Mapping[str, Any]) -> Resources:
        """The resources a task with these parameters needs (default: :attr:`resources`)."""
        return cls.resources

    def check_target(self, parameters: Mapping[str, Any], target: str) -> None:
        """Refuse, before anything is queued, options that cannot run on ``target`` (default: accept all).

        Raises
        ------
        AnalysisOptionError
            The options cannot run there.
        """

    def find_work(self, context: Context, subject: str | None, session: str | None,
                  parameters: Mapping[str, Any]) -> list[Work]:
        """The units of work in the selection: by default one per dataset of the subject/session."""
        if not self.per_dataset:
            return [Work(dataset=None)]
        return datasets_with_files(context, subject, session, self.file_filters)

    def compute(self, task: RunningTask) -> None:
        """Do the task's work and register its results."""
        raise NotImplementedError(f"{type(self).__name__} does not implement compute()")


def options_to_args(options: Mapping[str, Any], analysis: type[Analysis]) -> list[str]:
    """Keyword options (``method="ks4.0"``, ``stop_on_errors=True``) as the command-line arguments click parses.

    Positional parameters take their value in order; flags are given when true.
    """
    by_name = {param.name: param for param in analysis.params}
    unknown = [name for name in options if name not in by_name]
    if unknown:
        raise AnalysisOptionError(f"{analysis.name} has no option {unknown[0]!r}."
                                  f"{did_you_mean(unknown[0], [str(n) for n in by_name])}",
                                  hint=f"Run `labdata run {analysis.name} --help` for its options.")
    args: list[str] = []
    for name, value in options.items():
        param = by_name[name]
        if isinstance(param, click.Argument):
            args += [str(v) for v in (value if isinstance(value, list | tuple) else [value])]
        elif isinstance(param, click.Option) and param.is_flag:
            args += [param.opts[-1]] if value else []
        else:
            for one in (value if isinstance(param, click.Option) and param.multiple else [value]):
                args += [param.opts[-1], *(str(v) for v in (one if isinstance(one, list | tuple) else [one]))]
    return args


def task_command(analysis: str, subject: str | None, session: str | None, args: Sequence[str],
                 workers: int = 1) -> str:
    """The normalised ``run`` command recorded in ComputeTask.task_cmd (used to refuse identical submissions)."""
    words = ["run", analysis, *(["-w", str(workers)] if workers > 1 else [])]
    words += ["-a", subject] if subject else []
    words += ["-s", session] if session else []
    return shlex.join([*words, "--", *args]) if args else shlex.join(words)


BUILTIN: dict[str, str] = {
    "populate": "labdata.compute.populate.PopulateCompute",
    "spikeinterface": "labdata.compute.sorting.SpikeInterfaceCompute",
}


def analysis_names(configured: Mapping[str, str] | None) -> list[str]:
    """Every analysis name known here (built-in and configured)."""
    return sorted({*BUILTIN, *(configured or {})})


def analysis_class(name: str, configured: Mapping[str, str] | None) -> type[Analysis]:
    """The class of analysis ``name``: the built-in one unless the preference names an importable class.

    A configured name that does not import (the original's ``labdata.compute.SpksCompute`` and others not
    ported yet) falls back to the built-in of that name; without one it is refused.

    Raises
    ------
    UnknownAnalysisError
        No analysis of that name can be loaded.
    """
    targets = [t for t in ((configured or {}).get(name), BUILTIN.get(name)) if t]
    errors = []
    for target in targets:
        module_name, _, class_name = target.replace(":", ".").rpartition(".")
        try:
            found = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError, ValueError) as error:
            errors.append(f"{target}: {error}")
            continue
        if isinstance(found, type) and issubclass(found, Analysis):
            return found
        errors.append(f"{target} is not an Analysis subclass")
    names = [n for n in analysis_names(configured) if n in BUILTIN or n != name]
    reason = f" ({'; '.join(errors)})" if errors else ""
    raise UnknownAnalysisError(f"There is no analysis {name!r}{reason}.{did_you_mean(name, names)}",
                               hint=f"Use one of: {', '.join(sorted(BUILTIN))}, or name a class in the "
                                    "compute.analysis preference.")
