"""The parent/child channel: frames are bounded and never unpickled; a child's fate is a Problem."""
from __future__ import annotations

import json
import os
import struct
import time
from pathlib import Path

import numpy as np
import pytest

from grader.sandbox.client import Reply, script_frame

from conftest import ROOT
from grader.sandbox.protocol import (MAX_HEADER, ChannelClosed, ChannelCorrupt, ChannelTimeout,
                                     FrameReader, decode_value, write_frame)


class Marker:
    """Unpickling this creates a file: proof that pickled bytes were (not) loaded."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return open, (str(self.path), "w")


def hand_frame(header: dict, arrays: list[tuple[str, list, bytes]]) -> bytes:
    """A frame built by hand in the documented format (not with encode_frame): each array
    as (dtype, shape, bytes)."""
    head = json.dumps(dict(header, arrays=[[d, s] for d, s, _ in arrays])).encode()
    return struct.pack(">I", len(head)) + head + b"".join(data for _, _, data in arrays)


@pytest.fixture(scope="module")
def plain_zygote():
    """A fork server without the sandbox users' narrow view: these children run as this user
    on packages in tmp_path, to test the channel itself."""
    from grader.sandbox.client import Zygote

    z = Zygote(narrow=False)
    yield z
    z.close()


@pytest.fixture
def pipe():
    r, w = os.pipe()
    fds = {"r": r, "w": w}
    yield fds
    for fd in fds.values():
        try:
            os.close(fd)
        except OSError:
            pass


def soon(seconds: float = 2.0) -> float:
    return time.monotonic() + seconds


# --- protocol -----------------------------------------------------------------------------

def test_frame_round_trip(pipe):
    """A frame written with write_frame reads back with the same header and arrays, which
    the reader may modify (they are its own)."""
    arrays = [np.arange(12, dtype=np.float64).reshape(3, 4), np.array([1, -2], dtype=np.int32),
              np.asfortranarray(np.ones((2, 3), dtype=np.float32)), np.array([np.nan, np.inf]),
              np.arange(6.0).reshape(2, 3).T, np.zeros((0, 3)), np.array([True, False]),
              np.array([1.5, 2.0], dtype=">f8"), np.array([1 + 2j])]
    write_frame(pipe["w"], {"op": "call", "method": "forward", "x": [1.5, None]}, arrays)
    header, got = FrameReader(pipe["r"], 1 << 20).read(soon())
    assert {k: v for k, v in header.items() if k != "arrays"} == \
        {"op": "call", "method": "forward", "x": [1.5, None]}
    assert [(a.dtype, a.shape) for a in got] == [(a.dtype, a.shape) for a in arrays]
    for a, b in zip(got, arrays):
        np.testing.assert_array_equal(a, b)
        assert a.flags.writeable


def test_zero_d_array_round_trip(pipe):
    """A 0-d array (a scalar) keeps its shape () through a frame."""
    write_frame(pipe["w"], {}, [np.array(4.0)])
    _, (got,) = FrameReader(pipe["r"], 1 << 20).read(soon())
    assert got.shape == () and got.item() == 4.0


def test_pickled_array_refused_without_unpickling(pipe, tmp_path):
    """An array announced with an object dtype, carrying pickled bytes, is ChannelCorrupt,
    and nothing is unpickled."""
    import pickle

    marker = tmp_path / "unpickled"
    data = pickle.dumps(np.array([Marker(marker)], dtype=object))
    assert not marker.exists()
    os.write(pipe["w"], hand_frame({"ok": True}, [("|O", [1], data)]))
    with pytest.raises(ChannelCorrupt, match="not a plain numeric dtype"):
        FrameReader(pipe["r"], 1 << 20).read(soon())
    assert not marker.exists()


@pytest.mark.parametrize("spec", [["<U3", [2]], ["|V8", [1]], ["<M8[D]", [1]], ["<f8", [2, -1]],
                                  ["<f8", [True]], ["<f8", [2.0]], ["<f8", "2"], "<f8",
                                  ["<f8", [1] * 33], ["<f8", [2], "x"], ["<f8", [0, 2 ** 64]],
                                  ["<f8", [2 ** 40, 0, 2 ** 40]]],
                         ids=["str", "void", "datetime", "negative", "bool-size", "float-size",
                              "shape-text", "no-shape", "too-many-dims", "extra", "empty-huge-dim",
                              "empty-huge-size"])
def test_bad_array_entry_refused(pipe, spec):
    """An array entry that is not a numeric dtype with a list of non-negative integer sizes
    is ChannelCorrupt."""
    head = json.dumps({"ok": True, "arrays": [spec]}).encode()
    os.write(pipe["w"], struct.pack(">I", len(head)) + head + bytes(64))
    with pytest.raises(ChannelCorrupt, match="bad array"):
        FrameReader(pipe["r"], 1 << 20).read(soon())


def test_header_length_over_limit(pipe):
    """A header length over MAX_HEADER is refused at once, without waiting for its bytes."""
    os.write(pipe["w"], struct.pack(">I", MAX_HEADER + 1))
    start = time.monotonic()
    with pytest.raises(ChannelCorrupt, match="header of"):
        FrameReader(pipe["r"], 1 << 30).read(soon(5))
    assert time.monotonic() - start < 1


def test_array_over_max_bytes(pipe):
    """An array announced larger than max_bytes is refused at once, without waiting for its
    bytes."""
    head = json.dumps({"arrays": [["<f8", [513]]]}).encode()
    os.write(pipe["w"], struct.pack(">I", len(head)) + head)
    start = time.monotonic()
    with pytest.raises(ChannelCorrupt, match="exceeds the limit of 4096"):
        FrameReader(pipe["r"], 4096).read(soon(5))
    assert time.monotonic() - start < 1


def test_frame_total_over_max_bytes(pipe):
    """A frame whose arrays together exceed max_bytes is refused before any array is read."""
    zeros = ("<f8", [200], bytes(1600))   # under the 4096 bound each, not together
    os.write(pipe["w"], hand_frame({"ok": True}, [zeros] * 8))
    with pytest.raises(ChannelCorrupt, match="exceeds the limit"):
        FrameReader(pipe["r"], 4096).read(soon())


def test_array_with_huge_declared_shape(pipe):
    """A few bytes announced with an enormous shape are ChannelCorrupt at once."""
    os.write(pipe["w"], hand_frame({"ok": True}, [("<f8", [2 ** 59], bytes(8))]))
    start = time.monotonic()
    with pytest.raises(ChannelCorrupt, match="exceeds the limit"):
        FrameReader(pipe["r"], 4096).read(soon(5))
    assert time.monotonic() - start < 1


@pytest.mark.parametrize("head", [b"hello", b"\xff\xfe{}", b"[1, 2]", b'{"arrays": 2}'],
                         ids=["text", "not-utf8", "list", "arrays-not-list"])
def test_bad_header_refused(pipe, head):
    """A header that is not a JSON mapping with a list of arrays is ChannelCorrupt."""
    os.write(pipe["w"], struct.pack(">I", len(head)) + head)
    with pytest.raises(ChannelCorrupt, match="header"):
        FrameReader(pipe["r"], 1 << 20).read(soon())


@pytest.mark.parametrize("partial", [b"", b"\x00\x00\x00\x10{\"arr"], ids=["empty", "mid-frame"])
def test_closed_pipe(pipe, partial):
    """The writer closing the pipe (before or during a frame) is ChannelClosed."""
    os.write(pipe["w"], partial)
    os.close(pipe.pop("w"))
    with pytest.raises(ChannelClosed):
        FrameReader(pipe["r"], 1 << 20).read(soon())


def test_deadline(pipe):
    """With a deadline and nothing written, read raises ChannelTimeout at the deadline."""
    start = time.monotonic()
    with pytest.raises(ChannelTimeout):
        FrameReader(pipe["r"], 1 << 20).read(start + 0.3)
    assert 0.25 < time.monotonic() - start < 2


@pytest.mark.parametrize("entry,arrays", [({"kind": "pickle"}, []), ({"kind": None}, []),
                                          ("array", []), ({"kind": "array"}, [])],
                         ids=["unknown-kind", "no-kind", "not-a-mapping", "missing-array"])
def test_decode_value_refuses(entry, arrays):
    """decode_value refuses unknown kinds, non-mappings and references to missing arrays."""
    with pytest.raises(ChannelCorrupt):
        decode_value(entry, arrays, 0)


# --- child --------------------------------------------------------------------------------

STUDENT = '''\
import json, os, struct, time
import numpy as np


def _frame(header, arrays=()):
    head = json.dumps(dict(header, arrays=[[d, s] for d, s, _ in arrays])).encode()
    return struct.pack(">I", len(head)) + head + b"".join(b for _, _, b in arrays)


class Gadget:
    pass


class Trap:
    def __reduce__(self):
        return open, (os.path.join(os.getcwd(), "..", "UNPICKLED"), "w")


class Thing:
    def __init__(self, n):
        self.n = n

    def items(self):
        return [1, 2, 3]

    def gadget(self):
        return Gadget()

    def boom(self):
        return self._lookup("nope")

    def _lookup(self, key):
        return {}[key]

    def nap(self):
        time.sleep(30)

    def quit(self):
        os._exit(3)

    def hello(self):
        print("hello")
        return 2

    def flood(self):
        for _ in range(1000):
            print("x" * 1000)
        return 1

    def garbage(self):
        os.write(4, b"garbage")
        return 1

    def forged_pickle(self):
        import pickle
        data = pickle.dumps(np.array([Trap()], dtype=object))
        os.write(4, _frame({"ok": True, "values": [{"kind": "array"}]}, [("|O", [1], data)]))
        return 1

    def forged_values(self):
        os.write(4, _frame({"ok": True, "values": 5}))
        return 1

    def forged_shape(self):
        payload = ("<f8", [2 ** 59], bytes(8))
        os.write(4, _frame({"ok": True, "values": [{"kind": "array"}]}, [payload]))
        return 1

    def strings(self):
        return np.array(["a", "b"])

    @property
    def limit(self):
        return self._limit

    @limit.setter
    def limit(self, value):
        if value.sum() < 0:
            raise ValueError("limit must not be negative")
        self._limit = value

    def total(self):
        return self._limit.sum()

    def forged_nested(self):
        head = b'{"ok": true, "arrays": [], "values": ' + b"[" * 100000 + b"]" * 100000 + b"}"
        os.write(4, struct.pack(">I", len(head)) + head)

    def forged_nan(self):
        head = b'{"ok": true, "arrays": [], "values": [], "out_dropped": NaN}'
        os.write(4, struct.pack(">I", len(head)) + head)

    def forged_empty_huge(self):
        os.write(4, _frame({"ok": True, "values": [{"kind": "array"}]},
                           [("<f8", [0, 2 ** 40], b"")]))

    def forged_step(self):
        os.write(4, _frame({"ok": True, "values": [], "step": 7}))
        return 1

    def forged_leftover(self):
        os.write(4, _frame({"answers": [{"ok": True, "values": [], "step": 0}]},
                           [("<f8", [1], bytes(8))]))
        return 1

    def forged_answers(self):
        os.write(4, _frame({"answers": {"ok": True}}))
        return 1

    def forged_changed(self):
        os.write(4, _frame({"answers": [{"ok": True, "values": [], "changed": ["yes"],
                                         "step": 0}]}))
        return 1

    def doze(self):
        time.sleep(0.7)
        return 1

    def double(self, a, b):
        a *= 2
        return b.sum()
'''


@pytest.fixture
def student(tmp_path, plain_zygote):
    """Start children on a small student package in tmp_path/student; they are closed after."""
    root = tmp_path / "student"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "mod.py").write_text(STUDENT)
    (root / "pkg" / "broken.py").write_text("import numpy\nimport nothing_here_at_all\n")
    children = []

    def start(limits: dict | None = None, module: str = "pkg.mod"):
        child = plain_zygote.spawn(root, limits or {})
        children.append(child)
        assert child.ready(10).ok
        reply = child.request({"op": "import", "classes": [
            {"key": "thing", "module": module, "cls": "Thing"}]}, timeout=10)
        if reply.ok and reply.failed:   # the import's own failure, as the grader reads it
            reply = Reply(problem=dict(reply.failed)["thing"])
        if reply.ok:
            assert child.request({"op": "construct", "cls": "thing", "args": [2],
                                  "kwargs": {}}).ok
        return child, reply

    yield start
    for child in children:
        child.close()


def call(child, method: str, timeout: float = 3.0):
    return child.request({"op": "call", "method": method}, timeout=timeout)


def test_list_comes_back_as_sequence(student):
    """A method returning a list is a Value of kind sequence with its numbers."""
    child, _ = student()
    reply = call(child, "items")
    assert reply.ok
    (value,) = reply.values
    assert (value.kind, value.type_name, value.describe()) == ("sequence", "list", "a list")
    np.testing.assert_array_equal(value.array, [1, 2, 3])


def test_string_array_comes_back_as_other(student):
    """An array of strings is not an array the grader can compare: kind other, not corrupt."""
    child, _ = student()
    reply = call(child, "strings")
    assert reply.ok
    (value,) = reply.values
    assert (value.kind, value.type_name) == ("other", "ndarray") and "'a'" in value.text


def test_object_comes_back_as_other(student):
    """A method returning an arbitrary object is kind other, with its type name."""
    child, _ = student()
    (value,) = call(child, "gadget").values
    assert (value.kind, value.type_name) == ("other", "Gadget")
    assert value.array is None and "Gadget" in value.text


def test_get_missing_attribute(student):
    """Getting an attribute the object lacks is kind missing; an existing one comes back."""
    child, _ = student()
    reply = child.request({"op": "get", "names": ["n", "A"]})
    n, a = reply.values
    assert (n.kind, n.type_name, n.text, n.array.item()) == ("number", "int", "2", 2)
    assert (a.kind, a.describe()) == ("missing", "not set")


def test_exception_names_only_student_file(student):
    """A student exception is a Problem: type, message, and a traceback of the student's file."""
    child, _ = student()
    problem = call(child, "boom").problem
    assert (problem.kind, problem.type, problem.message) == ("exception", "KeyError", "'nope'")
    assert problem.where.startswith("pkg/mod.py, line ") and problem.where.endswith("_lookup")
    files = [line for line in problem.traceback.splitlines() if line.lstrip().startswith("File")]
    assert len(files) == 2 and all('File "pkg/mod.py"' in line for line in files)
    assert "return {}[key]" in problem.traceback
    assert "<frozen" not in problem.traceback and str(ROOT) not in problem.traceback
    assert "grader" not in problem.traceback
    assert call(child, "items").ok  # an exception does not cost the child


