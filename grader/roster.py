"""The entries of a folder of submissions: which are submissions, and the id each is filed under.

An id names a submission's folder in OUT and its gradebook row, so it must be safe as a file
name and as a CSV cell, differ from every other id (also where case does not count, as on
macOS), stay the same when the batch runs again, and still let a TA recognise the student; the
gradebook keeps the entry's own name beside it."""
from __future__ import annotations

import hashlib
import re
import unicodedata
from grader.records import record
from pathlib import Path

from grader import archive

RESERVED = ("graded.jsonl", "gradebook.csv", "summary.html")   # the batch's own files in OUT
# What file managers and archivers leave in a folder: never a submission.
SYSTEM_JUNK = frozenset({".DS_Store", "__MACOSX", "Thumbs.db", "desktop.ini",
                         ".Spotlight-V100", ".Trashes", ".fseventsd", ".directory"})
NOT_AN_ARCHIVE = "not a folder or a .zip/.tar/.tar.gz archive"
SYSTEM_FILE = "left by the operating system"
ID_CHAR = re.compile(r"[A-Za-z0-9._@+-]")
# Latin letters that NFKD does not take apart into a letter and an accent.
LATIN = {"ß": "ss", "æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O", "œ": "oe", "Œ": "OE", "ł": "l",
         "Ł": "L", "đ": "d", "Đ": "D", "þ": "th", "Þ": "Th", "ı": "i"}
MAX_NAME, MAX_ID = 120, 100   # the longest name kept as it is; what is kept of more


@record(frozen=True)
class Skipped:
    """An entry of the submissions folder that is not a submission, and why."""
    name: str
    reason: str


def skip_reason(path: Path) -> str:
    """Why an entry is not a submission, or '' if it is one (a dot name is one: `.bob`)."""
    if path.name in SYSTEM_JUNK or (path.name.startswith("._") and path.is_file()):
        return SYSTEM_FILE
    if not (path.is_dir() or archive.is_archive(path)):
        return NOT_AN_ARCHIVE
    return ""


def safe_id(name: str) -> str:
    """An id usable as a folder name and a CSV cell, recognisable and a function of the name
    alone: accents dropped (José: Jose), letters of other scripts spelled as code points
    (学: u5b66), anything else '_', no leading '.', '-', '+' or '@'. A name that had to change
    gets a short hash of itself, so that José and Jos_ stay apart; so do the batch's own file
    names and names too long to keep."""
    text = _readable(name)
    if text == name and name.casefold() not in RESERVED and len(name) <= MAX_NAME:
        return text
    return f"{text[:MAX_ID]}-{_digest(name, 6)}"


def unique_ids(paths: list[Path]) -> list[str]:
    """An id for each entry, none equal to another even where case does not count: its
    ``safe_id``, and where ids meet (``alice`` and ``alice.zip``, ``Bob`` and ``bob``), each
    of them followed by a hash of the entry's full name instead."""
    ids = [safe_id(archive.student_id(p)) for p in paths]
    for length in (6, 12, 64):
        groups: dict[str, list[int]] = {}
        for k, sid in enumerate(ids):
            groups.setdefault(sid.casefold(), []).append(k)
        clashes = [k for ks in groups.values() if len(ks) > 1 for k in ks]
        if not clashes:
            return ids
        for k in clashes:
            base = _readable(archive.student_id(paths[k]))[:MAX_ID]
            ids[k] = f"{base}-{_digest(paths[k].name, length)}"
    return [f"{sid}-{k}" for k, sid in enumerate(ids)]   # only if sha256 itself collided


def skip_counts(skipped: list[Skipped]) -> list[tuple[str, int, list[str]]]:
    """(reason, how many, their names) for each reason something was skipped."""
    by_reason: dict[str, list[str]] = {}
    for s in skipped:
        by_reason.setdefault(s.reason, []).append(s.name)
    return [(reason, len(names), names) for reason, names in by_reason.items()]


def notes(names: list[str], ids: list[str], skipped: list[Skipped]) -> list[str]:
    """For the TA's terminal: one line on what was skipped and why, one on the entries whose
    ids had to be told apart; names shown with their escapes as text."""
    from grader.render import printable

    lines = []
    if skipped:
        parts = [f"{n} {reason} ({_some(these)})" for reason, n, these in skip_counts(skipped)]
        lines.append(f"skipped {len(skipped)} of {len(skipped) + len(names)} entries, not "
                     f"submissions: {'; '.join(parts)}")
    told_apart = [f"{name} as {sid}" for name, sid in zip(names, ids)
                  if sid != safe_id(archive.student_id(Path(name)))]
    if told_apart:
        lines.append("entries whose ids would meet were told apart with a hash: "
                     + ", ".join(told_apart))
    return [printable(line) for line in lines]


def _readable(name: str) -> str:
    out = []
    for char in unicodedata.normalize("NFKD", name):
        if unicodedata.combining(char):
            continue
        char = LATIN.get(char, char)
        if len(char) > 1 or ID_CHAR.fullmatch(char):
            out.append(char)
        elif char.isalnum():
            out.append(f"u{ord(char):04x}")
        else:
            out.append("_")
    text = "".join(out) or "_"
    start = len(text) - len(text.lstrip(".-+@"))   # hidden folders, options, formulas
    return "_" * start + text[start:]


def _digest(name: str, length: int) -> str:
    return hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:length]


def _some(names: list[str], shown: int = 3) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more
