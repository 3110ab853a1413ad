"""Grade your layer with the public checks: `python3 grade.py` (Windows: `py grade.py`).

Runs wherever Python 3.10 or newer runs: macOS, Linux, Windows. The first time, if this Python
lacks numpy, pyyaml or jinja2, it makes a virtual environment in .venv/ and installs them
there (nothing is installed anywhere else). Extra arguments go to the grader, e.g.
`python3 grade.py --html report.html`.
"""
# Written so that any Python can read it, down to 2.7: an old one must get a sentence saying
# what to install, not a syntax error.
import os
import sys

MINIMUM = (3, 10)
HERE = os.path.dirname(os.path.abspath(__file__))
NEEDS = ("numpy", "yaml", "jinja2")


def main():
    if sys.version_info[:2] < MINIMUM:
        sys.stderr.write(
            "grade.py needs Python %d.%d or newer, but this is Python %d.%d (%s). Install a "
            "current Python from https://www.python.org/downloads/ (macOS: the installer "
            "there, or `brew install python`), then run `python3 grade.py` again.\n"
            % (MINIMUM + sys.version_info[:2] + (sys.executable,)))
        return 1
    os.chdir(HERE)
    args = ["grade", ".", "--rubric", "rubric.yaml"] + sys.argv[1:]
    if _has_dependencies():  # exactly `python -m grader ...`, in this process (it exits)
        import runpy

        sys.argv = ["grader"] + args
        runpy.run_module("grader", run_name="__main__", alter_sys=True)
    import subprocess  # only here: grading in this process needs none of it

    python = _venv_python()
    if not os.path.exists(python) or not _venv_ready(python):
        _make_venv(python)
    return subprocess.call([python, "-m", "grader"] + args)


def _has_dependencies():
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in NEEDS)


def _venv_python():
    if os.name == "nt":
        return os.path.join(HERE, ".venv", "Scripts", "python.exe")
    return os.path.join(HERE, ".venv", "bin", "python")


def _venv_ready(python):
    import subprocess

    probe = "import " + ", ".join(NEEDS)
    return subprocess.call([python, "-c", probe], stderr=subprocess.DEVNULL) == 0


def _make_venv(python):
    import subprocess

    print("First run: installing numpy, pyyaml and jinja2 into .venv/ (once; this takes a "
          "minute) ...")
    subprocess.check_call([sys.executable, "-m", "venv", os.path.join(HERE, ".venv")])
    subprocess.check_call([python, "-m", "pip", "install", "-q", "-r",
                           os.path.join(HERE, "requirements.txt")])


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as exc:
        subprocess = sys.modules.get("subprocess")   # imported only when making the venv
        if subprocess is None or not isinstance(exc, subprocess.CalledProcessError):
            raise
        sys.stderr.write("Setting up .venv/ failed (%s). Check your internet connection, or "
                         "install numpy, pyyaml and jinja2 yourself (`python3 -m pip install "
                         "numpy pyyaml jinja2`) and run grade.py again.\n" % exc)
        sys.exit(1)