def test_import_error_traceback_has_no_frozen_frames(student):
    """A failing import names the missing module and only the student's file, no importlib."""
    _, reply = student(module="pkg.broken")
    problem = reply.problem
    assert (problem.kind, problem.type, problem.name) == \
        ("exception", "ModuleNotFoundError", "nothing_here_at_all")
    assert 'File "pkg/broken.py", line 2' in problem.traceback
    assert "<frozen" not in problem.traceback and "importlib" not in problem.traceback
    assert str(ROOT) not in problem.traceback


def test_timeout_kills_child(student):
    """A call sleeping past the timeout is a timeout Problem; the child is dead afterwards."""
    child, _ = student()
    start = time.monotonic()
    problem = call(child, "nap", timeout=1).problem
    assert problem.kind == "timeout" and 0.9 < time.monotonic() - start < 5
    assert not Path(f"/proc/{child.pid}").exists()
    start = time.monotonic()
    assert call(child, "items").problem == problem
    assert time.monotonic() - start < 0.5


def test_exit_is_died_with_code(student):
    """os._exit(3) in student code is a died Problem carrying exit code 3."""
    child, _ = student()
    problem = call(child, "quit").problem
    assert (problem.kind, problem.exit_code) == ("died", 3)
    assert call(child, "items").problem == problem


