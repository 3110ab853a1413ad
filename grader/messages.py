"""Sentences for students: what happened when their code ran, in words they can act on."""
from __future__ import annotations

import signal

from grader.rubric import Component
from grader.sandbox.client import Problem

STAGE_WORDS = {"import": "importing your module", "construct": "the constructor",
               "set": "setting the parameters", "init": "__init__",
               "probe": "the extra calls of the consistency checks"}


def stage_words(stage: str) -> str:
    """A stage as a student reads it: 'the constructor', 'forward()', or a repeated call as
    the case makes it, 'forward(Z3, eval=True)'."""
    if "(" in stage:
        return stage
    return STAGE_WORDS.get(stage, f"{stage}()")


def problem(p: Problem, stage: str, comp: Component) -> str:
    """Why a step produced nothing, as one or two sentences (no traceback)."""
    what = stage_words(stage)
    if p.kind == "unusable":
        return p.message + "."
    if p.kind == "budget":
        return (f"your code took too long overall: {p.message} (limit "
                f"{comp.limits.total_seconds:g} s for the whole submission), so the checks "
                f"that had not run by then score 0.")
    if p.kind == "timeout":
        return f"{what} did not finish in time ({p.message}): an infinite loop, or far too slow."
    if p.kind == "corrupt":
        return f"{what} interfered with the grader's channel ({p.message})."
    if p.kind == "died":
        return f"the process running your code stopped during {what}: {_exit_words(p.exit_code)}."
    if stage == "import":
        return _import_problem(p, comp)
    if p.missing_path:   # an attribute the grader sets or reads is not there
        return f"{p.message[:1].upper()}{p.message[1:]}"
    if stage == "construct" and p.type == "TypeError":
        args = [*comp.constructor, *(f"{k}={v!r}" for k, v in comp.constructor_kwargs)]
        return (f"{comp.cls}(...) raised TypeError: {p.message}. The grader constructs it "
                f"as {comp.cls}({', '.join(args)}).")
    if p.type == "MemoryError":
        return f"{what} ran out of memory (limit {comp.limits.memory_mb} MB)."
    if p.type == "SystemExit":
        return f"{what} called sys.exit({p.message}): never exit from a layer."
    where = f" ({p.where})" if p.where else ""
    return f"{what} raised {p.type}: {p.message}{where}".rstrip() + ("" if p.message.endswith(
        ".") else ".")


def short(p: Problem, stage: str) -> str:
    """A few words for a check row; the full story is told once at the top of the report."""
    what = stage_words(stage)
    if p.kind == "unusable":
        return p.message
    if p.kind == "budget":
        return "the submission's total time ran out"
    if stage == "import":
        return "your module could not be imported"
    if p.missing_path:
        return p.message
    if p.kind == "timeout":
        return f"{what} did not finish in time"
    if p.kind == "died":
        return f"the process stopped during {what}"
    if p.kind == "corrupt":
        return f"{what} interfered with the grader"
    return f"{what} raised {p.type}"


def _import_problem(p: Problem, layer: Component) -> str:
    parts = layer.module.split(".")
    own = {".".join(parts[:i + 1]) for i in range(len(parts))}
    if p.type == "ModuleNotFoundError" and p.name in own:
        return f"{layer.file} was not found in your submission (could not import {p.name})."
    if p.type == "ModuleNotFoundError":
        return f"your code imports {p.name!r}, which is not available to the grader."
    if p.type in ("SyntaxError", "IndentationError", "TabError"):
        line = f": {p.line.strip()}" if p.line.strip() else ""
        return f"{p.type} in {p.where or layer.file} ({p.message}){line}"
    if p.type == "LookupError":
        return f"{p.message}: {layer.file} must define class {layer.cls}."
    where = f" ({p.where})" if p.where else ""
    return f"importing {layer.module} raised {p.type}: {p.message}{where}"


def _exit_words(code: int | None) -> str:
    if code is None:
        return "it exited"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        if name == "SIGKILL":
            return "it was killed (SIGKILL: too much memory or CPU time, or your code killed it)"
        if name == "SIGXCPU":
            return "it used up its CPU time limit"
        return f"it was killed by {name} (a crash)"
    return f"your code ended it with exit code {code} (os._exit or a crash)"
