"""SpikeGLX file names: run, gate, trigger, stream, probe and band.

SpikeGLX names its files ``<run>_g<gate>_t<trigger>.<stream>.<band>.<ext>``, for example
``Run_g0_t0.imec0.ap.bin``, ``Run_g0_t0.nidq.bin`` or ``Run_g0_t0.obx0.obx.bin``. CatGT writes
``_tcat`` for concatenated triggers, the File Viewer inserts ``.exported`` before the stream,
Phase 3A wrote a bare ``.imec.`` and 2015-2016 versions wrote ``.imec.bin`` (AP and LF in one
file) or no stream at all. Renamed files keep whatever parts they still have.

Examples
--------
>>> name = parse_file_name("x_g0_tcat.imec1.lf.bin")
>>> name.run, name.gate, name.trigger, name.stream, name.probe_index, name.band
('x', 0, 'cat', 'imec', 1, 'lf')
>>> parse_file_name("npx.imec.ap.meta").probe_index
0
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from labdata.core.errors import RecordingFormatError

__all__ = ["FileName", "parse_file_name"]

_EXTENSIONS = (".meta", ".bin", ".cbin", ".ch")
_GATE_TRIGGER = re.compile(r"^(?P<run>.*?)_g(?P<gate>\d{1,9})_t(?P<trigger>\d{1,9}|cat)$")
_IMEC = re.compile(r"imec(\d{0,4})")
_OBX = re.compile(r"obx(\d{0,4})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MAX_NAME = 255
_NAME_HINT = ("Give the name of a file SpikeGLX wrote, without folders, e.g. "
              "'Run_g0_t0.imec0.ap.meta'; rename the file if it was renamed to something else.")


@dataclass(frozen=True)
class FileName:
    """What a SpikeGLX file name says.

    Attributes
    ----------
    run : str
        The run name: the part before ``_g<gate>_t<trigger>``, or before the stream when the name
        has no gate and trigger (``"npx"`` for ``npx.imec.ap.bin``).
    gate : int or None
        The gate index, None when the name has none.
    trigger : str or None
        ``"0"``, ``"1"``, ... or ``"cat"`` for CatGT's ``_tcat``; None when the name has none.
    stream : str or None
        ``"imec"``, ``"nidq"`` or ``"obx"``; None when the name does not say (renamed or 2015
        files). :attr:`SpikeGLXMeta.stream` reads it from the meta instead.
    probe_index : int or None
        N of ``imecN``; 0 for a bare ``.imec.`` (Phase 3A, one probe); None for nidq and obx.
    band : str or None
        ``"ap"`` or ``"lf"``; None for nidq, obx and the combined 2016 ``.imec.bin``.
    exported : bool
        Whether the name has ``.exported.`` (written by the SpikeGLX File Viewer).
    obx_index : int or None
        N of ``obxN`` for OneBox files, else None.
    """

    run: str
    gate: int | None
    trigger: str | None
    stream: str | None
    probe_index: int | None
    band: str | None
    exported: bool
    obx_index: int | None = None


def parse_file_name(name: str) -> FileName:
    """Parse a SpikeGLX file name (no folders).

    Parameters
    ----------
    name : str
        e.g. ``"Run_g0_t0.imec0.ap.meta"``; the extension (``.meta``, ``.bin``, ``.cbin``,
        ``.ch``) is optional. An empty name gives an empty :class:`FileName`.

    Returns
    -------
    FileName

    Raises
    ------
    RecordingFormatError
        The name holds a folder separator or control characters, is longer than 255
        characters, or has nothing before the stream part.

    Examples
    --------
    >>> parse_file_name("Run_g0_t0.nidq.meta")
    FileName(run='Run', gate=0, trigger='0', stream='nidq', probe_index=None, band=None, \
exported=False, obx_index=None)
    """
    if name == "":
        return FileName("", None, None, None, None, None, False)
    _check_safe(name)
    tokens = _strip_extension(name).split(".")
    band = tokens.pop() if len(tokens) > 1 and tokens[-1] in ("ap", "lf") else None
    stream, probe_index, obx_index = _pop_stream(tokens)
    exported = len(tokens) > 1 and tokens[-1] == "exported"
    if exported:
        tokens.pop()
    stem = ".".join(tokens)
    match = _GATE_TRIGGER.match(stem)
    run = match.group("run") if match else stem
    if not run:
        raise RecordingFormatError(f"SpikeGLX file name {name!r} has no run name.", hint=_NAME_HINT)
    return FileName(
        run=run,
        gate=int(match.group("gate")) if match else None,
        trigger=match.group("trigger") if match else None,
        stream=stream, probe_index=probe_index, band=band, exported=exported, obx_index=obx_index,
    )


def _check_safe(name: str) -> None:
    problem = None
    if "/" in name or "\\" in name:
        problem = "holds a folder separator"
    elif _CONTROL.search(name):
        problem = "holds control characters"
    elif len(name) > _MAX_NAME:
        problem = f"is {len(name)} characters long (at most {_MAX_NAME})"
    elif name.strip(".") == "":
        problem = "is only dots"
    if problem:
        raise RecordingFormatError(f"SpikeGLX file name {name[:80]!r} {problem}.", hint=_NAME_HINT)


def _strip_extension(name: str) -> str:
    for extension in _EXTENSIONS:
        if name.endswith(extension):
            return name[: -len(extension)]
    return name


def _pop_stream(tokens: list[str]) -> tuple[str | None, int | None, int | None]:
    """Remove the stream tokens from the end of ``tokens``: (stream, probe index, obx index)."""
    if len(tokens) < 2:
        return None, None, None
    last = tokens[-1]
    if last == "nidq":
        tokens.pop()
        return "nidq", None, None
    imec = _IMEC.fullmatch(last)
    if imec:
        tokens.pop()
        return "imec", int(imec.group(1) or 0), None
    obx = _OBX.fullmatch(last)
    if obx is None:
        return None, None, None
    tokens.pop()
    index = obx.group(1)
    if index == "" and len(tokens) > 1 and (numbered := _OBX.fullmatch(tokens[-1])):
        tokens.pop()  # Run_g0_t0.obx0.obx.bin
        index = numbered.group(1)
    return "obx", None, int(index) if index else None