def test_print_comes_back_as_output(student):
    """What a method prints comes back in Reply.output, next to its value."""
    child, _ = student()
    reply = call(child, "hello")
    assert reply.ok and reply.output == "hello\n" and reply.output_dropped == 0
    assert reply.values[0].array.item() == 2


def test_print_flood_truncated(student):
    """A print flood is cut at output_kb and the rest counted in output_dropped."""
    child, _ = student({"output_kb": 1})
    reply = call(child, "flood")
    assert reply.ok
    assert 0 < len(reply.output) <= 1024 and set(reply.output) <= {"x", "\n"}
    assert reply.output_dropped == 1000 * 1001 - len(reply.output)
    assert call(child, "hello").output == "hello\n"  # the cap is per request


def test_garbage_on_response_channel(student):
    """Garbage written to the response fd is a corrupt (or died) Problem, not an exception."""
    child, _ = student()
    problem = call(child, "garbage").problem
    assert problem is not None and problem.kind in ("corrupt", "died")
    assert call(child, "items").problem == problem


def test_forged_pickled_reply_not_unpickled(student, tmp_path):
    """A forged reply carrying a pickled array is corrupt, and the pickle is never loaded."""
    child, _ = student()
    problem = call(child, "forged_pickle").problem
    assert problem is not None and problem.kind == "corrupt"
    assert not (tmp_path / "UNPICKLED").exists()


