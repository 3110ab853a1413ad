"""The portable sandbox's child: a fresh interpreter started for one submission.

Its standard input and output are the channel (taken over at once; fds 0-2 then point to the
null device, so nothing the student prints or writes to them can forge a frame). It imports
numpy and the worker, waits for its set-up frame (the submission's folder, the limits, a
sandbox user when started as root), becomes the sandbox, and serves requests like the fork
server's child. Nothing here needs fork, /proc, prctl or ``resource``: each is used only where
the OS has it."""
from __future__ import annotations

import json
import os
import struct
import sys
import threading


def main() -> None:
    """Serve one submission; never returns."""
    req, resp = _take_pipes()
    try:
        from grader.sandbox import protocol, worker
    except BaseException as exc:  # numpy missing, say: the parent reports it as its own fault
        _boot_error(resp, f"{type(exc).__name__}: {exc}")
    if _may_become_sandbox_user():   # while the grader is busy too, not after it asks
        _preload()
    _watch_parent()
    reader = protocol.FrameReader(req, 1 << 30)
    try:
        setup, _ = reader.read()
    except protocol.ChannelClosed:  # the parent no longer needs us (a spare never used)
        os._exit(0)
    try:
        root = str(setup["root"])
        capture = worker.prepare(root, dict(setup.get("limits") or {}), setup.get("uid"))
    except Exception as exc:
        _boot_error(resp, f"sandbox set-up failed: {type(exc).__name__}: {exc}")
    worker.serve(reader, resp, capture, root)


# Loaded before the switch to a sandbox user that cannot read the interpreter's folder (a
# Python installed under /root, say): what numpy loads on first use, and the standard modules
# layer code commonly imports.
PRELOAD = ("abc", "collections", "copy", "dataclasses", "enum", "functools", "itertools",
           "math", "numbers", "numpy.testing", "operator", "random", "re", "secrets",
           "statistics", "time", "typing", "warnings", "zlib")


def _may_become_sandbox_user() -> bool:
    """Started as root, with an interpreter other users cannot read: the sandbox user this
    process becomes could import nothing more."""
    if getattr(os, "geteuid", lambda: -1)() != 0:
        return False
    from grader.sandbox import portable_boot

    return not portable_boot.interpreter_open()


def _preload() -> None:
    import importlib

    import numpy as np

    for name in PRELOAD:
        importlib.import_module(name)
    np.random.default_rng(0).standard_normal(2)  # the bit generators' modules


def _take_pipes() -> tuple[int, int]:
    """Keep stdin and stdout as the channel, on descriptors of their own; point 0, 1, 2 at the
    null device."""
    req, resp = os.dup(0), os.dup(1)
    if sys.platform == "win32":  # raw bytes, no newline translation
        import msvcrt

        for fd in (req, resp):
            msvcrt.setmode(fd, os.O_BINARY)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    return req, resp


def _boot_error(resp: int, message: str) -> None:
    """Tell the parent why this interpreter cannot serve (a frame built without numpy)."""
    head = json.dumps({"ok": False, "boot": True, "arrays": [],
                       "error": {"type": "BootError", "message": message[:1000]}}).encode()
    try:
        os.write(resp, struct.pack(">I", len(head)) + head)
    finally:
        os._exit(70)


def _watch_parent() -> None:
    """Exit when the grader is gone, even while student code loops (a thread: the GIL is
    handed over every few milliseconds). Started before the sandbox user's process limit."""
    if sys.platform == "win32":
        target = _wait_windows_parent
    else:
        parent = os.getppid()

        def target() -> None:
            import time

            while os.getppid() == parent:  # re-parented when the grader dies
                time.sleep(0.25)
    thread = threading.Thread(target=lambda: (target(), os._exit(70)), daemon=True)
    thread.start()


def _wait_windows_parent() -> None:
    """Block until the parent process ends (Windows: wait on its process handle)."""
    import _winapi

    synchronize = 0x00100000
    handle = _winapi.OpenProcess(synchronize, False, os.getppid())
    _winapi.WaitForSingleObject(handle, _winapi.INFINITE)


if __name__ == "__main__":
    main()
