"""Attribute types: from DataJoint/MySQL type text to DuckDB types and value checks.

Every declared type is parsed once into an :class:`AttributeType`, which knows
its DuckDB column type and how to check and coerce a Python value into it.

How blobs are held
------------------
``blob`` (and ``tinyblob``) attributes hold small values *in the row*, in a
DuckDB ``BLOB`` column: numpy arrays as ``.npy`` bytes (dtype and shape kept),
any other JSON-able Python value (dicts, lists, numbers, strings) as UTF-8 JSON
behind a ``JSON\\0`` tag. ``longblob`` and ``mediumblob`` attributes hold large
arrays (spike trains, waveforms, traces) as *references into Zarr*: the
``BLOB`` column holds either the value itself (when small or not an array) or
a tagged reference to a slice of a flat Zarr array (``store``, ``offset``,
``count``, ``shape``, ``dtype``). The API resolves both forms to numpy arrays;
see :mod:`labdata.catalog.ops.blobs`. (A ``STRUCT`` column was tried first: DuckLake
1.5.5 mangles a BLOB nested in a STRUCT when the row is inlined in a SQLite
catalog.)
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from labdata.core.errors import ValueTooLongError, WrongTypeError

__all__ = ["AttributeType", "parse_type"]


_INTEGER_RANGES = {
    "tinyint": ("TINYINT", -(2**7), 2**7 - 1),
    "smallint": ("SMALLINT", -(2**15), 2**15 - 1),
    "mediumint": ("INTEGER", -(2**23), 2**23 - 1),
    "int": ("INTEGER", -(2**31), 2**31 - 1),
    "integer": ("INTEGER", -(2**31), 2**31 - 1),
    "bigint": ("BIGINT", -(2**63), 2**63 - 1),
}
_UNSIGNED_SQL = {"tinyint": "UTINYINT", "smallint": "USMALLINT", "mediumint": "UINTEGER",
                 "int": "UINTEGER", "integer": "UINTEGER", "bigint": "UBIGINT"}
_TYPE_RE = re.compile(r"^\s*(?P<base>[a-z]+)\s*(?:\((?P<args>[^)]*)\))?\s*(?P<rest>.*)$", re.I)


@dataclass(frozen=True)
class AttributeType:
    """A parsed attribute type.

    Attributes
    ----------
    text : str
        The declared type, as written (``varchar(32)``).
    kind : str
        One of ``string``, ``enum``, ``integer``, ``float``, ``decimal``, ``bool``,
        ``date``, ``datetime``, ``time``, ``uuid``, ``blob``, ``longblob`` (``year`` is an
        integer from 1901 to 2155, as MySQL's YEAR).
    sql : str
        The DuckDB column type.
    length : int or None
        Maximum length of a string, if bounded.
    values : tuple of str
        Allowed values of an enum.
    low, high : int or None
        Range of an integer type.
    """

    text: str
    kind: str
    sql: str
    length: int | None = None
    values: tuple[str, ...] = ()
    low: int | None = None
    high: int | None = None
    autoincrement: bool = False

    @property
    def is_blob(self) -> bool:
        """Whether values are serialised Python objects rather than scalars."""
        return self.kind in ("blob", "longblob")

    def coerce(self, value: Any, attribute: str) -> Any:
        """Check ``value`` and convert it to what the DuckDB column stores.

        Parameters
        ----------
        value : object
            The user's value (never None: nullability is checked by the caller).
        attribute : str
            Attribute name, for messages.

        Raises
        ------
        WrongTypeError
            When the value cannot represent this type.
        ValueTooLongError
            When a string exceeds its declared length.
        """
        return _COERCERS[self.kind](self, value, attribute)


def parse_type(text: str) -> AttributeType:
    """Parse a DataJoint/MySQL type declaration.

    Examples
    --------
    >>> parse_type("varchar(32)").sql
    'VARCHAR'
    >>> parse_type("decimal(22,14)").sql
    'DECIMAL(22,14)'
    """
    match = _TYPE_RE.match(text)
    if not match:
        raise ValueError(f"Cannot parse attribute type {text!r}.")
    base = match["base"].lower()
    args = [a.strip() for a in (match["args"] or "").split(",") if a.strip()]
    rest = match["rest"].lower()
    builder = _BUILDERS.get(base)
    if builder is None:
        raise ValueError(f"Unsupported attribute type {text!r}.")
    return builder(text.strip(), base, args, rest)


_Builder = Callable[[str, str, list[str], str], "AttributeType"]


def _string(text: str, base: str, args: list[str], rest: str) -> AttributeType:
    length = int(args[0]) if args else None
    return AttributeType(text, "string", "VARCHAR", length=length)


def _enum(text: str, base: str, args: list[str], rest: str) -> AttributeType:
    values = tuple(a.strip().strip("'\"") for a in args)
    return AttributeType(text, "enum", "VARCHAR", length=max(map(len, values)), values=values)


def _integer(text: str, base: str, args: list[str], rest: str) -> AttributeType:
    sql, low, high = _INTEGER_RANGES[base]
    if "unsigned" in rest:
        sql, low, high = _UNSIGNED_SQL[base], 0, 2 * high + 1
    return AttributeType(text, "integer", sql, low=low, high=high,
                         autoincrement="auto_increment" in rest)


def _float(text: str, base: str, args: list[str], rest: str) -> AttributeType:
    return AttributeType(text, "float", "FLOAT" if base == "float" else "DOUBLE")


def _decimal(text: str, base: str, args: list[str], rest: str) -> AttributeType:
    precision, scale = (int(args[0]), int(args[1]) if len(args) > 1 else 0) if args else (18, 3)
    return AttributeType(text, "decimal", f"DECIMAL({precision},{scale})")


def _year(text: str, base: str, args: list[str], rest: str) -> AttributeType:
    return AttributeType(text, "integer", "SMALLINT", low=1901, high=2155)


def _simple(kind: str, sql: str) -> _Builder:
    return lambda text, base, args, rest: AttributeType(text, kind, sql)


_BUILDERS: dict[str, _Builder] = {
    "varchar": _string, "char": _string, "text": _string, "tinytext": _string,
    "mediumtext": _string, "longtext": _string, "enum": _enum,
    **dict.fromkeys(_INTEGER_RANGES, _integer),
    "float": _float, "double": _float, "real": _float,
    "decimal": _decimal, "numeric": _decimal,
    "bool": _simple("bool", "BOOLEAN"), "boolean": _simple("bool", "BOOLEAN"),
    "date": _simple("date", "DATE"), "datetime": _simple("datetime", "TIMESTAMP"),
    "timestamp": _simple("datetime", "TIMESTAMP"), "time": _simple("time", "TIME"),
    "year": _year, "uuid": _simple("uuid", "UUID"),
    "blob": _simple("blob", "BLOB"), "tinyblob": _simple("blob", "BLOB"),
    "mediumblob": _simple("longblob", "BLOB"), "longblob": _simple("longblob", "BLOB"),
}


def _wrong(attribute: str, atype: AttributeType, value: Any) -> WrongTypeError:
    shown = repr(value)
    shown = shown if len(shown) < 80 else shown[:77] + "..."
    return WrongTypeError(
        f"Attribute {attribute!r} is {atype.text} but got {shown} ({type(value).__name__}).",
        hint=f"Give {attribute!r} a value of type {atype.text}.",
    )


def _coerce_string(atype: AttributeType, value: Any, attribute: str) -> str:
    if isinstance(value, bytes | bytearray):
        raise _wrong(attribute, atype, value)
    if isinstance(value, float) and math.isnan(value):
        raise _wrong(attribute, atype, value)
    if isinstance(value, (np.ndarray, list, dict, tuple, set)):
        raise _wrong(attribute, atype, value)
    # the seeds insert integers into varchar columns (event names '6', '7'): accept scalars
    text = value if isinstance(value, str) else str(value.item() if isinstance(value, np.generic) else value)
    if "\x00" in text:
        raise WrongTypeError(
            f"Attribute {attribute!r} contains a NUL byte: {text!r}.",
            hint="Remove the NUL character (\\x00); text attributes cannot store it.",
        )
    if atype.length is not None and len(text) > atype.length:
        raise ValueTooLongError(
            f"Attribute {attribute!r} is {atype.text} but the value has {len(text)} characters: "
            f"{text[:40]!r}{'...' if len(text) > 40 else ''}.",
            hint=f"Shorten the value to at most {atype.length} characters.",
        )
    return text


def _coerce_enum(atype: AttributeType, value: Any, attribute: str) -> str:
    text = _coerce_string(atype, value, attribute)
    if text not in atype.values:
        raise WrongTypeError(
            f"Attribute {attribute!r} must be one of {', '.join(map(repr, atype.values))}; got {text!r}.",
            hint=f"Use one of the values of {atype.text}.",
        )
    return text


def _coerce_integer(atype: AttributeType, value: Any, attribute: str) -> int:
    if isinstance(value, bool | np.bool_):
        number = int(value)
    elif isinstance(value, int | np.integer):
        number = int(value)
    elif isinstance(value, float | np.floating) and float(value).is_integer():
        number = int(value)
    elif isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
        number = int(value)
    else:
        raise _wrong(attribute, atype, value)
    assert atype.low is not None and atype.high is not None, "an integer type has a range"
    if not atype.low <= number <= atype.high:
        raise WrongTypeError(
            f"Attribute {attribute!r} is {atype.text}; {number} is outside [{atype.low}, {atype.high}].",
            hint="Use a value within the range of the type.",
        )
    return number


def _coerce_float(atype: AttributeType, value: Any, attribute: str) -> float:
    if isinstance(value, bool | np.bool_ | int | float | np.integer | np.floating | decimal.Decimal):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise _wrong(attribute, atype, value)


def _coerce_decimal(atype: AttributeType, value: Any, attribute: str) -> decimal.Decimal:
    try:
        return decimal.Decimal(str(value.item() if isinstance(value, np.generic) else value))
    except (decimal.InvalidOperation, TypeError, ValueError):
        raise _wrong(attribute, atype, value) from None


def _coerce_bool(atype: AttributeType, value: Any, attribute: str) -> bool:
    if isinstance(value, bool | np.bool_) or (isinstance(value, int | np.integer) and value in (0, 1)):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("0", "1", "true", "false"):
        return value.lower() in ("1", "true")
    raise _wrong(attribute, atype, value)


def _coerce_date(atype: AttributeType, value: Any, attribute: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, np.datetime64):
        date: dt.date = value.astype("datetime64[D]").item()
        return date
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()[:10])
        except ValueError:
            pass
    raise _wrong(attribute, atype, value)


def _coerce_datetime(atype: AttributeType, value: Any, attribute: str) -> dt.datetime:
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None) if value.tzinfo is None else value.astimezone(dt.UTC).replace(tzinfo=None)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, np.datetime64):
        moment: dt.datetime = value.astype("datetime64[us]").item()
        return moment
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.strip())
        except ValueError:
            pass
    raise _wrong(attribute, atype, value)


def _coerce_time(atype: AttributeType, value: Any, attribute: str) -> dt.time:
    if isinstance(value, dt.time):
        return value
    if isinstance(value, str):
        try:
            return dt.time.fromisoformat(value.strip())
        except ValueError:
            pass
    raise _wrong(attribute, atype, value)


def _coerce_uuid(atype: AttributeType, value: Any, attribute: str) -> str:
    if isinstance(value, uuid.UUID):
        return str(value)
    try:
        return str(uuid.UUID(value) if isinstance(value, str) else uuid.UUID(bytes=bytes(value)))
    except (TypeError, ValueError):
        raise WrongTypeError(f"Badly formed UUID value {value!r} for attribute {attribute!r}.",
                             hint="Give a uuid.UUID or its text, e.g. "
                                  "'00000000-0000-0000-0000-000000000005'.") from None


def _coerce_blob(atype: AttributeType, value: Any, attribute: str) -> Any:
    return value  # serialised later by labdata.catalog.ops.blobs


_COERCERS = {
    "string": _coerce_string, "enum": _coerce_enum, "integer": _coerce_integer,
    "float": _coerce_float, "decimal": _coerce_decimal, "bool": _coerce_bool,
    "date": _coerce_date, "datetime": _coerce_datetime, "time": _coerce_time, "uuid": _coerce_uuid,
    "blob": _coerce_blob, "longblob": _coerce_blob,
}
