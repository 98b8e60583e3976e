"""Stored rows read back as records: a pandas frame of a table, one record per row, each
column converted to the type its record field declares (the audits compare records)."""

from __future__ import annotations

import math
import types
from collections.abc import Callable
from dataclasses import fields
from typing import TYPE_CHECKING, TypeVar, Union, get_args, get_origin, get_type_hints

import pandas as pd

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = ["records_of"]

R = TypeVar("R", bound="DataclassInstance")
Convert = Callable[[object], object]

_PLAIN: dict[object, Convert] = {
    int: lambda v: int(v),  # type: ignore[call-overload]
    str: str,
    bool: bool,
    bytes: lambda v: bytes(v),  # type: ignore[call-overload]
    float: lambda v: float(v),  # type: ignore[arg-type]
}


def _missing(value: object) -> bool:
    """A NULL as pandas reads it: None, or NaN in a numeric column."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _converter(hint: object) -> Convert:
    plain = _PLAIN.get(hint)
    if plain is not None:
        return plain
    args = get_args(hint)
    if get_origin(hint) in (Union, types.UnionType) and len(args) == 2 and type(None) in args:
        inner = _converter(next(a for a in args if a is not type(None)))
        return lambda v: None if _missing(v) else inner(v)
    raise TypeError(f"no column conversion to {hint!r}")


def records_of(frame: pd.DataFrame, record: type[R]) -> list[R]:
    """Each row of ``frame`` as a ``record``: its columns named like the record's fields
    (extra columns ignored), NULLs only where the field is optional."""
    hints = get_type_hints(record)
    convert = {f.name: _converter(hints[f.name]) for f in fields(record)}
    return [
        record(**{name: to(row[name]) for name, to in convert.items()})
        for row in frame.to_dict("records")
    ]
