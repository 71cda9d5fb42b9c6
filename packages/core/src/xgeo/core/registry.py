"""Named tables of things (datasets, writers, protocols, optimizers, presets, ...), one type for all.

A :class:`Registry` maps names to objects. ``register`` adds one (directly or as a decorator);
``get`` looks one up, and an unknown name is a one-line :class:`UnknownNameError` that lists the
known names, in the toolkit's one error style.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar, overload

from xgeo.core.errors import XgeoError

T = TypeVar("T")


class UnknownNameError(XgeoError, KeyError):
    """A name that is not in a registry; the line lists the names that are."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.line()


class Registry(Generic[T]):
    """A name -> object table with one error style for unknown names.

    ``kind`` names the entries in messages (``"dataset"``, ``"optimizer"``, ...); ``option``, when
    given, is the flag or key a user types to choose one (``"--op"``), so the message can name it.
    """

    def __init__(self, kind: str, option: str | None = None) -> None:
        self.kind = kind
        self.option = option
        self._entries: dict[str, T] = {}

    @overload
    def register(self, name: str) -> Callable[[T], T]: ...
    @overload
    def register(self, name: str, obj: T) -> T: ...

    def register(self, name: str, obj: T | None = None):
        """Add ``obj`` as ``name``; without ``obj``, a decorator that adds what it decorates."""
        if obj is not None:
            return self._add(name, obj)

        def decorator(target: T) -> T:
            return self._add(name, target)

        return decorator

    def _add(self, name: str, obj: T) -> T:
        if name in self._entries and self._entries[name] is not obj:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = obj
        return obj

    def get(self, name: str) -> T:
        """The entry called ``name``, or :class:`UnknownNameError` listing the known names."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            chosen = f"{self.option} {name}" if self.option else f"{self.kind} {name!r}"
            raise UnknownNameError(None, f"unknown {chosen}", f"use one of {', '.join(self.names()) or '(none)'}") from None

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._entries)

    def items(self) -> list[tuple[str, T]]:
        """``(name, entry)`` pairs in registration order."""
        return list(self._entries.items())

    def values(self) -> list[T]:
        """The entries in registration order."""
        return list(self._entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._entries)})"
