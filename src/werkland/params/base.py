"""Shared machinery of the typed stage parameters: plain-dict round trip for Snakemake ``params``.

Snakemake detects changed parameters only for plain values (dicts, lists, numbers, strings), so rules
pass :meth:`StageParams.as_dict` and the scripts rebuild the dataclass with
:meth:`StageParams.from_dict`. Unknown or missing keys are errors naming the key and the closest valid
one: a misspelt setting never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from werkland._errors import WerklandInputError, closest, reject_unknown

T = TypeVar("T", bound="StageParams")

__all__ = ["StageParams", "closest", "reject_unknown"]


def _rebuild(tp: Any, value: Any) -> Any:
    origin = typing.get_origin(tp)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp) and isinstance(value, Mapping):
        return tp.from_dict(value) if issubclass(tp, StageParams) else tp(**value)
    if origin is tuple and isinstance(value, (list, tuple)):
        args = typing.get_args(tp)
        inner = args[0] if args else Any
        return tuple(_rebuild(inner, v) for v in value)
    if origin in (types.UnionType, typing.Union):
        for arg in typing.get_args(tp):
            if arg is type(None) and value is None:
                return None
        for arg in typing.get_args(tp):
            if arg is not type(None):
                return _rebuild(arg, value)
    return value


class StageParams:
    """Mixin of the frozen parameter dataclasses: ``as_dict`` / ``from_dict``."""

    def as_dict(self) -> dict[str, Any]:
        """Plain nested dict (lists for tuples): what a Snakemake rule passes as ``params``."""
        assert dataclasses.is_dataclass(self)
        return dict(_plain(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
        """Rebuild from :meth:`as_dict`; unknown and missing keys are errors.

        Raises
        ------
        WerklandInputError
            A key that is not a field (naming the closest field), or a missing field.
        """
        assert dataclasses.is_dataclass(cls)
        names = [f.name for f in dataclasses.fields(cls)]
        reject_unknown(data, names, where=cls.__name__, path="stage parameters")
        missing = [n for n in names if n not in data]
        if missing:
            raise WerklandInputError(
                f"{cls.__name__}: missing {', '.join(missing)}",
                path="stage parameters",
                fix=f"build them with {cls.__name__}.from_config(config, ...)",
            )
        hints = typing.get_type_hints(cls)
        return cls(**{n: _rebuild(hints[n], data[n]) for n in names})


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
