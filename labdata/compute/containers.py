"""Analysis containers: which runtime is here, where each analysis' image is, and how a task runs inside it.

Two kinds of runtime: Apptainer/Singularity run ``<compute.containers.local>/<name>.sif`` images (what the
original used on clusters), Podman (or Docker) runs OCI images named ``localhost/<name>:<tag>``. The
definitions are ``containers/<name>.def`` and ``containers/Containerfile.<name without labdata->`` in the
source tree (see :mod:`labdata.compute.container_build`). Both images run ``labdata "$@"``.

A task in a container sees the lake exactly where the host sees it: the lake folder, a local data path, the
``local_paths``, the scratch and labdata folders and the preference file's folder are mounted at the same
paths, and the worker's environment (:func:`labdata.compute.worker.worker_environment`: the lake spec, the
preference file, the project) is passed in. OCI containers share the host's network, hostname and process
ids, so that a worker's ``<host>@pid<n>`` label means the same inside and out (the queue reaps dead workers
by it) and a database on 127.0.0.1 is reachable.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from labdata.compute.worker import worker_environment
from labdata.core.errors import ContainerError, did_you_mean

if TYPE_CHECKING:
    from labdata.catalog.engine.context import Context
    from labdata.core.config import Preferences

__all__ = ["OCI_RUNTIMES", "RUNTIMES", "ContainerImage", "container_environment", "container_image",
           "container_mounts", "find_runtime", "images_folder", "require_image", "run_command",
           "run_in_container"]

RUNTIMES = ("apptainer", "singularity", "podman", "docker")
OCI_RUNTIMES = frozenset({"podman", "docker"})
DEFAULT_IMAGES_FOLDER = "~/labdata/containers"
_PASSED_VARIABLES = ("PYTHONPATH",)  # besides every LABDATA_* variable of the worker's environment


@dataclass(frozen=True)
class ContainerImage:
    """An analysis' image for one runtime.

    Attributes
    ----------
    name : str
        The container's name (``labdata-base``), as an analysis' ``container`` says.
    runtime : str
        The runtime's executable (a path).
    reference : str
        The ``.sif`` file (Apptainer) or the image name ``localhost/<name>:<tag>`` (Podman).
    """

    name: str
    runtime: str
    reference: str

    @property
    def oci(self) -> bool:
        """Whether the runtime runs OCI images (Podman, Docker) rather than ``.sif`` files."""
        return Path(self.runtime).name in OCI_RUNTIMES

    def exists(self) -> bool:
        """Whether the image is built (the ``.sif`` file exists, or the runtime knows the image)."""
        if not self.oci:
            return Path(self.reference).is_file()
        found = subprocess.run([self.runtime, "image", "inspect", self.reference], capture_output=True, check=False)
        return found.returncode == 0


def find_runtime(preferred: str | None = None) -> str | None:
    """The runtime's executable: ``preferred`` (a name or a path) if present, else the first of :data:`RUNTIMES`.

    Raises
    ------
    ContainerError
        ``preferred`` is not a runtime labdata knows.
    """
    if preferred:
        if Path(preferred).name not in RUNTIMES:
            raise ContainerError(f"{preferred!r} is not a container runtime labdata can use."
                                 f"{did_you_mean(preferred, RUNTIMES)}",
                                 hint=f"Use one of {', '.join(RUNTIMES)}.")
        return shutil.which(preferred)
    return next((path for path in map(shutil.which, RUNTIMES) if path), None)


def images_folder(preferences: Preferences) -> Path:
    """Where ``.sif`` images live: the ``compute.containers.local`` preference, ``~`` expanded."""
    containers = preferences.get("compute", {}).get("containers", {}) or {}
    return Path(containers.get("local") or DEFAULT_IMAGES_FOLDER).expanduser()


def container_image(preferences: Preferences, name: str, runtime: str | None = None, *,
                    tag: str = "latest") -> ContainerImage | None:
    """The image of container ``name`` for ``runtime`` (default: the first one present); None without a runtime.

    ``tag`` names OCI images only (``localhost/<name>:<tag>``); a ``.sif`` is ``<images folder>/<name>.sif``.
    """
    executable = find_runtime(runtime)
    if executable is None:
        return None
    if Path(executable).name in OCI_RUNTIMES:
        return ContainerImage(name, executable, f"localhost/{name}:{tag}")
    return ContainerImage(name, executable, str(images_folder(preferences) / f"{name}.sif"))


def container_mounts(context: Context, extra: Iterable[str | Path] = ()) -> list[Path]:
    """The host folders a task needs, each mounted at its own path.

    The lake folder, a local data path, ``local_paths``, ``scratch_path``, the labdata folder, the preference
    file's folder, the ``plugins`` folders, the ``compute.containers.binds`` preference's folders and ``extra``.
    Missing folders are left out, and so is a folder inside another one of the list.
    """
    preferences = context.prefs()
    lake = context.lake
    containers = preferences.get("compute", {}).get("containers", {}) or {}
    candidates = [lake.root, *([] if "://" in lake.data_path else [Path(lake.data_path)]),
                  *preferences.local_paths, preferences.scratch_path, preferences.labdata_path,
                  preferences.path.parent, *(preferences.get("plugins") or {}).values(),
                  *containers.get("binds", []), *extra]
    folders = sorted({Path(os.path.abspath(Path(path).expanduser())) for path in candidates
                      if Path(path).expanduser().is_dir()})
    return [folder for folder in folders if not any(folder != other and folder.is_relative_to(other)
                                                    for other in folders)]


def container_environment(context: Context, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables a task's container receives: the worker's ``LABDATA_*`` (lake, preferences, project),
    ``PYTHONPATH`` (where plugins and importable tables are) and ``LABDATA_PATH`` (images set LABDATA_CONTAINER)."""
    environment = worker_environment(context, base)
    passed = {name: value for name, value in environment.items()
              if name.startswith("LABDATA_") or name in _PASSED_VARIABLES}
    passed["LABDATA_PATH"] = str(context.prefs().labdata_path)
    return passed