def test_forged_reply_with_bad_values(student):
    """A forged reply whose values is not a list is a corrupt Problem, not a TypeError."""
    child, _ = student()
    problem = call(child, "forged_values").problem
    assert problem is not None and problem.kind == "corrupt"


@pytest.mark.parametrize("method", ["forged_nested", "forged_nan"])
def test_forged_header_nested_deep_or_not_finite(student, method):
    """A header nested a hundred thousand deep, or holding NaN, is a corrupt Problem."""
    child, _ = student()
    problem = call(child, method).problem
    assert problem is not None and problem.kind == "corrupt"


def test_forged_empty_array_of_absurd_shape_is_a_value_not_a_crash(student):
    """A zero-size array announcing a dimension of 2**40 costs nothing and comes back as it is
    (the checks then judge its shape)."""
    child, _ = student()
    reply = call(child, "forged_empty_huge")
    assert reply.problem is None and reply.values[0].array.shape == (0, 2 ** 40)


def test_forged_reply_with_huge_shape(student):
    """A forged reply whose array header declares an enormous shape is a corrupt Problem."""
    child, _ = student()
    problem = call(child, "forged_shape").problem
    assert problem is not None and problem.kind == "corrupt"


# --- scripts ------------------------------------------------------------------------------

def run_script(child, steps, timeout: float = 3.0):
    assert child.send_frame(script_frame(steps), timeout) is None
    return child.read_script([h for h, _ in steps], timeout)


