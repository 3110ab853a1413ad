"""Plain record classes, like the standard library's dataclasses, made without compiling code.

``dataclasses`` writes the source of ``__init__``, ``__eq__``, ``__repr__``, ``__hash__`` and
the frozen guards of every class and compiles each (about 0.2 ms a method, and it imports
``inspect``): some 40 ms for the grader's classes, paid by every `grade` run before it can do
anything. Here those methods are shared functions that read the class's field list, so defining
a class costs microseconds; an instance costs a microsecond or two more to build.

The subset the grader uses: ``record(frozen=...)`` with annotated fields in order (a base
record's fields first), defaults, ``field(default=..., default_factory=..., init=False,
compare=False, repr=False)``, ``__post_init__``, ``replace`` and ``fields``.
"""
from __future__ import annotations

from typing import Any, Callable

_NONE = object()


class FrozenInstanceError(AttributeError):
    """Assigning to a field of a frozen record."""


class Field:
    """One field: its name, how it gets a value when none is given, and what it takes part in."""
    __slots__ = ("name", "default", "default_factory", "init", "compare", "repr")

    def __init__(self, default: Any = _NONE, default_factory: Callable[[], Any] | Any = _NONE,
                 init: bool = True, compare: bool = True, repr: bool = True) -> None:
        self.name = ""
        self.default, self.default_factory = default, default_factory
        self.init, self.compare, self.repr = init, compare, repr

    def value(self) -> Any:
        if self.default_factory is not _NONE:
            return self.default_factory()
        return self.default

    @property
    def required(self) -> bool:
        return self.default is _NONE and self.default_factory is _NONE


def field(*, default: Any = _NONE, default_factory: Callable[[], Any] | Any = _NONE,
          init: bool = True, compare: bool = True, repr: bool = True) -> Any:
    """A field with options (as ``dataclasses.field``)."""
    return Field(default, default_factory, init, compare, repr)


def fields(obj: Any) -> tuple[Field, ...]:
    """The fields of a record class or instance, in order."""
    return obj.__record_fields__


def replace(obj: Any, **changes: Any) -> Any:
    """A copy of ``obj`` with some fields changed (fields not in ``__init__`` are rebuilt)."""
    kwargs = {f.name: getattr(obj, f.name) for f in obj.__record_fields__ if f.init}
    for name in changes:
        if name not in kwargs:
            raise TypeError(f"{type(obj).__name__} has no field {name!r} to replace")
    kwargs.update(changes)
    return type(obj)(**kwargs)


def record(cls: type | None = None, *, frozen: bool = False):
    """Make ``cls`` a record: ``@record`` or ``@record(frozen=True)``."""
    def wrap(cls: type) -> type:
        return _process(cls, frozen)
    return wrap if cls is None else wrap(cls)


def _process(cls: type, frozen: bool) -> type:
    inherited = [f for base in reversed(cls.__mro__[1:])
                 for f in getattr(base, "__record_fields__", ())]
    own: dict[str, Field] = {}
    for name, annotation in cls.__dict__.get("__annotations__", {}).items():
        if isinstance(annotation, str) and annotation.startswith(("ClassVar", "typing.ClassVar")):
            continue
        given = cls.__dict__.get(name, _NONE)
        f = given if isinstance(given, Field) else Field(default=given)
        f.name = name
        own[name] = f
        if isinstance(given, Field):   # the class attribute is the plain default, if any
            if f.default is _NONE:
                delattr(cls, name)
            else:
                setattr(cls, name, f.default)
    merged = {f.name: f for f in inherited}
    merged.update(own)
    all_fields = tuple(merged.values())
    seen_default = False
    for f in all_fields:
        if not f.init:
            continue
        if f.required and seen_default:
            raise TypeError(f"{cls.__name__}: field {f.name!r} without a default follows one "
                            "with a default")
        seen_default |= not f.required
    cls.__record_fields__ = all_fields
    cls.__record_frozen__ = frozen
    cls.__dataclass_fields__ = merged   # for tools that look for it (pytest's assertion diff)
    cls.__match_args__ = cls.__record_init_names__ = tuple(f.name for f in all_fields if f.init)
    cls.__record_init_set__ = frozenset(cls.__record_init_names__)
    cls.__record_required__ = frozenset(f.name for f in all_fields if f.init and f.required)
    cls.__record_defaults__ = {f.name: f.default for f in all_fields
                               if f.default is not _NONE and f.default_factory is _NONE}
    cls.__record_factories__ = tuple((f.name, f.default_factory) for f in all_fields
                                     if f.default_factory is not _NONE)
    cls.__record_post_init__ = hasattr(cls, "__post_init__")
    for name, method in (("__init__", _init), ("__repr__", _repr), ("__eq__", _eq)):
        if name not in cls.__dict__:
            setattr(cls, name, method)
    if frozen:
        cls.__setattr__ = _frozen_setattr
        cls.__delattr__ = _frozen_delattr
        if "__hash__" not in cls.__dict__ or cls.__dict__["__hash__"] is None:
            cls.__hash__ = _hash
    elif "__hash__" not in cls.__dict__:
        cls.__hash__ = None   # mutable and compared by value: not hashable (as dataclasses)
    return cls


