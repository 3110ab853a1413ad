"""Fixed-seed test vectors: made by running the reference through the grader's own driver,
stored as deterministic .npz files with a sha256 manifest, and verified before grading."""
from __future__ import annotations

import io
import json
import sys
from grader.records import record
from pathlib import Path

import numpy as np

from grader.errors import GraderError
from grader.rubric import Rubric
from grader.sandbox import protocol

MANIFEST = "manifest.json"
FILES = {"public": "public.npz", "hidden": "hidden.npz"}


@record(frozen=True)
class CaseVectors:
    """Inputs and the reference's observations for one case (keys as in runner.Observed)."""
    inputs: dict[str, np.ndarray]
    expected: dict[str, np.ndarray]


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write an .npz whose bytes depend only on the arrays (fixed timestamps and order)."""
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:   # stored, as np.savez does
        for key in sorted(arrays):
            data = io.BytesIO()
            np.lib.format.write_array(data, np.asarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            zf.writestr(info, data.getvalue())
    path.write_bytes(buf.getvalue())


def read_npz(data: bytes) -> dict[str, np.ndarray]:
    """Read arrays from .npz bytes without ever unpickling."""
    import zipfile

    out = {}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for name in zf.namelist():
                out[name[:-4] if name.endswith(".npy") else name] = protocol.decode_array(
                    zf.read(name))
    except zipfile.BadZipFile as exc:
        raise protocol.ChannelCorrupt(f"not a readable .npz: {exc}") from None
    return out


def _decoded(data: bytes, sha: str) -> dict[str, np.ndarray]:
    """The arrays of a verified .npz, from the per-user cache when it has them under this
    sha256 (as one raw frame: no zipfile to import, no member to inflate), else decoded and
    cached."""
    from grader import cache

    key = f"vectors-{sha}.frame"
    cached = cache.read_bytes(key)
    if cached is not None:
        try:
            header, arrays = protocol.parse_frame(cached)
            names = header.get("names")
            if isinstance(names, list) and len(names) == len(arrays):
                return dict(zip(map(str, names), arrays))
        except protocol.ChannelCorrupt:
            pass  # a damaged entry is a miss
    arrays = read_npz(data)
    cache.write_bytes(key, protocol.encode_frame({"names": list(arrays)}, list(arrays.values())))
    return arrays


def _sha256(data: bytes):
    """SHA-256, preferring CPython's built-in implementation: hashlib loads OpenSSL (~3 ms)."""
    try:
        from _sha256 import sha256
    except ImportError:  # other Pythons: the same digest through hashlib
        from hashlib import sha256
    return sha256(data)


def case_key(component: str, case: str) -> str:
    """How one component's case is named in the vector files: ``linear/small``."""
    return f"{component}/{case}"


def split_cases(arrays: dict[str, np.ndarray]) -> dict[str, CaseVectors]:
    """Group flat keys ``component/case/in/A`` and ``component/case/out/Z`` into CaseVectors,
    by ``component/case``."""
    grouped: dict[str, CaseVectors] = {}
    for key, arr in arrays.items():
        comp, case, part, name = key.split("/", 3)
        where = case_key(comp, case)
        cv = grouped.get(where)
        if cv is None:   # a record made per case, not per array (a run reads ~800 arrays)
            cv = grouped[where] = CaseVectors({}, {})
        (cv.inputs if part == "in" else cv.expected)[name] = arr
    return grouped


def flatten(cases: dict[str, CaseVectors]) -> dict[str, np.ndarray]:
    """The inverse of split_cases."""
    flat = {}
    for case, cv in cases.items():
        flat.update({f"{case}/in/{k}": v for k, v in cv.inputs.items()})
        flat.update({f"{case}/out/{k}": v for k, v in cv.expected.items()})
    return flat


def write(rubric: Rubric, cases: dict[str, CaseVectors]) -> list[Path]:
    """Write one file per visibility and a manifest binding them to the rubric."""
    out_dir = rubric.vectors_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest, written = {"files": {}}, []
    for vis, fname in FILES.items():
        chosen = {case_key(comp.id, c.name): cases[case_key(comp.id, c.name)]
                  for comp in rubric.components for c in comp.cases if c.visibility == vis}
        if not chosen:
            continue
        path = out_dir / fname
        write_npz(path, flatten(chosen))
        manifest["files"][fname] = {"sha256": _sha256(path.read_bytes()).hexdigest(),
                                    "rubric": rubric.fingerprint(vis), "cases": sorted(chosen)}
        written.append(path)
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return written


