"""The only channel to student code: framed JSON headers followed by raw array bytes.

A frame is a 4-byte big-endian header length, then a UTF-8 JSON header whose ``arrays`` lists
each array as ``[dtype, shape]`` (a plain numeric dtype such as "<f8", and a list of sizes),
then each array's bytes in C order. Nothing is pickled or evaluated: the reader accepts only
numeric dtypes and bounds every size before reading, so a child cannot make the parent run
its objects or exhaust its memory.
"""
from __future__ import annotations

import json
import os
import re
import select
import struct
import time
from grader.records import record
from typing import Any

import numpy as np

MAX_HEADER = 1 << 20
_readv = getattr(os, "readv", None)


class ChannelClosed(Exception):
    """The other end closed the channel (for a child: it died or exited)."""


class ChannelTimeout(Exception):
    """No complete frame arrived before the deadline."""


class ChannelCorrupt(Exception):
    """The bytes received are not a valid frame."""


def encode_frame(header: dict, arrays: list[np.ndarray] = ()) -> bytes:
    """Serialise one frame."""
    return b"".join(frame_parts(header, arrays))


_DESCRS: dict = {}   # dtype -> its descriptor string ("<f8"), which numpy makes anew each time


def frame_parts(header: dict, arrays: list[np.ndarray] = ()) -> list:
    """One frame as the pieces to write: the length and header, then each array's bytes in C
    order (views of the arrays' memory)."""
    specs, views = [], []
    for a in arrays:
        a = np.asarray(a)
        descr = _DESCRS.get(a.dtype)
        if descr is None:
            descr = _DESCRS[a.dtype] = a.dtype.str
        specs.append([descr, list(a.shape)])
        views.append(_bytes_of(a))
    head = json.dumps(dict(header, arrays=specs), allow_nan=True).encode()
    return [struct.pack(">I", len(head)) + head, *views]


def _bytes_of(a: np.ndarray) -> memoryview:
    """The array's bytes in C order, as a flat view of its memory (copied only when it is not
    contiguous)."""
    if a.ndim and a.size and a.flags.c_contiguous:
        try:
            return memoryview(a).cast("B")   # a tenth of what the numpy route below costs
        except (TypeError, ValueError, NotImplementedError):   # a format memoryview lacks
            pass
    return memoryview(np.ascontiguousarray(a.reshape(-1)).view(np.uint8))


def write_parts(fd: int, parts: list) -> None:
    """Write byte strings and byte views to a file descriptor, as few system calls as the
    pipe allows (one, usually)."""
    parts = [memoryview(p) for p in parts if len(p)]
    if not hasattr(os, "writev"):   # Windows: one write per part
        for data in parts:
            while data:
                data = data[os.write(fd, data):]
        return
    first = 0
    while first < len(parts):
        done = os.writev(fd, parts[first:first + 512])
        while first < len(parts) and done >= len(parts[first]):
            done -= len(parts[first])
            first += 1
        if done:
            parts[first] = parts[first][done:]


def write_frame(fd: int, header: dict, arrays: list[np.ndarray] = ()) -> None:
    """Write one whole frame to a file descriptor, each array straight from its memory (a
    large reply costs no copy)."""
    write_parts(fd, frame_parts(header, arrays))


NUMERIC = "biufc"   # the dtype kinds that travel: booleans, integers, floats, complex
_DESCR = re.compile(r"[<>|=][biufc][0-9]{1,2}")
MAX_DIMS = 32


_DTYPES: dict[str, np.dtype] = {}   # descriptors already checked, with their dtype


def array_layout(spec: Any) -> tuple[np.dtype, tuple[int, ...], int]:
    """The dtype, shape and byte size an ``arrays`` entry of a header announces: a plain numeric
    dtype and non-negative integer sizes only."""
    if not (isinstance(spec, list) and len(spec) == 2 and isinstance(spec[0], str)
            and isinstance(spec[1], list) and len(spec[1]) <= MAX_DIMS):
        raise ChannelCorrupt(f"bad array entry {str(spec)[:80]!r}")
    descr, shape = spec
    dtype = _DTYPES.get(descr)
    if dtype is None:
        if not _DESCR.fullmatch(descr):
            raise ChannelCorrupt(f"bad array dtype {descr[:20]!r}: not a plain numeric dtype")
        try:
            dtype = np.dtype(descr)
        except TypeError:
            raise ChannelCorrupt(f"bad array dtype {descr!r}") from None
        _DTYPES[descr] = dtype
    size = dtype.itemsize
    for n in shape:
        if type(n) is not int or n < 0:
            raise ChannelCorrupt(f"bad array shape {str(shape)[:80]}")
        size *= n
    return dtype, tuple(shape), size


