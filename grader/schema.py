"""Small helpers to read a YAML mapping strictly: every error names the file and the key."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from grader.errors import GraderError

_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true/false",
               list: "a list", dict: "a mapping"}


class Reader:
    """Reads keys of one mapping, remembering where it is for error messages."""

    def __init__(self, data: Any, where: str, path: Path) -> None:
        self.path = path
        self.where = where
        if not isinstance(data, dict):
            self.fail(f"expected a mapping, got {_describe(data)}")
        self.data = data

    def fail(self, message: str, key: str | None = None) -> None:
        """Raise a GraderError naming the file and the key path."""
        at = f"{self.where}.{key}" if key and self.where else (key or self.where or "top level")
        raise GraderError(f"{self.path}: {at}: {message}")

    def allow(self, *keys: str) -> None:
        """Reject keys that are not in ``keys`` (a typo must not be silently ignored)."""
        unknown = sorted(str(k) for k in self.data if k not in keys)
        if unknown:
            self.fail(f"unknown key {unknown[0]!r} (allowed: {', '.join(keys)})")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        """Return ``data[key]`` checked against ``kind``; missing and no default is an error."""
        if key not in self.data:
            if default is ...:
                self.fail("missing (required)", key)
            return default
        value = self.data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, bool) and bool not in kinds:
            self.fail(f"expected {_names(kinds)}, got {value!r}", key)
        if not isinstance(value, kinds):
            self.fail(f"expected {_names(kinds)}, got {_describe(value)}", key)
        return value

    def number(self, key: str, default: Any = ..., *, positive: bool = False,
               integer: bool = False) -> Any:
        """A finite number (an integer if ``integer``), > 0 if ``positive``, else >= 0."""
        value = self.get(key, int if integer else float, default)
        # written so that NaN fails too: every comparison with NaN is False
        if not ((0 < value if positive else 0 <= value) and value < float("inf")):
            what = "an integer" if integer else "a finite number"
            self.fail(f"must be {what} {'>' if positive else '>='} 0, not {value}", key)
        return value

    def names(self, key: str, default: Any = ...) -> tuple[str, ...]:
        """A string or a list of strings, returned as a tuple."""
        value = self.get(key, (str, list), default)
        if isinstance(value, str):
            return (value,)
        if not all(isinstance(v, str) for v in value):
            self.fail("expected a list of names (strings)", key)
        return tuple(value)

    def child(self, key: str, default: Any = ...) -> "Reader":
        """A Reader for the mapping under ``key``."""
        return Reader(self.get(key, dict, default), f"{self.where}.{key}" if self.where else key,
                      self.path)


def _names(kinds: tuple[type, ...]) -> str:
    return " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds)


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    return f"{_TYPE_NAMES.get(type(value), type(value).__name__)} ({value!r})"[:120]


def flat(items: list) -> list:
    """A list whose items may be lists themselves (a shared piece spliced in with a YAML
    anchor: ``[*activation_checks, {...}]``), made flat."""
    return [x for item in items for x in (item if isinstance(item, list) else [item])]
