"""Command line: a thin layer over each verb's function."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from grader.errors import GraderError


def main(argv: list[str] | None = None) -> int:
    """Run one verb; 0 on success, 2 on a grader or configuration error."""
    argv = sys.argv[1:] if argv is None else argv
    # only the verb asked for is built (each costs milliseconds); all of them for help
    args = _parser(argv[0] if argv and argv[0] in VERBS else None).parse_args(argv)
    for stream in (sys.stdout, sys.stderr):  # a Windows console or pipe that cannot show ✓
        if hasattr(stream, "reconfigure") and (stream.encoding or "").lower() not in (
                "utf-8", "utf8"):
            stream.reconfigure(errors="replace")
    try:
        return args.func(args)
    except GraderError as exc:
        print(f"grader: error: {exc}", file=sys.stderr)
        return 2


VERBS = ("grade", "batch", "vectors", "handout", "gradescope", "rubric")


class _Parser(argparse.ArgumentParser):
    """A verb's parser, with the same help layout as the top one."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)


class _Formatter(argparse.HelpFormatter):
    """argparse's help layout, sized from the terminal by the os module (argparse's own way
    imports shutil, and with it bz2 and lzma, on every run: milliseconds a `grade` run would
    pay before it starts)."""

    def __init__(self, prog: str, **kwargs) -> None:
        if kwargs.get("width") is None:
            try:
                columns = int(os.environ.get("COLUMNS", "")) or os.get_terminal_size().columns
            except (ValueError, OSError):
                columns = 80
            kwargs["width"] = max(columns - 2, 20)
        super().__init__(prog, **kwargs)


