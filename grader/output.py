"""Write a report in every format asked for, optionally from a process forked at start-up.

Importing Jinja and loading templates costs about as much as grading itself; a renderer forked
before numpy is imported does that on the other core while the grader works, then waits for the
report. If it fails, the grader renders in-process: the output is the same either way."""
from __future__ import annotations

import os
import sys
from grader.records import record


@record(frozen=True)
class Outputs:
    """What to produce for one report."""
    terminal: bool = True
    colour: bool = False
    html: str | None = None
    json: str | None = None
    autolab: bool = False
    hidden_visibility: str = "after_published"


def use_colour(stream) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    return "NO_COLOR" not in os.environ and hasattr(stream, "isatty") and stream.isatty()


def emit(report, outputs: Outputs) -> None:
    """Render and write every requested output."""
    from grader import render

    if outputs.terminal:
        sys.stdout.write(render.terminal(report, colour=outputs.colour))
    if outputs.html:
        render.write_text(outputs.html, render.html(report))
    if outputs.json:
        data = render.gradescope(report, outputs.hidden_visibility)
        render.write_text(outputs.json, render.results_json(data))
    if outputs.autolab:
        sys.stdout.write(render.autolab(report) + "\n")
    sys.stdout.flush()


class Renderer:
    """A forked process that preloads the templates, then renders the report it is sent."""

    def __init__(self) -> None:
        read_fd, self.write_fd = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(self.write_fd)
            code = 1
            try:
                code = _serve(read_fd)
            finally:
                os._exit(code)
        os.close(read_fd)

    def finish(self, report, outputs: Outputs) -> None:
        """Hand the report over and wait; render here if the renderer did not succeed."""
        import pickle   # here, not at start-up: the renderer and the sandbox start first

        # pickled: the renderer is this process's own fork, the one reader of this pipe
        payload = pickle.dumps((report, outputs))
        try:
            with os.fdopen(self.write_fd, "wb") as pipe:
                pipe.write(payload)
        except OSError:
            pass
        _, status = os.waitpid(self.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            emit(report, outputs)

    def cancel(self) -> None:
        """Stop the renderer without output (grading failed before there was a report)."""
        os.close(self.write_fd)
        os.waitpid(self.pid, 0)


def _serve(read_fd: int) -> int:
    import pickle

    from grader import render
    from grader import report  # noqa: F401  (its classes, for the report sent here)

    from grader.trace import mark

    render.environment(False).get_template("terminal.txt.j2")
    _rehearse(render, report)
    mark("renderer: templates ready")
    with os.fdopen(read_fd, "rb") as pipe:
        data = pipe.read()
    if not data:
        return 0
    mark("renderer: report received")
    report, outputs = pickle.loads(data)
    emit(report, outputs)
    mark("renderer: written")
    return 0


def _rehearse(render, report) -> None:
    """Render a small made-up report once, to nowhere, while the grader works: the first
    rendering loads what the template's filters use (textwrap, say) and specialises their
    code, which the real report then does not wait for."""
    checks = tuple(report.CheckResult(f"c.{k}", "a check", "values", "public", 0.0, 1.0, 0, 2,
                                      status, ("one message about it",) * (status != "passed"),
                                      ("a likely cause, said once",) * (status == "failed"),
                                      ("a_mistake",) * (status == "failed"), f"c{k % 2}")
                   for k, status in enumerate(("passed", "failed", "error", "failed")))
    made_up = report.Report("warm-up", "warm-up", "graded", 1.0, 4.0, checks, output="x\n",
                            components=(("c0", "One"), ("c1", "Two")))
    render.terminal(made_up, colour=True)