def run_command(image: ContainerImage, labdata_args: list[str], *, mounts: Iterable[Path],
                variables: Iterable[str], gpus: bool = False, interactive: bool = False) -> list[str]:
    """The command line that runs ``labdata <labdata_args>`` in ``image``.

    ``variables`` are the names of environment variables handed over from the environment the command runs
    in (their values never appear on the command line: a process listing would show them).
    """
    binds = [f"{path}:{path}" for path in mounts]
    if not image.oci:  # Apptainer passes the caller's environment itself (PATH and HOME aside)
        return [image.runtime, "run", *(["--nv"] if gpus else []), *(f"--bind={bind}" for bind in binds),
                image.reference, *labdata_args]
    user = [] if os.geteuid() == 0 else ["--userns=keep-id"]  # rootless: files written keep the caller's uid
    return [image.runtime, "run", "--rm", "--network=host", "--uts=host", "--pid=host", *user,
            *(["--interactive", "--tty"] if interactive else []),
            *(["--device=nvidia.com/gpu=all"] if gpus else []),
            *(f"--volume={bind}" for bind in binds), "--env=HOME=/tmp", *(f"--env={name}" for name in variables),
            image.reference, *labdata_args]


def require_image(image: ContainerImage | None, name: str) -> ContainerImage:
    """``image`` when it is built, else a ContainerError saying how to build it.

    Raises
    ------
    ContainerError
        No runtime is installed, or the image is not built.
    """
    if image is None:
        raise ContainerError(f"No container runtime to run {name!r} (none of {', '.join(RUNTIMES)} is on the PATH).",
                             hint="Install Apptainer or Podman (Debian: apt-get install podman), or run bare.")
    if not image.exists():
        raise ContainerError(f"The image {image.reference} of {name!r} is not built.",
                             hint=f"Build it: labdata build-container {name} --runtime {Path(image.runtime).name}")
    return image


def run_in_container(context: Context, name: str, labdata_args: list[str], *, runtime: str | None = None,
                     tag: str = "latest", binds: Iterable[str | Path] = (), gpus: bool = False,
                     interactive: bool = False) -> int:
    """Run ``labdata <labdata_args>`` in container ``name`` against ``context``'s lake; return its exit status.

    Raises
    ------
    ContainerError
        No runtime, or the image is not built.
    """
    image = require_image(container_image(context.prefs(), name, runtime, tag=tag), name)
    environment = container_environment(context)
    command = run_command(image, labdata_args, mounts=container_mounts(context, binds), variables=environment,
                          gpus=gpus, interactive=interactive)
    return subprocess.run(command, env={**os.environ, **environment}, check=False).returncode