def _parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line: every verb, or ``only`` that one."""
    p = argparse.ArgumentParser(
        prog="python -m grader", formatter_class=_Formatter,
        description="Grade student implementations of neural-network layers.")
    sub = p.add_subparsers(dest="verb", required=True, parser_class=_Parser)
    for verb in VERBS:
        if only is None or verb == only:
            ADD[verb](sub)
    return p


def _add_grade(sub) -> None:
    g = sub.add_parser("grade", help="grade one submission (a folder, .zip, .tar or .tar.gz)")
    g.add_argument("submission", type=Path)
    g.add_argument("--rubric", type=Path, default=Path("rubric.yaml"))
    g.add_argument("--json", metavar="FILE", help="write Gradescope results.json ('-' = stdout)")
    g.add_argument("--html", metavar="FILE", help="write an HTML report")
    g.add_argument("--autolab", action="store_true",
                   help="print an Autolab scores line as the last line of output")
    g.add_argument("--quiet", action="store_true", help="do not print the terminal report")
    g.add_argument("--only", metavar="NAME[,NAME]",
                   help="grade only these components, out of their own points (a component id "
                        "such as relu or mseloss, or a file's stem such as activation)")
    g.add_argument("--staff-output", metavar="FILE",
                   help="write what the code printed once hidden cases ran, for course staff "
                        "('-' = stdout; never part of the student's report)")
    g.set_defaults(func=cmd_grade)



def _add_batch(sub) -> None:
    b = sub.add_parser("batch", help="grade a folder of submissions (parallel, resumable)")
    b.add_argument("submissions", type=Path, help="a folder of <id>/ folders and archives")
    b.add_argument("--out", type=Path, required=True, help="where reports and the gradebook go")
    b.add_argument("--rubric", type=Path, default=Path("rubric.yaml"))
    b.add_argument("--jobs", type=int, default=None, help="parallel graders (default: cores)")
    b.add_argument("--force", action="store_true", help="regrade submissions already graded")
    b.add_argument("--dask", metavar="ADDRESS", help="run on an existing Dask cluster")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    b.set_defaults(func=cmd_batch)



def _add_vectors(sub) -> None:
    v = sub.add_parser("vectors", help="run the reference and write the test vectors")
    v.add_argument("--rubric", type=Path, default=Path("rubric.yaml"))
    v.set_defaults(func=cmd_vectors)



def _add_handout(sub) -> None:
    h = sub.add_parser("handout", help="regenerate the student skeleton and the student archive")
    h.add_argument("--rubric", type=Path, default=Path("rubric.yaml"))
    h.add_argument("--out", type=Path, default=None,
                   help="skeleton folder (default: the rubric's `handout`)")
    h.add_argument("--archive", type=Path, default=None,
                   help="student archive (default: dist/<rubric name>-handout.tar.gz)")
    h.set_defaults(func=cmd_handout)



def _add_gradescope(sub) -> None:
    z = sub.add_parser("gradescope", help="build the Gradescope autograder zip")
    z.add_argument("--rubric", type=Path, default=Path("rubric.yaml"))
    z.add_argument("--out", type=Path, default=Path("dist/autograder.zip"))
    z.set_defaults(func=cmd_gradescope)



def _add_rubric(sub) -> None:
    r = sub.add_parser("rubric", help="validate a rubric file")
    r.add_argument("--rubric", type=Path, default=Path("rubric.yaml"))
    r.add_argument("--markdown", action="store_true",
                   help="print every component, its checks and its named mistakes as Markdown "
                        "(the README's list of the homework)")
    r.set_defaults(func=cmd_rubric)


ADD = {"grade": _add_grade, "batch": _add_batch, "vectors": _add_vectors, "handout": _add_handout,
       "gradescope": _add_gradescope, "rubric": _add_rubric}


def cmd_grade(args: argparse.Namespace) -> int:
    """Grade one submission and print / write its report."""
    from grader import collect_rarely
    from grader.output import Outputs, Renderer, emit, use_colour
    from grader.trace import mark

    collect_rarely()

    # templates load in a forked process meanwhile, where the OS can fork (not Windows)
    forks = hasattr(os, "fork") and (not args.quiet or args.html or args.json)
    renderer = Renderer() if forks else None
    report, rub = None, None
    try:
        from grader.sandbox.backend import open_sandbox

        sandbox = open_sandbox()  # before anything secret is loaded into this process
        sandbox.exiting = True   # one submission, then this process exits
        mark("sandbox opened")
        try:
            report, rub = _grade_one(args, sandbox)
        finally:
            sandbox.close(wait=False)  # this process exits next; the server follows on its own
    finally:
        if renderer is not None and report is None:
            renderer.cancel()
    outputs = Outputs(not args.quiet, use_colour(sys.stdout), args.html, args.json,
                      args.autolab, rub.gradescope_hidden_visibility)
    mark("graded")
    if renderer is not None:
        renderer.finish(report, outputs)
    else:
        emit(report, outputs)
    if args.staff_output and (report.staff_output or report.staff_output_dropped):
        from grader.batch import staff_text

        if args.staff_output == "-":
            sys.stdout.write(staff_text(report) + "\n")
        else:
            from grader import render

            render.write_text(args.staff_output, staff_text(report) + "\n")
    mark("rendered")
    return 0


def _grade_one(args: argparse.Namespace, sandbox):
    from grader import rubric, vectors, workspace
    from grader.grade import grade_lease
    from grader.trace import mark

    rub = rubric.load(args.rubric)
    mark("rubric loaded")
    if args.only:
        rub = rub.only([n for n in args.only.split(",") if n.strip()])
    if not args.submission.exists():
        raise GraderError(f"{args.submission}: no such folder or archive")
    try:
        with workspace.staging(args.submission, rub) as lease:
            return grade_lease(lease, rub, vectors.VectorSet(rub), sandbox), rub
    except GraderError:
        raise
    except Exception as exc:  # a grader bug a submission set off: still that submission's result
        import traceback

        from grader.archive import student_id
        from grader.report import rejected

        traceback.print_exc(file=sys.stderr)
        print("grader: internal error on this submission; a result was written all the same",
              file=sys.stderr)
        return rejected(rub, student_id(args.submission), f"the grader failed on this "
                        f"submission ({type(exc).__name__}); course staff have the details"), rub


def cmd_batch(args: argparse.Namespace) -> int:
    """Grade a folder of submissions into OUT."""
    from grader.batch import run_batch

    try:
        done = run_batch(args.submissions, args.out, args.rubric, jobs=args.jobs,
                         force=args.force, dask=args.dask, progress=not args.no_progress)
    except KeyboardInterrupt:
        print("\ninterrupted: what was graded is kept; run the same command again to grade "
              "the rest", file=sys.stderr)
        return 130
    for note in done.notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"{done.total} submissions: {done.graded_now} graded now, {done.skipped} already "
          f"graded, {done.errored} did not grade cleanly. Gradebook: {args.out / 'gradebook.csv'}"
          f", summary: {args.out / 'summary.html'}")
    return 0


def cmd_vectors(args: argparse.Namespace) -> int:
    """Regenerate the test vectors from the reference."""
    from grader import rubric, vectors

    rub = rubric.load(args.rubric)
    for path in vectors.generate(rub):
        print(f"wrote {path}")
    return 0


def cmd_handout(args: argparse.Namespace) -> int:
    """Regenerate handout/ from reference/ and build the student archive."""
    from grader import handout, rubric

    rub = rubric.load(args.rubric)
    out = args.out or rub.handout_dir
    name = "handout" if args.rubric.stem == "rubric" else f"{args.rubric.stem}-handout"
    for path in handout.generate(rub, out):
        print(f"wrote {path}")
    archive = args.archive or Path("dist") / f"{name}.tar.gz"
    print(f"wrote {handout.build_archive(rub, out, archive)}")
    return 0


def cmd_gradescope(args: argparse.Namespace) -> int:
    """Build the zip Gradescope runs: setup.sh, run_autograder, grader, rubric, vectors."""
    from grader import rubric
    from grader.gradescope_pkg import build_package

    print(f"wrote {build_package(rubric.load(args.rubric), args.out)}")
    return 0


def cmd_rubric(args: argparse.Namespace) -> int:
    """Validate a rubric and summarise it."""
    from grader import rubric

    from grader.render import points

    rub = rubric.load(args.rubric)
    if args.markdown:
        sys.stdout.write(rubric_markdown(rub))
        return 0
    hidden = sum(c.points for c in rub.checks if c.visibility == "hidden")
    cases = sum(len(c.cases) for c in rub.components)
    print(f"{args.rubric}: ok — {len(rub.components)} component(s), {cases} cases, "
          f"{len(rub.checks)} checks, {points(rub.max_score)} points ({points(hidden)} hidden)")
    for comp in rub.components:
        print(f"  {comp.id:<18} {comp.file:<28} {len(comp.checks):3d} checks "
              f"{points(comp.max_score):>5} points")
    return 0


def rubric_markdown(rub) -> str:
    """Every component of a rubric: its file and points, its checks (hidden ones marked) and
    its named mistakes with the words a student reads."""
    from grader.render import points

    out = []
    for comp in rub.components:
        total = points(comp.max_score)
        out.append(f"**{comp.title}** ({total} point{'' if total == '1' else 's'}, "
                   f"`{comp.file}`"
                   + (f", built from {', '.join(comp.uses)}" if comp.uses else "") + ")")
        rows = [f"{c.title} ({points(c.points)}{', hidden' if c.visibility == 'hidden' else ''})"
                for c in comp.checks]
        out.append(f"- checks: {'; '.join(rows)}")
        hints = comp.hints
        for mistake in comp.mistakes:
            text = hints.get(mistake, "").replace("|", "\\|")
            out.append(f"- `{mistake}`: {text}")
        out.append("")
    return "\n".join(out)