def quiet_set(value: float) -> tuple[dict, list[np.ndarray]]:
    return {"op": "set", "name": "limit", "quiet": True}, [np.array([value])]


def test_script_quiet_steps_answer_only_on_failure(student):
    """Every step of a script gets a reply; quiet ones that succeed an empty one, the others
    their values; a quiet last step still answers."""
    child, _ = student()
    steps = [quiet_set(2.0), ({"op": "call", "method": "total"}, []), quiet_set(5.0),
             quiet_set(1.0)]
    replies = run_script(child, steps)
    assert [r.ok for r in replies] == [True] * 4
    assert replies[1].values[0].array.item() == 2.0
    assert replies[0].values == replies[2].values == () and replies[3].step == 3
    assert run_script(child, [({"op": "call", "method": "total"}, [])])[0].values[0] \
        .array.item() == 1.0


def test_script_quiet_step_failure_is_its_own(student):
    """A quiet step that raises answers with its exception, at its place; the script stops."""
    child, _ = student()
    steps = [quiet_set(2.0), quiet_set(-1.0), ({"op": "call", "method": "total"}, [])]
    replies = run_script(child, steps)
    assert len(replies) == 2 and replies[0].ok
    assert (replies[1].problem.type, replies[1].problem.message) == \
        ("ValueError", "limit must not be negative")
    assert child.dead is None  # an exception does not cost the child


