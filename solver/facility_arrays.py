"""Facilities as columns, so that a hard rule tests all of them in a few array operations.

The columns come from ``FacilityState``'s own dataclass fields, by their declared types, so
a field added there can be read here under its name with no code of its own:

    bool                         a bool array
    int, float                   an int64 or float64 array
    int | None, float | None     a float64 array, NaN for None (every comparison with NaN
                                 is False, so ``x > column`` holds for no missing value)
    anything else                an object array (strings, frozensets, datetimes)

``of_kind`` reads a ``KindPolicy`` field for each facility through its kind. A column is built
the first time it is asked for and then kept, so the planner, which asks for the same
columns for every family, builds each once, and the one-family ranking builds only those
its rules read.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Collection, Sequence
from dataclasses import fields
from typing import Any

import numpy as np

from solver.instance import FacilityState, KindPolicy, Network


def _declared_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {field.name: hints[field.name] for field in fields(cls)}


FACILITY_FIELDS: dict[str, Any] = _declared_types(FacilityState)
KIND_POLICY_FIELDS: dict[str, Any] = _declared_types(KindPolicy)


def _reader(name: str) -> Callable[[Sequence[FacilityState]], list[Any]]:
    """A list comprehension reading field ``name`` of every facility, compiled for that one
    name (as ``dataclasses`` compiles ``__init__``): the ranking reads several fields of
    thousands of facilities per call, and this is about twice as fast as ``getattr`` or
    ``attrgetter`` with the name as data."""
    if not name.isidentifier():
        raise ValueError(f"not a field name: {name!r}")
    namespace: dict[str, Any] = {}
    exec(f"def read(facilities):\n    return [f.{name} for f in facilities]", namespace)
    reader: Callable[[Sequence[FacilityState]], list[Any]] = namespace["read"]
    return reader


_READERS = {name: _reader(name) for name in FACILITY_FIELDS}


def _dtype(declared: Any) -> Any:
    """The array type for a declared field type (see the module docstring)."""
    if declared is bool:
        return bool
    if declared in (int, float):
        return np.int64 if declared is int else np.float64
    optional = typing.get_origin(declared) in (typing.Union, types.UnionType)
    members = set(typing.get_args(declared)) - {type(None)}
    if optional and members and members <= {int, float}:
        return np.float64  # None becomes NaN
    return object


_FACILITY_DTYPES = {name: _dtype(declared) for name, declared in FACILITY_FIELDS.items()}


def _column(values: list[Any], dtype: Any) -> np.ndarray:
    if dtype is np.float64:
        return np.asarray(values, dtype=np.float64)  # numpy reads None as NaN here
    return np.fromiter(values, dtype=dtype, count=len(values))


class _Codes(dict[Any, int]):
    """Number each distinct value as it is first seen (the codes of a categorical column)."""

    def __missing__(self, value: Any) -> int:
        self[value] = code = len(self)
        return code


class FacilityArrays:
    """The given facilities, one array per field, in the order given."""

    def __init__(self, facilities: Sequence[FacilityState], network: Network) -> None:
        self.facilities = facilities
        self.network = network
        self._columns: dict[str, np.ndarray] = {}
        self._codes: dict[str, tuple[np.ndarray, list[Any]]] = {}
        self._memo: dict[tuple[str, frozenset[Any]], np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.facilities)

    def __getitem__(self, name: str) -> np.ndarray:
        """The ``FacilityState`` field ``name`` of every facility."""
        column = self._columns.get(name)
        if column is None:
            if name not in FACILITY_FIELDS:
                raise KeyError(f"FacilityState has no field {name!r}")
            column = _column(_READERS[name](self.facilities), _FACILITY_DTYPES[name])
            self._columns[name] = column
        return column

    def codes(self, name: str) -> tuple[np.ndarray, list[Any]]:
        """The field as numbers: per facility the index of its value in the returned list of
        distinct values (in order of first appearance). For lookups per kind or region."""
        found = self._codes.get(name)
        if found is None:
            if name not in FACILITY_FIELDS:
                raise KeyError(f"FacilityState has no field {name!r}")
            numbering = _Codes()
            codes = np.fromiter(
                map(numbering.__getitem__, _READERS[name](self.facilities)),
                dtype=np.int64,
                count=len(self.facilities),
            )
            found = self._codes[name] = (codes, list(numbering))
        return found

    def isin(self, name: str, allowed: Collection[Any]) -> np.ndarray:
        """Per facility: is its value of field ``name`` one of ``allowed``?"""
        codes, values = self.codes(name)
        table = np.fromiter((value in allowed for value in values), dtype=bool, count=len(values))
        return table[codes]

    def of_kind(self, name: str) -> np.ndarray:
        """The ``KindPolicy`` field ``name`` of each facility's kind (as :meth:`__getitem__`
        types it)."""
        key = f"kind policy {name}"
        column = self._columns.get(key)
        if column is None:
            if name not in KIND_POLICY_FIELDS:
                raise KeyError(f"KindPolicy has no field {name!r}")
            codes, kinds = self.codes("kind")
            policies = self.network.kinds
            per_kind = [
                getattr(policies[kind], name) if kind in policies else None for kind in kinds
            ]
            declared = KIND_POLICY_FIELDS[name]
            if None in per_kind and declared is not bool:
                declared = declared | None  # a kind the network does not know has no value
            column = self._columns[key] = _column(per_kind, _dtype(declared))[codes]
        return column

    def includes_all(self, name: str, needed: frozenset[Any]) -> np.ndarray:
        """Per facility: does its set-valued field ``name`` hold all of ``needed``?"""
        key = (name, needed)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = np.fromiter(
                map(needed.issubset, self[name]), dtype=bool, count=len(self.facilities)
            )
        return found
