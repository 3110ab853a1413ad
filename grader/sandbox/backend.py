"""Which sandbox runs student code: the Linux fork server where it works, the portable one
elsewhere. ``NN_GRADER_SANDBOX=portable`` (or ``linux``) forces one."""
from __future__ import annotations

import os
import sys

from grader.errors import GraderError

ENV = "NN_GRADER_SANDBOX"
KINDS = ("linux", "portable")


def linux_supported() -> bool:
    """True where everything the fork server needs exists: fork, a SOCK_SEQPACKET unix socket
    pair and file descriptors sent over it (Linux; macOS lacks SOCK_SEQPACKET, Windows all)."""
    from grader.sandbox import server

    return sys.platform.startswith("linux") and hasattr(os, "fork") and server.supported()


def chosen() -> str:
    """The backend asked for (``NN_GRADER_SANDBOX``), or the best this platform supports."""
    forced = os.environ.get(ENV, "").strip().lower()
    if forced and forced not in KINDS:
        raise GraderError(f"{ENV}={forced!r}: use one of {', '.join(KINDS)}")
    return forced or ("linux" if linux_supported() else "portable")


def open_sandbox(narrow: bool | None = None, prestart: bool = False):
    """Start the chosen backend (a Zygote or a PortableSandbox: both spawn children that
    speak the same channel). Start it before anything secret is loaded in this process.
    ``prestart``: the caller will ask for many children (a batch): the fork server forks each
    ahead, and the portable backend keeps the next interpreter booting."""
    kind = chosen()
    if kind == "linux":
        if os.environ.get(ENV) and not linux_supported():   # chosen() checked it otherwise
            raise GraderError(f"{ENV}=linux, but this platform lacks what the fork server "
                              f"needs (fork, SOCK_SEQPACKET, send_fds); use {ENV}=portable")
        from grader.sandbox.client import Zygote   # numpy first: the server forked next inherits it

        try:
            zygote = Zygote(narrow)
        except OSError as exc:
            if os.environ.get(ENV):
                raise GraderError(f"the Linux fork server could not start: {exc}") from None
        else:
            zygote.more = prestart
            return zygote
    from grader.sandbox import portable_boot

    spare = portable_boot.boot()   # importing numpy on the other core while we do the same
    from grader.sandbox.portable import PortableSandbox

    return PortableSandbox(narrow, prestart=prestart, spare=spare)
