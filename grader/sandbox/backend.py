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


class Starting:
    """A sandbox whose processes are starting; ``open`` returns the sandbox. The Linux fork
    server is forked once this process has imported numpy, and so inherits it (importing it
    twice at once would cost a second core the whole time); the portable backend's first
    interpreter boots before this process imports numpy, as it has to import its own."""

    def __init__(self, narrow: bool | None = None, prestart: bool = False) -> None:
        self.narrow, self.prestart = narrow, prestart
        self.kind = chosen()
        self.started = self.spare = self.sandbox = None
        if self.kind == "linux":
            if os.environ.get(ENV) and not linux_supported():   # chosen() checked it otherwise
                raise GraderError(f"{ENV}=linux, but this platform lacks what the fork server "
                                  f"needs (fork, SOCK_SEQPACKET, send_fds); use {ENV}=portable")
            import numpy  # noqa: F401  (before the fork: the server inherits it)

            from grader.sandbox import server

            try:
                self.started = server.start(narrow)
                return
            except OSError as exc:
                if os.environ.get(ENV):
                    raise GraderError(f"the Linux fork server could not start: {exc}") from None
                self.kind = "portable"
        from grader.sandbox import portable_boot

        self.spare = portable_boot.boot()   # importing numpy on the other core

    def open(self):
        """The sandbox (a Zygote or a PortableSandbox: both spawn children that speak the same
        channel). Imports numpy in this process."""
        if self.sandbox is None:
            if self.started is not None:
                from grader.sandbox.client import Zygote

                self.sandbox = Zygote(started=self.started)
                self.sandbox.more = self.prestart
            else:
                from grader.sandbox.portable import PortableSandbox

                self.sandbox = PortableSandbox(self.narrow, prestart=self.prestart,
                                               spare=self.spare)
        return self.sandbox

    def close(self, wait: bool = True) -> None:
        """Stop the sandbox, opened or not."""
        if self.sandbox is not None:
            self.sandbox.close(wait=wait)
        elif self.started is not None:
            self.started.sock.close()   # the server exits when its socket closes
            if wait:
                try:
                    os.waitpid(self.started.pid, 0)
                except ChildProcessError:
                    pass
        elif self.spare is not None:
            self.spare.kill()


def start_sandbox(narrow: bool | None = None, prestart: bool = False) -> Starting:
    """Start the chosen backend's processes; ``Starting.open`` gives the sandbox. Start it
    before anything secret is loaded in this process."""
    return Starting(narrow, prestart)


def open_sandbox(narrow: bool | None = None, prestart: bool = False):
    """Start the chosen backend (a Zygote or a PortableSandbox: both spawn children that
    speak the same channel). Start it before anything secret is loaded in this process.
    ``prestart``: keep the next portable interpreter booting (for batches)."""
    return start_sandbox(narrow, prestart).open()
