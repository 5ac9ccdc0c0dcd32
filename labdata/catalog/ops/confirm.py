"""DataJoint's ``safemode``: destructive operations ask before they run, at a terminal.

``SETTINGS["safemode"]`` is the default (``dj.config["safemode"]`` sets it). A prompt is
shown only when standard input is a terminal: scripts, notebooks without one and tests
are never blocked; they pass ``safemode=False`` to say so.
"""

from __future__ import annotations

import sys

__all__ = ["SETTINGS", "confirm", "safe"]

SETTINGS: dict[str, bool] = {"safemode": True}


def safe(safemode: bool | None) -> bool:
    """Whether to ask: ``safemode`` if given, else the setting; never without a terminal."""
    wanted = SETTINGS["safemode"] if safemode is None else safemode
    return bool(wanted) and sys.stdin is not None and sys.stdin.isatty()


def confirm(question: str) -> bool:
    """Ask ``question`` at the terminal; True only for an answer of ``yes``, as DataJoint's ``user_choice``."""
    return input(f"{question} [yes, No]: ").strip().lower() == "yes"