def test_script_timeout_after_quiet_steps_is_the_call(student):
    """A call that times out after quiet sets is the step that failed, not the sets."""
    child, _ = student()
    steps = [quiet_set(2.0), quiet_set(3.0), ({"op": "call", "method": "nap"}, []),
             ({"op": "call", "method": "total"}, [])]
    replies = run_script(child, steps, timeout=1)
    assert [r.ok for r in replies] == [True, True, False]
    assert replies[2].problem.kind == "timeout"


def test_script_answer_out_of_turn_is_corrupt(student):
    """A frame answering a step that is not due (forged by student code) is corrupt."""
    child, _ = student()
    replies = run_script(child, [({"op": "call", "method": "forged_step"}, []),
                                 ({"op": "call", "method": "total"}, [])])
    assert len(replies) == 1 and replies[0].problem.kind == "corrupt"
    assert "step 7" in replies[0].problem.message and child.dead


def test_script_answers_travel_together_and_each_is_its_own(student):
    """Answers that wait together arrive as one frame; each step still gets its own reply,
    with its own values, in order."""
    child, _ = student()
    steps = [step for v in (1.0, 2.0, 3.0) for step in
             (quiet_set(v), ({"op": "call", "method": "total"}, []))]
    replies = run_script(child, steps)
    assert [r.values[0].array.item() for r in replies[1::2]] == [1.0, 2.0, 3.0]
    assert [r.step for r in replies[1::2]] == [1, 3, 5]


@pytest.mark.parametrize("method", ["forged_leftover", "forged_answers", "forged_changed"])
def test_forged_frame_of_answers_is_corrupt(student, method):
    """A frame of answers with arrays left over, answers that are not a list, or flags that
    are not booleans, is a corrupt Problem."""
    child, _ = student()
    problem = call(child, method).problem
    assert problem is not None and problem.kind == "corrupt"


def test_call_watched_for_changed_inputs(student):
    """A watched call says which of its inputs it changed in place (and nothing else of
    them comes back)."""
    child, _ = student()
    a, b = np.ones((2, 2)), np.ones((2, 2))
    reply = child.request({"op": "call", "method": "double", "watch": True}, [a, b])
    assert reply.ok and reply.changed == (True, False) and reply.values[0].array.item() == 4.0
    assert child.request({"op": "call", "method": "double"}, [a, b]).changed == ()


def test_quiet_call_gives_the_next_answer_its_own_time(student):
    """An answer that follows a quiet call (a warm-up) may take a call's time for each: two
    calls just under the limit together are not a timeout."""
    child, _ = student()
    steps = [({"op": "call", "method": "doze", "quiet": True}, []),
             ({"op": "call", "method": "doze"}, [])]
    replies = run_script(child, steps, timeout=1)
    assert [r.ok for r in replies] == [True, True]