def _arrays(body: bytearray, layouts: list) -> list[np.ndarray]:
    """The arrays laid out one after another in ``body``: views of it (writable, and no copy;
    made by ndarray itself, half the cost of frombuffer and reshape)."""
    arrays, at, view = [], 0, np.ndarray
    for dtype, shape, nbytes in layouts:
        try:
            arrays.append(view(shape, dtype, body, at))
        except (ValueError, OverflowError, TypeError):   # sizes numpy cannot hold
            raise ChannelCorrupt(f"bad array shape {str(list(shape))[:80]}") from None
        at += nbytes
    return arrays


def decode_array(data: bytes) -> np.ndarray:
    """Re-create an array from the bytes of a .npy file (the format of the stored test
    vectors): plain numeric and boolean dtypes only, and a shape that fits the bytes actually
    there (a forged header cannot make us allocate more)."""
    header = _npy_header(data)
    if header is None:
        raise ChannelCorrupt("bad array bytes: not a plain .npy array")
    descr, fortran, shape, offset = header
    try:
        dtype = np.dtype(descr)
    except TypeError:
        raise ChannelCorrupt(f"bad array bytes: dtype {descr!r}") from None
    if dtype.hasobject or dtype.kind not in "biufc":
        raise ChannelCorrupt(f"bad array bytes: dtype {descr!r} is not numeric")
    count = 1
    for n in shape:
        count *= n
    if count * dtype.itemsize != len(data) - offset:
        raise ChannelCorrupt(f"bad array bytes: shape {shape} does not match "
                             f"{len(data) - offset} bytes")
    arr = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
    return arr.reshape(shape, order="F" if fortran else "C").copy()


_NPY_HEADER = re.compile(
    r"\{'descr': '([<>|=][a-zA-Z][0-9]{1,2})', 'fortran_order': (True|False), "
    r"'shape': \(((?:\d+, ?)*\d*)\), \}\s*")


def _npy_header(data: bytes) -> tuple[str, bool, tuple[int, ...], int] | None:
    """Parse a version 1-3 .npy header without evaluating it."""
    if len(data) < 10 or data[:6] != b"\x93NUMPY":
        return None
    major = data[6]
    if major == 1:
        (length,), start = struct.unpack("<H", data[8:10]), 10
    elif major in (2, 3) and len(data) >= 12:
        (length,), start = struct.unpack("<I", data[8:12]), 12
    else:
        return None
    try:
        text = data[start:start + length].decode("latin1")
    except UnicodeDecodeError:
        return None
    m = _NPY_HEADER.fullmatch(text)
    if m is None:
        return None
    shape = tuple(int(n) for n in m.group(3).replace(" ", "").split(",") if n)
    return m.group(1), m.group(2) == "True", shape, start + length


