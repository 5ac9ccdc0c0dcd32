"""``labdata build-container``: build an analysis' image from its definition in ``containers/``.

A definition is ``containers/<name>.def`` (Apptainer) or ``containers/Containerfile.<name without labdata->``
(Podman). Two comment lines in it tell the build what to prepare:

``# labdata-from: NAME``
    the image it starts from, built first when missing: ``labdata-debian`` is made by
    ``containers/build-base-image.sh`` (debootstrap, then ``podman import``), any other name by this module.
``# labdata-wheels: REQUIREMENT ...``
    what ``pip wheel`` puts in the build context's ``wheels/`` folder, on the host (``labdata`` is the source
    checkout labdata runs from, else ``labdata==<version>``); the image installs from there, without network.

Built wheels are kept in ``<images folder>/wheels`` and reused by later builds.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

from labdata.compute.containers import ContainerImage, container_image, images_folder
from labdata.core.errors import ContainerError

if TYPE_CHECKING:
    from labdata.core.config import Preferences

__all__ = ["build_image", "definition_file", "definitions_folder", "source_checkout"]

BASE_IMAGE_NAME = "labdata-debian"
BASE_IMAGE = "localhost/labdata-debian:bookworm"
_DIRECTIVE = re.compile(r"^#\s*labdata-(from|wheels):\s*(.+?)\s*$", re.MULTILINE)


def source_checkout() -> Path | None:
    """The source tree labdata runs from (the folder holding ``pyproject.toml`` and ``containers/``), if any."""
    root = Path(__file__).resolve().parents[2]  # labdata/compute/container_build.py -> the repository
    return root if (root / "pyproject.toml").is_file() else None


def definitions_folder(folder: str | Path | None = None) -> Path:
    """``folder``, else ``./containers``, else the source checkout's ``containers/``.

    Raises
    ------
    ContainerError
        None of them exists (the wheel ships no definitions).
    """
    checkout = source_checkout()
    candidates = [Path(folder)] if folder else [Path("containers"), *([checkout / "containers"] if checkout else [])]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate.resolve()
    raise ContainerError(f"No container definitions folder (looked in {', '.join(map(str, candidates))}).",
                         hint="Pass --definitions DIR: the containers/ folder of labdata's source repository.")


def definition_file(name: str, oci: bool, folder: Path) -> Path:
    """The definition of container ``name`` in ``folder`` for an OCI runtime or Apptainer.

    Raises
    ------
    ContainerError
        There is none; the hint lists the containers that have one.
    """
    path = folder / (f"Containerfile.{name.removeprefix('labdata-')}" if oci else f"{name}.def")
    if path.is_file():
        return path
    known = sorted({f"labdata-{p.name.split('.', 1)[1]}" if oci else p.stem
                    for p in folder.glob("Containerfile.*" if oci else "*.def")})
    raise ContainerError(f"No definition of container {name!r} for this runtime ({path} is missing).",
                         hint=f"Containers defined in {folder}: {', '.join(known) or 'none'}.")


def build_image(preferences: Preferences, name: str, runtime: str | None = None, *, folder: str | Path | None = None,
                tag: str = "latest", echo: Callable[[str], object] = print) -> ContainerImage:
    """Build container ``name`` with ``runtime`` (default: the first present) and return its image.

    Raises
    ------
    ContainerError
        No runtime, no definition, or a step of the build failed (its command is in the message).
    """
    image = container_image(preferences, name, runtime, tag=tag)
    if image is None:
        raise ContainerError(f"No container runtime to build {name!r} with.",
                             hint="Install Apptainer or Podman (Debian: apt-get install podman debootstrap).")
    definitions = definitions_folder(folder)
    definition = definition_file(name, image.oci, definitions)
    text = definition.read_text()
    for base in _directive(text, "from"):
        _ensure_base(preferences, base, image, definitions, echo)
    images = images_folder(preferences)
    images.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=images, prefix=f"build-{name}-") as context:
        _collect_wheels(_directive(text, "wheels"), Path(context) / "wheels", images / "wheels", echo)
        shutil.copy(definition, Path(context) / definition.name)
        if image.oci:
            command = [image.runtime, "build", "--file", definition.name, "--tag", image.reference, "."]
        else:
            command = [image.runtime, "build", "--fakeroot", "--force", "--build-arg", f"IMAGES={images}",
                       image.reference, definition.name]
        _run(command, f"build the image of {name!r}", echo, cwd=context)
    echo(f"built {image.reference}")
    return image


def _directive(text: str, key: str) -> list[str]:
    return [word for found, value in _DIRECTIVE.findall(text) if found == key for word in value.split()]


def _ensure_base(preferences: Preferences, base: str, image: ContainerImage, definitions: Path,
                 echo: Callable[[str], object]) -> None:
    if base == BASE_IMAGE_NAME:
        if not image.oci or ContainerImage(base, image.runtime, BASE_IMAGE).exists():
            return  # Apptainer definitions bootstrap from Debian themselves
        _run(["bash", str(definitions / "build-base-image.sh"), BASE_IMAGE], f"make {BASE_IMAGE}", echo)
        return
    parent = container_image(preferences, base, image.runtime)
    if parent is not None and not parent.exists():
        echo(f"{base} is missing: building it first")
        build_image(preferences, base, image.runtime, folder=definitions, echo=echo)


def _collect_wheels(requirements: list[str], wheels: Path, cache: Path, echo: Callable[[str], object]) -> None:
    """``pip wheel`` the requirements (and their dependencies) into ``wheels``, reusing and filling ``cache``."""
    wheels.mkdir()
    if not requirements:
        return
    cache.mkdir(exist_ok=True)
    checkout = source_checkout()
    source = str(checkout) if checkout else f"labdata=={version('labdata')}"
    wanted = [source if requirement == "labdata" else requirement for requirement in requirements]
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(wheels), "--find-links", str(cache),
          *wanted], "build the wheels", echo)
    for wheel in wheels.glob("*.whl"):
        if not wheel.name.startswith("labdata-") and not (cache / wheel.name).exists():
            shutil.copy(wheel, cache / wheel.name)


def _run(command: list[str], what: str, echo: Callable[[str], object], cwd: str | None = None) -> None:
    echo("+ " + " ".join(command))
    done = subprocess.run(command, cwd=cwd, check=False)
    if done.returncode != 0:
        raise ContainerError(f"Could not {what}: {' '.join(command)} exited with status {done.returncode}.",
                             hint="Read the command's output above; fix the definition or the runtime's setup.")