HOT = 64   # instances of one class after which its __init__ is compiled (see _compile_init)
_made: dict[type, int] = {}


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    cls = type(self)
    made = _made.get(cls, 0) + 1
    _made[cls] = made
    if made == HOT and cls.__init__ is _init:
        cls.__init__ = _compile_init(cls)
    names = cls.__record_init_names__
    values = self.__dict__
    values.update(cls.__record_defaults__)
    if args:
        if len(args) > len(names):
            raise TypeError(f"{cls.__name__}() takes {len(names)} positional arguments but "
                            f"{len(args)} were given")
        values.update(zip(names, args))
    if kwargs:
        if not kwargs.keys() <= cls.__record_init_set__:
            extra = next(n for n in kwargs if n not in cls.__record_init_set__)
            raise TypeError(f"{cls.__name__}() got an unexpected keyword argument {extra!r}")
        if args and not kwargs.keys().isdisjoint(names[:len(args)]):
            twice = next(n for n in kwargs if n in names[:len(args)])
            raise TypeError(f"{cls.__name__}() got multiple values for argument {twice!r}")
        values.update(kwargs)
    for name, factory in cls.__record_factories__:
        if name not in values:
            values[name] = factory()
    if not cls.__record_required__ <= values.keys():
        missing = next(n for n in cls.__record_init_names__ if n not in values)
        raise TypeError(f"{cls.__name__}() missing required argument {missing!r}")
    if cls.__record_post_init__:
        self.__post_init__()


def _compile_init(cls: type) -> Callable[..., None]:
    """An ``__init__`` written for ``cls`` alone, as dataclasses writes one: compiling it costs
    about a tenth of a millisecond, so it is done only for a class made many times in one run
    (a check's verdicts, the values a child sends), where it is some three times faster than
    the shared one."""
    env: dict[str, Any] = {"_NONE": _NONE}
    params, body = ["self"], ["_d = self.__dict__"]
    for i, f in enumerate(cls.__record_fields__):
        if f.default_factory is not _NONE:
            env[f"_f{i}"] = f.default_factory
        if f.default is not _NONE:
            env[f"_v{i}"] = f.default
        if not f.init:
            value = f"_f{i}()" if f.default_factory is not _NONE else \
                (f"_v{i}" if f.default is not _NONE else None)
            if value is not None:
                body.append(f"_d[{f.name!r}] = {value}")
            continue
        if f.default_factory is not _NONE:
            params.append(f"{f.name}=_NONE")
            body.append(f"_d[{f.name!r}] = _f{i}() if {f.name} is _NONE else {f.name}")
        else:
            params.append(f"{f.name}=_v{i}" if f.default is not _NONE else f.name)
            body.append(f"_d[{f.name!r}] = {f.name}")
    if cls.__record_post_init__:
        body.append("self.__post_init__()")
    source = f"def __init__({', '.join(params)}):\n    " + "\n    ".join(body) + "\n"
    exec(compile(source, f"<record {cls.__qualname__}>", "exec"), env)
    init = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


def _repr(self) -> str:
    shown = ", ".join(f"{f.name}={getattr(self, f.name, '<unset>')!r}"
                      for f in self.__record_fields__ if f.repr)
    return f"{type(self).__qualname__}({shown})"


def _key(self) -> tuple:
    return tuple(getattr(self, f.name) for f in self.__record_fields__ if f.compare)


def _eq(self, other: Any) -> bool:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _key(self) == _key(other)


def _hash(self) -> int:
    return hash(_key(self))


def _frozen_setattr(self, name: str, value: Any) -> None:
    if type(self).__record_frozen__ and any(f.name == name for f in self.__record_fields__):
        raise FrozenInstanceError(f"cannot assign to field {name!r}")
    object.__setattr__(self, name, value)


def _frozen_delattr(self, name: str) -> None:
    if type(self).__record_frozen__ and any(f.name == name for f in self.__record_fields__):
        raise FrozenInstanceError(f"cannot delete field {name!r}")
    object.__delattr__(self, name)