class FrameReader:
    """Reads frames from a file descriptor with a deadline and a size bound."""

    def __init__(self, fd: int, max_bytes: int) -> None:
        self.fd = fd
        self.max_bytes = max_bytes
        self.buf = bytearray()

    def _wait(self, deadline: float | None) -> None:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                raise ChannelTimeout()

    def _recv(self, n: int, deadline: float | None) -> bytes:
        """At most ``n`` bytes as soon as some are there (b"" at the end of the channel)."""
        self._wait(deadline)
        return os.read(self.fd, n)

    def _recv_into(self, view: memoryview, deadline: float | None) -> int:
        """Read straight into ``view``; the number of bytes read (0 at the end)."""
        self._wait(deadline)
        if _readv is not None:
            return _readv(self.fd, [view])
        chunk = os.read(self.fd, len(view))   # Windows has no readv
        view[:len(chunk)] = chunk
        return len(chunk)

    def _fill(self, n: int, deadline: float | None) -> None:
        while len(self.buf) < n:
            chunk = self._recv(max(65536, n - len(self.buf)), deadline)
            if not chunk:
                raise ChannelClosed()
            self.buf += chunk

    def _take(self, n: int, deadline: float | None) -> bytearray:
        if n > self.max_bytes:
            raise ChannelCorrupt(f"frame part of {n} bytes exceeds the limit of {self.max_bytes}")
        self._fill(n, deadline)
        data = self.buf[:n]
        del self.buf[:n]
        return data

    def _read_into(self, view: memoryview, deadline: float | None) -> None:
        """Fill ``view``: first from what is buffered, then straight from the descriptor."""
        done = min(len(self.buf), len(view))
        view[:done] = self.buf[:done]
        del self.buf[:done]
        while done < len(view):
            got = self._recv_into(view[done:], deadline)
            if not got:
                raise ChannelClosed()
            done += got

    def read(self, deadline: float | None = None) -> tuple[dict, list[np.ndarray]]:
        """Read one frame; raises ChannelClosed, ChannelTimeout or ChannelCorrupt."""
        (size,) = struct.unpack(">I", self._take(4, deadline))
        if size > MAX_HEADER:
            raise ChannelCorrupt(f"header of {size} bytes")
        try:
            header = json.loads(self._take(size, deadline), parse_constant=_no_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ChannelCorrupt(f"header is not JSON: {str(exc)[:200]}") from None
        except RecursionError:
            raise ChannelCorrupt("header is nested too deeply") from None
        if not isinstance(header, dict) or not isinstance(header.get("arrays"), list):
            raise ChannelCorrupt("header is not a mapping with a list of arrays")
        layouts, total = [], size
        for spec in header["arrays"]:   # every size is checked before any byte is awaited
            layout = array_layout(spec)
            total += layout[2]
            if total > self.max_bytes:  # the whole frame, not just each part, is bounded
                raise ChannelCorrupt(f"frame exceeds the limit of {self.max_bytes} bytes")
            layouts.append(layout)
        body = bytearray(total - size)   # every array's bytes, read straight in at once
        if body:
            self._read_into(memoryview(body), deadline)
        return header, _arrays(body, layouts)


def _no_constant(name: str) -> None:
    """Headers hold no NaN or infinity: numbers that compare with nothing are refused."""
    raise ValueError(f"{name} in a header")


def parse_frame(data: bytes) -> tuple[dict, list[np.ndarray]]:
    """One whole frame held in memory (a cache entry, say), read like one from a channel."""
    if len(data) < 4:
        raise ChannelCorrupt("frame too short")
    (size,) = struct.unpack(">I", data[:4])
    try:
        header = json.loads(data[4:4 + size], parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ChannelCorrupt(f"header is not JSON: {str(exc)[:200]}") from None
    if not isinstance(header, dict) or not isinstance(header.get("arrays"), list):
        raise ChannelCorrupt("header is not a mapping with a list of arrays")
    layouts = [array_layout(spec) for spec in header["arrays"]]
    end = 4 + size + sum(nbytes for *_, nbytes in layouts)
    if end > len(data):
        raise ChannelCorrupt("frame shorter than its arrays")
    if end != len(data):
        raise ChannelCorrupt("bytes after the frame's arrays")
    return header, _arrays(bytearray(memoryview(data)[4 + size:]), layouts)


@record(frozen=True)
class Value:
    """What a child reported for one attribute or return value, re-created in the parent."""
    kind: str                  # array | number | none | sequence | other | missing
    type_name: str = ""
    array: np.ndarray | None = None
    text: str = ""

    def describe(self) -> str:
        """A short description a student recognises: 'None', 'a list', 'a float64 array'."""
        if self.kind == "missing":
            return "not set"
        if self.kind == "none":
            return "None"
        if self.kind == "array":
            return f"a {self.array.dtype} array of shape {self.array.shape}"
        if self.kind == "number":
            return f"a Python {self.type_name} ({self.text})"
        if self.kind == "sequence":
            return f"a {self.type_name}"
        return f"a {self.type_name} object"


def encode_value(value: Any) -> tuple[dict, list[np.ndarray]]:
    """Child side: describe any Python object as a header entry plus arrays."""
    if isinstance(value, (np.ndarray, np.generic)) and value.dtype.kind in NUMERIC:
        return {"kind": "array", "type": type(value).__name__}, [np.asarray(value)]
    if value is None:
        return {"kind": "none", "type": "NoneType"}, []
    if isinstance(value, (bool, int, float)):
        return {"kind": "number", "type": type(value).__name__, "text": repr(value)[:100]}, \
            [np.asarray(value, dtype=float if isinstance(value, float) else np.int64)
             if abs(value) < 2 ** 62 else np.asarray(float(value))]
    if isinstance(value, (list, tuple)):
        try:
            arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError, OverflowError):
            return {"kind": "other", "type": type(value).__name__, "text": _safe_repr(value)}, []
        return {"kind": "sequence", "type": type(value).__name__}, [arr]
    return {"kind": "other", "type": type(value).__name__, "text": _safe_repr(value)}, []


def decode_value(entry: Any, arrays: list[np.ndarray], index: int) -> tuple[Value, int]:
    """Parent side: rebuild a Value from a header entry; returns it and the next array index."""
    if not isinstance(entry, dict):
        raise ChannelCorrupt("value entry is not a mapping")
    kind = entry.get("kind")
    type_name, text = str(entry.get("type", ""))[:80], str(entry.get("text", ""))[:200]
    if kind in ("array", "number", "sequence"):
        if index >= len(arrays):
            raise ChannelCorrupt("value refers to a missing array")
        return Value(kind, type_name, arrays[index], text), index + 1
    if kind in ("none", "other", "missing"):
        return Value(kind, type_name, None, text), index
    raise ChannelCorrupt(f"unknown value kind {kind!r}")


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)[:200]
    except Exception as exc:  # a student's __repr__ may raise anything
        return f"<unprintable: {type(exc).__name__}>"
