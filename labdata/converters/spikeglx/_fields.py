"""Typed access to the key/value pairs of one ``.meta`` file, with errors that name the file.

Every other module of :mod:`labdata.converters.spikeglx` reads the parsed meta through
:class:`MetaFields`, so a missing or malformed value always becomes a
:class:`~labdata.core.errors.RecordingFormatError` naming the file and the key, never a bare
``KeyError`` or ``ValueError``.

Examples
--------
>>> fields = MetaFields({"nSavedChans": "385", "imroTbl": ["(0,384)"]}, "run.imec0.ap.meta")
>>> fields.integer("nSavedChans")
385
>>> fields.number("imSampRate", default=30000.0)
30000.0
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from labdata.core.errors import RecordingFormatError

__all__ = ["DAMAGED_HINT", "MetaFields", "parse_channel_ranges", "parse_key_values", "split_table"]

#: The hint of every error about a damaged or truncated ``.meta``.
DAMAGED_HINT = ("Copy the .meta SpikeGLX wrote next to this .bin again; it is damaged. "
                "If the copy on the acquisition computer is damaged too, restore it from a backup.")

_TABLE = re.compile(r"\(([^()]*)\)")
_TABLE_WHOLE = re.compile(r"(?:\s*\([^()]*\))*\s*")
_INTEGER = re.compile(r"[+-]?\d+")
_RANGE = re.compile(r"(\d+)(?::(\d+))?")
_KEY = re.compile(r"~?[A-Za-z][A-Za-z0-9_]*")
#: Tables that 2015 metas wrote without the ``~``.
_LEGACY_TABLES = ("snsChanMap", "snsShankMap", "snsGeomMap", "imroTbl", "muxTbl")
#: More channels than any SpikeGLX stream has; guards against ranges like ``0:999999999999``.
_MAX_CHANNELS = 100_000


def split_table(value: str) -> list[str] | None:
    """Split a table value ``(a)(b)...`` into its entries, or return None when it is malformed.

    Parameters
    ----------
    value : str
        The text after ``=``, e.g. ``"(0,384)(0 0 0 500 250 1)"``.

    Returns
    -------
    list of str or None
        The text inside each pair of parentheses, header first.

    Examples
    --------
    >>> split_table("(0,384)(0 0 0 500 250 1)")
    ['0,384', '0 0 0 500 250 1']
    >>> split_table("(0,384)(0 0 0 5") is None
    True
    """
    if not _TABLE_WHOLE.fullmatch(value):
        return None
    return _TABLE.findall(value)


def parse_channel_ranges(text: str) -> np.ndarray | None:
    """Expand a SpikeGLX channel list such as ``"0:383,768"`` (ranges inclusive).

    Returns None when the text is not such a list; an empty text gives an empty array.

    Examples
    --------
    >>> parse_channel_ranges("0:2,7").tolist()
    [0, 1, 2, 7]
    """
    channels: list[np.ndarray] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        match = _RANGE.fullmatch(part)
        if match is None:
            return None
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if last < first or last >= _MAX_CHANNELS:
            return None
        channels.append(np.arange(first, last + 1))
    if not channels:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate(channels).astype(np.int64)


class MetaFields:
    """The parsed ``key=value`` pairs of one ``.meta`` file, read with checks.

    Parameters
    ----------
    raw : dict
        Key to value: tables (keys that had a ``~``) as lists of entries, other values as strings.
    name : str
        The file name, used in error messages.
    """

    def __init__(self, raw: dict[str, Any], name: str) -> None:
        self.raw = raw
        self.name = name or "<meta text>"

    def error(self, key: str, problem: str, *, hint: str = DAMAGED_HINT) -> RecordingFormatError:
        """Build the error for a bad ``key`` (the caller raises it)."""
        return RecordingFormatError(f"SpikeGLX meta {self.name!r}: {key} {problem}", hint=hint)

    def has(self, key: str) -> bool:
        """Whether the key is present (with any value, even empty)."""
        return key in self.raw

    def text(self, key: str) -> str | None:
        """The stripped string value, or None when the key is absent."""
        value = self.raw.get(key)
        if value is None:
            return None
        if isinstance(value, list):
            return "".join(f"({entry})" for entry in value)
        return str(value).strip()

    def integer(self, key: str, *, default: int | None = None) -> int:
        """An integer value; absent gives ``default``, or raises when there is none."""
        return self._required(key, self.optional_integer(key), default)

    def _required(self, key: str, value: Any, default: Any) -> Any:
        if value is not None:
            return value
        if default is None:
            raise self.error(key, "is missing")
        return default

    def optional_integer(self, key: str) -> int | None:
        """An integer value, or None when the key is absent or empty."""
        text = self.text(key)
        if not text:
            return None
        if not _INTEGER.fullmatch(text):
            raise self.error(key, f"is {text[:40]!r}, not an integer")
        return int(text)

    def number(self, key: str, *, default: float | None = None) -> float:
        """A float value; absent gives ``default``, or raises when there is none."""
        return self._required(key, self.optional_number(key), default)

    def optional_number(self, key: str) -> float | None:
        """A finite float value, or None when the key is absent or empty."""
        text = self.text(key)
        if not text:
            return None
        try:
            value = float(text)
        except ValueError:
            raise self.error(key, f"is {text[:40]!r}, not a number") from None
        if not np.isfinite(value):
            raise self.error(key, f"is {text[:40]!r}, not a finite number")
        return value

    def integers(self, key: str) -> list[int] | None:
        """A comma-separated list of integers (e.g. ``snsApLfSy``), or None when absent."""
        text = self.text(key)
        if text is None:
            return None
        parts = [part.strip() for part in text.split(",")]
        if not all(_INTEGER.fullmatch(part) for part in parts):
            raise self.error(key, f"is {text[:40]!r}, not a comma-separated list of integers")
        return [int(part) for part in parts]

    def channel_ranges(self, key: str) -> np.ndarray | None:
        """A channel list such as ``0:383,768`` expanded, or None when the key is absent."""
        text = self.text(key)
        if text is None:
            return None
        channels = parse_channel_ranges(text)
        if channels is None:
            raise self.error(key, f"is {text[:40]!r}, not a channel list like '0:383,768'")
        return channels

    def table(self, key: str) -> list[str] | None:
        """The entries of a table value, header first, or None when the key is absent.

        Legacy metas (2015) wrote some tables without the ``~`` prefix; their value is a
        string and is split here.
        """
        value = self.raw.get(key)
        if value is None or isinstance(value, list):
            return value
        entries = split_table(str(value))
        if entries is None:
            raise self.error(key, "is not a table of parenthesised entries")
        return entries


def parse_key_values(text: str, name: str) -> dict[str, Any]:
    """Parse the ``key=value`` lines of a meta (CRLF or LF); tables become lists of entries.

    Raises
    ------
    RecordingFormatError
        A line is not ``key=value``, a key appears twice, a table is malformed, or the text
        has no lines at all.

    Examples
    --------
    >>> parse_key_values("nSavedChans=2\\r\\n~snsShankMap=(1,2,0)\\r\\n", "x.nidq.meta")
    {'nSavedChans': '2', 'snsShankMap': ['1,2,0']}
    """
    fields = MetaFields({}, name)
    raw: dict[str, Any] = {}
    for number, line in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        key, separator, value = line.strip().partition("=")
        if not key and not separator:
            continue
        if not separator or not _KEY.fullmatch(key.strip()):
            raise fields.error(f"line {number}", f"is not key=value: {line[:60]!r}")
        key = key.strip()
        if key.lstrip("~") in raw:
            raise fields.error(key.lstrip("~"), f"appears twice (line {number})")
        raw[key.lstrip("~")] = _value(fields, key, value.strip())
    if not raw:
        raise fields.error("file", "has no key=value lines")
    return raw


def _value(fields: MetaFields, key: str, value: str) -> Any:
    if not key.startswith("~") and not (key in _LEGACY_TABLES and value.startswith("(")):
        return value
    entries = split_table(value)
    if entries is None:
        raise fields.error(key.lstrip("~"), f"is not a table of (entries), the file may be "
                           f"truncated: {value[:40]!r}...")
    return entries
