"""What student code can reach from the Linux fork server's child: nothing but its channel."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import ROOT, SUBMISSIONS, run_cli
from grader.sandbox.backend import chosen

pytestmark = pytest.mark.skipif(chosen() != "linux",
                                reason="these defences are the Linux fork server's")



class Listener:
    """A TCP, a UDP and two unix listeners on this host that record whatever reaches them."""

    def __init__(self, folder) -> None:
        self.received: list[str] = []
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.path = str(folder / "listener.sock")
        self.unix = socket.socket(socket.AF_UNIX)
        self.unix.bind(self.path)
        os.chmod(self.path, 0o777)
        self.abstract_name = f"nn-grader-test-{os.getpid()}-{id(self)}"
        self.abstract = socket.socket(socket.AF_UNIX)
        self.abstract.bind(b"\0" + self.abstract_name.encode())
        for s in (self.tcp, self.unix, self.abstract):
            s.listen()
            threading.Thread(target=self._accept, args=(s,), daemon=True).start()
        threading.Thread(target=self._datagrams, daemon=True).start()

    def _accept(self, server) -> None:
        try:
            while True:
                conn, _ = server.accept()
                self.received.append(f"connection on {server.family.name}")
        except OSError:
            return

    def _datagrams(self) -> None:
        try:
            while True:
                self.received.append(f"datagram {self.udp.recv(100)!r}")
        except OSError:
            return

    def close(self) -> None:
        for s in (self.tcp, self.udp, self.unix, self.abstract):
            s.close()


def _probe_submission(folder, listener: Listener):
    """The reaches_out fixture, told where the live listeners are."""
    sub = folder / "sub"
    shutil.copytree(SUBMISSIONS / "hostile" / "reaches_out", sub)
    (sub / "mytorch" / "targets.json").write_text(json.dumps({
        "tcp": listener.tcp.getsockname()[1], "udp": listener.udp.getsockname()[1],
        "unix": listener.path, "abstract": listener.abstract_name}))
    return sub


def _ipc_objects() -> str:
    done = subprocess.run(["ipcs"], capture_output=True, text=True)
    return done.stdout if done.returncode == 0 else ""


@pytest.fixture()
def listener(tmp_path):
    os.chmod(tmp_path, 0o755)
    lis = Listener(tmp_path)
    yield lis
    lis.close()


def test_no_network_no_ipc_no_keyring_no_namespace(tmp_path, listener):
    """A correct layer that, at import, tries a loopback TCP listener, a UDP one, a unix socket
    on the host and an abstract one, System V IPC, the user keyring and a user namespace:
    nothing reaches the listeners, no IPC object is left, every attempt is refused, and the
    layer keeps full marks."""
    sub = _probe_submission(tmp_path, listener)
    before = _ipc_objects()
    done = run_cli("grade", str(sub), "--json", str(tmp_path / "r.json"), "--quiet")
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["score"] == report["max_score"]
    assert listener.received == []
    assert _ipc_objects() == before
    from grader import rubric, vectors
    from grader.grade import grade_path
    from grader.sandbox.client import Zygote

    rub = rubric.load(ROOT / "rubrics" / "linear.yaml")
    zygote = Zygote()
    try:
        printed = grade_path(sub, rub, vectors.load(rub), zygote).output
    finally:
        zygote.close()
    assert "targets from targets.json" in printed and "REACHED" not in printed
    for what in ("tcp", "udp", "unix", "abstract", "sysv", "keyring", "userns"):
        assert f"blocked {what}" in printed, printed


def test_no_variable_of_the_graders_environment_reaches_student_code(tmp_path, listener):
    """A canary in the grader's environment appears nowhere student code can look: not in
    os.environ, not in /proc/self/environ, not in its parent's."""
    sub = _probe_submission(tmp_path, listener)
    done = run_cli("grade", str(sub), env={"NN_GRADER_CANARY": "canary-7f3a9"})
    assert done.returncode == 0, done.stderr
    assert "ENV []" in done.stdout
    assert "canary-7f3a9" not in done.stdout


def test_files_right_under_the_root_folder_are_covered(tmp_path):
    """A file directly under / (not in a folder) is as unreadable as the folders around it."""
    secret = Path("/nn-grader-test-secret.txt")
    secret.write_text("TOPSECRET")
    secret.chmod(0o644)
    sub = tmp_path / "sub"
    shutil.copytree(SUBMISSIONS / "correct" / "matmul" / "mytorch", sub / "mytorch")
    linear = sub / "mytorch" / "nn" / "linear.py"
    linear.write_text(linear.read_text() + f"\ntry:\n    print('READ', open({str(secret)!r})"
                      f".read())\nexcept OSError as exc:\n    print('blocked', exc)\n")
    try:
        done = run_cli("grade", str(sub))
    finally:
        secret.unlink()
    assert done.returncode == 0, done.stderr
    assert "TOPSECRET" not in done.stdout and "Score: 100 / 100" in done.stdout


_NO_VIEW = """
import json, sys
from pathlib import Path
from grader.sandbox import linux
linux.narrow_view = lambda *args: False       # as in a container without mount rights
from grader.sandbox.client import Zygote
zygote = Zygote()
from grader import rubric, vectors
from grader.grade import grade_path
rub = rubric.load(Path(sys.argv[1]))
report = grade_path(Path(sys.argv[2]), rub, vectors.load(rub), zygote)
zygote.close()
print(json.dumps({"sandbox": report.sandbox, "output": report.output, "score": report.score}))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="sandbox users exist only as root")
def test_without_mount_rights_root_only_secrets_stay_closed(tmp_path):
    """With the narrow view refused (Docker's default), a hostile submission that knows where
    the rubric and the hidden vectors are still cannot read them once they are root-only (as
    the Gradescope set-up makes them); the report says the isolation was permissions only."""
    course = tmp_path / "course"
    course.mkdir(mode=0o700)
    shutil.copy(ROOT / "rubrics" / "linear.yaml", course / "rubric.yaml")
    shutil.copytree(ROOT / "rubrics" / "linear" / "vectors", course / "vectors")
    text = (course / "rubric.yaml").read_text().replace("vectors: linear/vectors", "vectors: vectors")
    text = "".join(line for line in text.splitlines(keepends=True)   # no solution here
                   if not line.startswith("reference:"))
    (course / "rubric.yaml").write_text(text)
    sub = tmp_path / "sub"
    shutil.copytree(SUBMISSIONS / "correct" / "matmul" / "mytorch", sub / "mytorch")
    linear = sub / "mytorch" / "nn" / "linear.py"
    probe = "".join(f"\ntry:\n    print('READ', open({str(p)!r}, 'rb').read()[:20])\n"
                    f"except OSError as exc:\n    print('blocked', type(exc).__name__)\n"
                    for p in (course / "rubric.yaml", course / "vectors" / "hidden.npz"))
    linear.write_text(linear.read_text() + probe)
    done = subprocess.run([sys.executable, "-c", _NO_VIEW, str(course / "rubric.yaml"), str(sub)],
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert "permissions only" in report["sandbox"]
    assert report["output"].count("blocked PermissionError") == 2, report["output"]
    assert "READ" not in report["output"] and report["score"] == 100