class VectorSet:
    """The vector files of a rubric, opened but not yet trusted: inputs can be read at once (so
    student code can start running), expected values only after ``verify``."""

    def __init__(self, rubric: Rubric) -> None:
        self.rubric = rubric
        where = rubric.vectors_dir
        try:
            self.manifest = json.loads((where / MANIFEST).read_text())
        except (OSError, ValueError) as exc:
            raise GraderError(f"no usable test vectors in {where} ({exc}); run `make vectors`") \
                from None
        self.files: dict[str, tuple[str, bytes]] = {}
        for vis, fname in FILES.items():
            if not rubric.has_visibility(vis):
                continue
            try:
                self.files[vis] = (fname, (where / fname).read_bytes())
            except OSError as exc:
                raise GraderError(f"cannot read {where / fname}: {exc.strerror}") from None
        self._shas: dict[str, str] = {}
        self._decoded: dict[str, dict[str, np.ndarray]] = {}
        self._indexed: dict[str, dict[str, dict[str, np.ndarray]]] = {}

    def _sha(self, vis: str) -> str:
        if vis not in self._shas:
            self._shas[vis] = _sha256(self.files[vis][1]).hexdigest()
        return self._shas[vis]

    def _arrays(self, vis: str) -> dict[str, np.ndarray]:
        """The arrays of one file, decoded once (not yet trusted)."""
        if vis not in self._decoded:
            fname, data = self.files[vis]
            try:
                self._decoded[vis] = _decoded(data, self._sha(vis))
            except (protocol.ChannelCorrupt, OSError, ValueError) as exc:
                raise GraderError(f"{self.rubric.vectors_dir / fname} is damaged ({exc}); "
                                  "run `make vectors`") from None
        return self._decoded[vis]

    def _inputs(self, vis: str) -> dict[str, dict[str, np.ndarray]]:
        """The inputs of one file by case key, indexed once."""
        if vis not in self._indexed:
            index: dict[str, dict[str, np.ndarray]] = {}
            for key, arr in self._arrays(vis).items():
                comp, case, part, name = key.split("/", 3)
                if part == "in":
                    index.setdefault(case_key(comp, case), {})[name] = arr
            self._indexed[vis] = index
        return self._indexed[vis]

    def inputs(self, component: str, case: str) -> dict[str, np.ndarray]:
        """The inputs of one case, before the file is verified (they go to the child at once)."""
        vis = self.rubric.component(component).case(case).visibility
        if vis not in self.files:
            raise GraderError(f"the vectors have no {vis} cases: run `make vectors`")
        found = self._inputs(vis).get(case_key(component, case), {})
        if not found:
            raise GraderError(f"the vectors have no case {case!r} of {component}: run "
                              "`make vectors`")
        return found

    def verify(self) -> dict[str, CaseVectors]:
        """Check every file against the manifest (sha256 and rubric fingerprint) and decode it."""
        where, out = self.rubric.vectors_dir, {}
        for vis, (fname, _) in self.files.items():
            entry = self.manifest.get("files", {}).get(fname)
            if entry is None:
                raise GraderError(f"{where / MANIFEST} lists no {fname}; run `make vectors`")
            if self._sha(vis) != entry.get("sha256"):
                raise GraderError(f"{where / fname} does not match the sha256 in its manifest: "
                                  "the file was changed or damaged; run `make vectors`")
            if entry.get("rubric") != self.rubric.fingerprint(vis):
                raise GraderError(f"{where / fname} was made for another version of "
                                  f"{self.rubric.path.name} (its components or cases changed); "
                                  "run `make vectors`")
            out.update(split_cases(self._arrays(vis)))
        return out


def load(rubric: Rubric) -> dict[str, CaseVectors]:
    """Load and verify the vectors for every case of ``rubric``."""
    return VectorSet(rubric).verify()


def generate(rubric: Rubric) -> list[Path]:
    """Run the reference and its mistake variants on every case (sandboxed, like any
    submission) and write the vectors."""
    from grader.runner import make_inputs
    from grader.sandbox.backend import open_sandbox

    if rubric.reference_dir is None or not rubric.reference_dir.is_dir():
        raise GraderError(f"{rubric.path}: `reference` must name the reference solution's folder")
    # the reference is trusted: it runs as this user
    zygote = open_sandbox(narrow=False, prestart=True)
    try:
        cases = {}
        for comp in rubric.components:
            for case in comp.cases:
                inputs = make_inputs(comp, case)
                cases[case_key(comp.id, case.name)] = CaseVectors(
                    inputs, _observe(zygote, rubric, comp, case, inputs, None))
            for mistake in comp.mistakes:
                for case in comp.cases:
                    cv = cases[case_key(comp.id, case.name)]
                    try:
                        wrong = _observe(zygote, rubric, comp, case, cv.inputs, mistake)
                    except GraderError as exc:   # a variant that raises: nothing to recognise
                        print(f"note: {exc.args[0].splitlines()[0]}: not recorded for this "
                              "case", file=sys.stderr)
                        continue
                    cv.expected.update({f"mistake.{mistake}.{k}": v for k, v in wrong.items()
                                        if k in cv.expected and not _same(v, cv.expected[k])})
    finally:
        zygote.close()
    return write(rubric, cases)


def _observe(zygote, rubric: Rubric, comp, case, inputs: dict, mistake: str | None
             ) -> dict[str, np.ndarray]:
    from grader.runner import INIT, Submission, run_case

    classes = {comp.id: (comp.mistakes_module, mistake) if mistake else (comp.module, comp.cls)}
    sub = Submission(zygote, rubric.reference_dir.resolve(), rubric, classes=classes)
    try:
        run = run_case(sub, comp, case, inputs)
    finally:
        sub.close()
    if run.failure:
        p = run.failure
        who = f"mistake variant {mistake!r}" if mistake else "reference"
        raise GraderError(f"the {who} in {rubric.reference_dir} failed case {case.name!r} of "
                          f"{comp.id} at {run.failed_stage}: {p.kind} {p.type} {p.message} "
                          f"{p.where}\n{p.traceback}")
    return {k: np.asarray(o.value.array) for k, o in run.observed.items()
            if o.value is not None and o.value.array is not None
            and not k.startswith(INIT)}   # init is judged by its rule, not by values


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    nan = a.dtype.kind in "fc" and b.dtype.kind in "fc"
    return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=nan))
