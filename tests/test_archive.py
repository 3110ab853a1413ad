"""Submission archives: hostile ones are refused with a reason and write nothing outside dest."""
from __future__ import annotations

import gzip
import io
import os
import stat
import struct
import tarfile
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from grader.archive import Bounds, UnsafeArchive, copy_tree, extract, locate_root, student_id

LINEAR = b"class Linear:\n    pass\n"
REG = stat.S_IFREG | 0o644


def make_zip(path: Path, members: dict[str, bytes], mode: int = REG) -> Path:
    """A zip whose members carry ``mode`` (a regular file, as `zip -r` writes it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return path


def tar_member(name: str, data: bytes = b"", **attrs) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, data


def make_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes]], mode: str = "w") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, mode) as tf:
        for info, data in members:
            tf.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return path


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "box" / "dest"


def stray(tmp_path: Path, dest: Path) -> list[str]:
    """Everything in tmp_path that is neither an input (tmp_path/in), dest, nor inside dest."""
    found = []
    for here, dirs, files in os.walk(tmp_path):
        for name in dirs + files:
            p = Path(here) / name
            if p in (dest.parent, dest) or p.is_relative_to(tmp_path / "in") \
                    or p.is_relative_to(dest):
                continue
            found.append(str(p))
    return found


def refuse(archive: Path, dest: Path, tmp_path: Path, *words: str,
           bounds: Bounds = Bounds()) -> str:
    """Extraction raises UnsafeArchive naming ``words``, and nothing lands outside dest."""
    with pytest.raises(UnsafeArchive) as info:
        extract(archive, dest, bounds)
    message = str(info.value)
    for word in words:
        assert word in message
    assert stray(tmp_path, dest) == []
    return message


def dest_bytes(dest: Path) -> int:
    return sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())


# --- refused ------------------------------------------------------------------------------

def test_zip_absolute_path(tmp_path, dest):
    """A zip member with an absolute path is refused."""
    name = str(tmp_path / "escaped.txt")
    archive = make_zip(tmp_path / "in" / "s.zip", {name: b"x"})
    refuse(archive, dest, tmp_path, name, "absolute path")


def test_tar_absolute_path(tmp_path, dest):
    """A tar member with an absolute path is refused."""
    name = str(tmp_path / "escaped.txt")
    archive = make_tar(tmp_path / "in" / "s.tar", [tar_member(name, b"x")])
    refuse(archive, dest, tmp_path, name, "absolute path")


@pytest.mark.parametrize("name", ["../../escaped.txt", "ok/../../../escaped.txt",
                                  "..\\..\\escaped.txt"])
def test_zip_dotdot(tmp_path, dest, name):
    """A zip member climbing out with '..' (either slash) is refused."""
    archive = make_zip(tmp_path / "in" / "s.zip", {"fine.txt": b"1", name: b"x"})
    refuse(archive, dest, tmp_path, repr(name), "'..'")


def test_tar_dotdot(tmp_path, dest):
    """A tar member climbing out with '..' is refused."""
    archive = make_tar(tmp_path / "in" / "s.tar", [tar_member("../../escaped.txt", b"x")])
    refuse(archive, dest, tmp_path, "../../escaped.txt", "'..'")


def test_zip_symlink_member(tmp_path, dest):
    """A zip member whose mode is a symbolic link is refused, not created."""
    archive = make_zip(tmp_path / "in" / "s.zip", {"evil_link": b"/etc/passwd"},
                       mode=stat.S_IFLNK | 0o777)
    refuse(archive, dest, tmp_path, "evil_link", "symbolic link")
    assert not (dest / "evil_link").is_symlink()


def test_tar_symlink_outside(tmp_path, dest):
    """A tar symlink leading outside dest is refused before a file can be written through it."""
    archive = make_tar(tmp_path / "in" / "s.tar", [
        tar_member("evil_link", type=tarfile.SYMTYPE, linkname="../.."),
        tar_member("evil_link/escaped.txt", b"x")])
    refuse(archive, dest, tmp_path, "evil_link", "symbolic link")
    assert not (dest / "evil_link").is_symlink()


def test_tar_hardlink_to_etc_passwd(tmp_path, dest):
    """A tar hard link to /etc/passwd is refused and no link to it appears in dest."""
    archive = make_tar(tmp_path / "in" / "s.tar", [
        tar_member("passwd_link", type=tarfile.LNKTYPE, linkname="/etc/passwd")])
    refuse(archive, dest, tmp_path, "passwd_link")
    assert not (dest / "passwd_link").exists()


@pytest.mark.parametrize("kind", [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE],
                         ids=["chardev", "blockdev", "fifo"])
def test_tar_device_or_fifo(tmp_path, dest, kind):
    """A tar device or FIFO member is refused, naming it."""
    archive = make_tar(tmp_path / "in" / "s.tar", [
        tar_member("mytorch/nn/linear.py", LINEAR),
        tar_member("special", type=kind, devmajor=1, devminor=3)])
    refuse(archive, dest, tmp_path, "'special'", "device or pipe")
    assert not (dest / "special").exists()


def test_zip_bomb(tmp_path, dest):
    """A small zip that expands beyond Bounds.max_bytes is refused once that many bytes are read."""
    archive = make_zip(tmp_path / "in" / "bomb.zip", {"zeros.bin": bytes(5 << 20)})
    assert archive.stat().st_size < 20_000
    refuse(archive, dest, tmp_path, "bomb.zip", "expands to more than",
           bounds=Bounds(max_bytes=100_000))
    assert dest_bytes(dest) <= 100_000


def test_zip_bomb_with_lying_header(tmp_path, dest):
    """A bomb whose headers claim a tiny size is still refused and writes at most the bound."""
    archive = make_zip(tmp_path / "in" / "liar.zip", {"zeros.bin": bytes(5 << 20)})
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as zf:
        local, central = zf.infolist()[0].header_offset, zf.start_dir
    data[local + 22: local + 26] = (100).to_bytes(4, "little")      # local: uncompressed size
    data[central + 24: central + 28] = (100).to_bytes(4, "little")  # central: uncompressed size
    archive.write_bytes(data)
    with zipfile.ZipFile(archive) as zf:
        assert zf.infolist()[0].file_size == 100
    refuse(archive, dest, tmp_path, "liar.zip", bounds=Bounds(max_bytes=50_000))
    assert dest_bytes(dest) <= 50_000


def test_zip_many_small_files_over_bound(tmp_path, dest):
    """Bytes are summed over members: many files each under the bound are refused together."""
    archive = make_zip(tmp_path / "in" / "s.zip", {f"f{i}.bin": bytes(20_000) for i in range(10)})
    refuse(archive, dest, tmp_path, "expands to more than", bounds=Bounds(max_bytes=100_000))
    assert dest_bytes(dest) <= 100_000


def test_zip_too_many_files(tmp_path, dest):
    """A zip with more files than Bounds.max_files is refused, giving the count and limit."""
    archive = make_zip(tmp_path / "in" / "s.zip", {f"f{i}.txt": b"x" for i in range(11)})
    refuse(archive, dest, tmp_path, "11 files", "limit 10", bounds=Bounds(max_files=10))
    assert not dest.exists() or not any(dest.iterdir())


def test_tar_too_many_files(tmp_path, dest):
    """A tar with more files than Bounds.max_files is refused before anything is extracted."""
    archive = make_tar(tmp_path / "in" / "s.tar",
                       [tar_member(f"f{i}.txt", b"x") for i in range(11)])
    refuse(archive, dest, tmp_path, "11 files", "limit 10", bounds=Bounds(max_files=10))
    assert not any(dest.iterdir())


def test_not_an_archive(tmp_path, dest):
    """A text file named .zip is refused as not an archive."""
    archive = tmp_path / "in" / "homework.zip"
    archive.parent.mkdir()
    archive.write_text("def forward(self): ...\n" * 50)
    refuse(archive, dest, tmp_path, "homework.zip is not a readable zip archive")


@pytest.mark.parametrize("fmt", ["zip", "tar.gz"])
def test_truncated_archive(tmp_path, dest, fmt):
    """An archive cut in half is refused with a reason naming it."""
    data = os.urandom(50_000)  # incompressible, so the archive is big enough to cut
    src = tmp_path / "in" / f"whole.{fmt}"
    if fmt == "zip":
        make_zip(src, {"mytorch/nn/linear.py": LINEAR, "blob.bin": data})
    else:
        make_tar(src, [tar_member("mytorch/nn/linear.py", LINEAR), tar_member("blob.bin", data)],
                 "w:gz")
    archive = tmp_path / "in" / f"cut.{fmt}"
    archive.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    message = refuse(archive, dest, tmp_path, f"cut.{fmt}")
    assert "damaged" in message or "not a readable" in message


def test_damaged_zip_data(tmp_path, dest):
    """A zip with an intact directory but corrupt compressed data is refused as damaged."""
    archive = make_zip(tmp_path / "in" / "broken.zip", {"mytorch/nn/linear.py": LINEAR * 50})
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as zf:
        info = zf.infolist()[0]
    start = info.header_offset + 30 + len(info.filename.encode())
    data[start] = 0x07  # a final deflate block of the reserved type 3: "invalid block type"
    archive.write_bytes(data)
    refuse(archive, dest, tmp_path, "broken.zip", "damaged")


def test_damaged_tar_gz_data(tmp_path, dest):
    """A .tar.gz whose compressed data goes bad after the first header is refused as damaged."""
    raw = make_tar(tmp_path / "in" / "plain.tar",
                   [tar_member("mytorch/nn/linear.py", LINEAR * 50)]).read_bytes()
    second = bytearray(gzip.compress(raw[512:]))
    second[10] = 0x07  # first deflate block after the 10-byte gzip header: invalid block type
    archive = tmp_path / "in" / "broken.tar.gz"
    archive.write_bytes(gzip.compress(raw[:512]) + bytes(second))
    refuse(archive, dest, tmp_path, "broken.tar.gz", "damaged")


# --- accepted -----------------------------------------------------------------------------

FILES = {"mytorch/__init__.py": b"", "mytorch/nn/__init__.py": b"", "mytorch/nn/linear.py": LINEAR}


def write_folder(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


@pytest.mark.parametrize("fmt", ["zip", "tar", "tar.gz"])
def test_good_archive_extracts(tmp_path, dest, fmt):
    """A well-formed .zip, .tar and .tar.gz made from a folder extract to the same files."""
    src = write_folder(tmp_path / "in" / "work", FILES)
    archive = tmp_path / "in" / f"abc123.{fmt}"
    if fmt == "zip":
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for name in FILES:
                zf.write(src / name, name)
    else:
        with tarfile.open(archive, "w:gz" if fmt == "tar.gz" else "w") as tf:
            tf.add(src / "mytorch", "mytorch")
    extract(archive, dest)
    assert {str(p.relative_to(dest)): p.read_bytes() for p in dest.rglob("*") if p.is_file()} \
        == FILES
    assert stray(tmp_path, dest) == []


def test_zip_with_permission_only_modes_extracts(tmp_path, dest):
    """A zip written by Python's zipfile.writestr (mode 0o600, no file type) extracts."""
    archive = tmp_path / "in" / "s.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("mytorch/nn/linear.py", LINEAR)
    extract(archive, dest)
    assert (dest / "mytorch/nn/linear.py").read_bytes() == LINEAR


def test_tar_whose_last_member_is_a_zip(tmp_path, dest):
    """A plain .tar that happens to contain a .zip file is extracted as the tar it is."""
    inner = make_zip(tmp_path / "in" / "old_attempt.zip", {"notes.txt": b"first try"})
    archive = make_tar(tmp_path / "in" / "s.tar", [
        tar_member("mytorch/nn/linear.py", LINEAR),
        tar_member("old_attempt.zip", inner.read_bytes())])
    extract(archive, dest)
    assert (dest / "mytorch/nn/linear.py").read_bytes() == LINEAR
    assert (dest / "old_attempt.zip").is_file()


def test_locate_root_single_top_folder(tmp_path, dest):
    """An archive with one top-level folder is graded from inside that folder."""
    archive = make_zip(tmp_path / "in" / "s.zip", {f"abc123/{n}": d for n, d in FILES.items()})
    extract(archive, dest)
    assert locate_root(dest, "mytorch/nn/linear.py") == dest / "abc123"


def test_locate_root_ignores_macosx(tmp_path, dest):
    """A __MACOSX copy of the layer file (sorted first) is not taken for the submission."""
    archive = make_zip(tmp_path / "in" / "s.zip", {
        "__MACOSX/mytorch/nn/linear.py": b"\x00\x05\x16\x07 AppleDouble",
        **{f"work/{n}": d for n, d in FILES.items()}})
    extract(archive, dest)
    assert locate_root(dest, "mytorch/nn/linear.py") == dest / "work"


def test_locate_root_falls_back_to_folder(tmp_path):
    """Without the layer file anywhere, the folder itself is the root."""
    write_folder(tmp_path / "sub", {"readme.txt": b"no code"})
    assert locate_root(tmp_path, "mytorch/nn/linear.py") == tmp_path


@pytest.mark.parametrize("name", ["abc123.tar.gz", "abc123.zip", "abc123.TGZ", "abc123.tar",
                                  "abc123"])
def test_student_id(name):
    """The student id is the file name without its archive suffix."""
    assert student_id(Path(name)) == "abc123"


# --- copy_tree ----------------------------------------------------------------------------

def test_copy_tree_refuses_link_outside(tmp_path):
    """copy_tree refuses a symlink leading outside the folder and does not copy its target."""
    secret = tmp_path / "secret.txt"
    secret.write_text("answer key")
    src = write_folder(tmp_path / "src", FILES)
    (src / "mytorch/nn/key.txt").symlink_to(secret)
    with pytest.raises(UnsafeArchive, match="key.txt.*outside the submission"):
        copy_tree(src, tmp_path / "dest")
    assert not any(p.read_bytes() == b"answer key"
                   for p in (tmp_path / "dest").rglob("*") if p.is_file())


def test_copy_tree_copies_folder(tmp_path):
    """copy_tree copies the files (a link inside the folder included), skipping __pycache__."""
    src = write_folder(tmp_path / "src", {**FILES, "mytorch/__pycache__/x.pyc": b"junk"})
    (src / "mytorch/nn/alias.py").symlink_to("linear.py")
    copy_tree(src, tmp_path / "dest")
    assert (tmp_path / "dest/mytorch/nn/linear.py").read_bytes() == LINEAR
    assert (tmp_path / "dest/mytorch/nn/alias.py").read_bytes() == LINEAR
    assert not (tmp_path / "dest/mytorch/__pycache__").exists()


def test_copy_tree_honours_max_files(tmp_path):
    """copy_tree refuses a folder holding more files than Bounds.max_files, copying no more."""
    src = write_folder(tmp_path / "src", FILES)
    with pytest.raises(UnsafeArchive, match="src holds more than 2 files"):
        copy_tree(src, tmp_path / "dest", Bounds(max_files=2))
    assert len([p for p in (tmp_path / "dest").rglob("*") if p.is_file()]) <= 2


def test_copy_tree_honours_max_bytes(tmp_path):
    """copy_tree refuses a folder holding more bytes than Bounds.max_bytes, copying no more."""
    src = write_folder(tmp_path / "src", {**FILES, "big.bin": bytes(20_000)})
    with pytest.raises(UnsafeArchive, match="src holds more than"):
        copy_tree(src, tmp_path / "dest", Bounds(max_bytes=10_000))
    assert dest_bytes(tmp_path / "dest") <= 10_000


def test_copy_tree_dangling_link(tmp_path):
    """A dangling symlink inside the folder is skipped or refused, never an OSError."""
    src = write_folder(tmp_path / "src", FILES)
    (src / "mytorch/nn/old.py").symlink_to("gone.py")
    try:
        copy_tree(src, tmp_path / "dest")
    except UnsafeArchive as exc:
        assert "old.py" in str(exc)
    else:
        assert (tmp_path / "dest/mytorch/nn/linear.py").read_bytes() == LINEAR


# --- headers that announce too much --------------------------------------------------------

def announce(archive: Path, entries: int, directory: int, zip64: bool) -> Path:
    """Rewrite a zip's end record to announce ``entries`` entries in a central directory of
    ``directory`` bytes (through a zip64 record when ``zip64``), as a crafted zip would."""
    data = archive.read_bytes()
    at = data.rfind(b"PK\x05\x06")
    head, eocd = data[:at], bytearray(data[at:])
    if not zip64:
        eocd[8:16] = struct.pack("<HHL", entries, entries, directory)
        archive.write_bytes(head + eocd)
        return archive
    record = struct.pack("<4sQHHLLQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, entries, entries,
                         directory, struct.unpack("<L", eocd[16:20])[0])
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, len(head), 1)
    eocd[8:20] = struct.pack("<HHLL", 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
    archive.write_bytes(head + record + locator + eocd)
    return archive


def peak_memory(fn) -> int:
    """Bytes allocated at the peak while ``fn`` runs."""
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_zip64_announcing_millions_of_entries(tmp_path, dest):
    """A zip whose end record announces 5,000,000 entries is refused from that record alone:
    its directory is never loaded, and memory stays under a megabyte."""
    archive = announce(make_zip(tmp_path / "in" / "s.zip", FILES), 5_000_000, 230_000_000,
                       zip64=True)
    peak = peak_memory(lambda: refuse(archive, dest, tmp_path, "s.zip announces 5,000,000 "
                                      "entries (limit 100,000)", "handout folder"))
    assert peak < 1 << 20


def test_zip_announcing_a_huge_directory(tmp_path, dest):
    """A zip announcing few entries but a directory of 3 GB is refused before it is read."""
    archive = announce(make_zip(tmp_path / "in" / "s.zip", FILES), 3, 3 << 30, zip64=True)
    refuse(archive, dest, tmp_path, "s.zip announces a directory of 3072 MB")


def test_zip_many_tiny_entries(tmp_path, dest):
    """Many real entries beyond Bounds.max_entries (venv ones included) are refused."""
    archive = make_zip(tmp_path / "in" / "s.zip",
                       {**FILES, **{f".venv/lib/m{i}.py": b"" for i in range(150)}})
    refuse(archive, dest, tmp_path, "s.zip announces 153 entries (limit 100)",
           bounds=Bounds(max_entries=100))


def test_zip_lying_entry_count(tmp_path, dest):
    """An end record claiming 65,535 entries (the most a plain one can) is believed, and
    refused, without reading the directory."""
    archive = announce(make_zip(tmp_path / "in" / "s.zip", FILES), 0xFFFF, 1000, zip64=False)
    refuse(archive, dest, tmp_path, "announces 65,535 entries", bounds=Bounds(max_entries=100))


def test_tar_count_checked_before_reading_further(tmp_path, dest):
    """A tar with more members than Bounds.max_entries is refused as soon as one too many is
    read: the member after it (whose header would be refused for another reason) is never
    read."""
    members = [tar_member(f"f{i}.txt", b"x") for i in range(11)]
    members.append(tar_member("n" * 100_000, b"x"))  # a GNU long-name header of 100 KB
    archive = tmp_path / "in" / "s.tar"
    archive.parent.mkdir(parents=True)
    with tarfile.open(archive, "w", format=tarfile.GNU_FORMAT) as tf:
        for info, data in members:
            tf.addfile(info, io.BytesIO(data))
    refuse(archive, dest, tmp_path, "s.tar has more than 10 entries",
           bounds=Bounds(max_entries=10))
    assert not any(dest.iterdir())


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT], ids=["gnu", "pax"])
def test_tar_member_name_of_megabytes(tmp_path, dest, fmt):
    """A member name of 5 MB (a GNU long-name or a pax header) is refused from its header's
    size, before tarfile reads it: memory stays far below the name's size."""
    archive = tmp_path / "in" / "s.tar"
    archive.parent.mkdir(parents=True)
    with tarfile.open(archive, "w", format=fmt) as tf:
        tf.addfile(*tar_member("mytorch/nn/linear.py", LINEAR)[:1], io.BytesIO(LINEAR))
        tf.addfile(tar_member("a" * 5_000_000, b"x")[0], io.BytesIO(b"x"))
    peak = peak_memory(lambda: refuse(archive, dest, tmp_path, "s.tar", "header announces a "
                                      "name or attributes of", "(limit 65,536)"))
    assert peak < 1 << 20


def test_zip_member_name_too_long(tmp_path, dest):
    """A zip member whose name is 60,000 characters long is refused, quoting only its start."""
    archive = make_zip(tmp_path / "in" / "s.zip", {**FILES, "d/" * 30_000 + "x.py": b""})
    message = refuse(archive, dest, tmp_path, "a name of 60,004 characters (limit 1,024)")
    assert len(message) < 200


@pytest.mark.parametrize("fmt", ["zip", "tar"])
def test_deeply_nested_member_extracts(tmp_path, dest, fmt):
    """A member 400 folders deep (within the name bound) is extracted like any other."""
    deep = "d/" * 400 + "x.txt"
    if fmt == "zip":
        archive = make_zip(tmp_path / "in" / "s.zip", {**FILES, deep: b"deep"})
    else:
        archive = make_tar(tmp_path / "in" / "s.tar",
                           [tar_member(n, d) for n, d in {**FILES, deep: b"deep"}.items()])
    extract(archive, dest)
    assert (dest / deep).read_bytes() == b"deep"


# --- what is left out -----------------------------------------------------------------------

JUNK = {".venv/pyvenv.cfg": b"home = /usr/bin\n",
        ".venv/lib/python3.11/site-packages/numpy/__init__.py": b"raise ImportError\n",
        "env/pyvenv.cfg": b"home = /usr/bin\n", "env/bin/activate": b"",
        "__MACOSX/mytorch/nn/._linear.py": b"\x00\x05\x16\x07",
        "mytorch/nn/._linear.py": b"\x00\x05\x16\x07",
        "mytorch/__pycache__/x.cpython-311.pyc": b"junk", ".git/HEAD": b"ref: main\n",
        ".DS_Store": b"\x00\x00\x00\x01Bud1"}


def test_zip_leaves_out_venv_and_junk_before_any_rule(tmp_path, dest):
    """A virtual environment (with a symlink to the system python and more files than
    max_files), __MACOSX, caches, .git and .DS_Store are left out, not refused."""
    members = {**FILES, **JUNK, **{f".venv/lib/m{i}.py": b"x" * 100 for i in range(50)}}
    archive = make_zip(tmp_path / "in" / "s.zip", members)
    with zipfile.ZipFile(archive, "a") as zf:  # the venv's python: a link out of the archive
        info = zipfile.ZipInfo(".venv/bin/python")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/usr/bin/python3")
    extract(archive, dest, Bounds(max_files=5, max_bytes=1000))
    assert {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()} \
        == set(FILES)


def test_tar_leaves_out_venv_with_links(tmp_path, dest):
    """A tar of a folder holding a venv (links to the system python, its pyvenv.cfg read
    after them) extracts the code alone."""
    archive = make_tar(tmp_path / "in" / "s.tar", [
        tar_member("hw1/venv2/bin/python", type=tarfile.SYMTYPE, linkname="/usr/bin/python3"),
        tar_member("hw1/venv2/lib/python3.11/site-packages/x.py", b"x"),
        tar_member("hw1/venv2/pyvenv.cfg", b"home = /usr/bin\n"),
        tar_member("hw1/venv2/notes.txt", b"kept"),
        *(tar_member(f"hw1/{n}", d) for n, d in FILES.items())])
    extract(archive, dest)
    assert {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()} \
        == {f"hw1/{n}" for n in FILES} | {"hw1/venv2/notes.txt"}


def test_venv_made_in_the_code_folder(tmp_path, dest):
    """`python -m venv .` in the handout folder: its bin/, lib/ and pyvenv.cfg are left out,
    the code beside them is kept."""
    archive = make_zip(tmp_path / "in" / "s.zip", {
        **FILES, "pyvenv.cfg": b"home = /usr/bin\n", "lib/python3.11/site-packages/x.py": b"",
        "bin/activate": b""})
    extract(archive, dest)
    assert {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()} \
        == set(FILES)


def test_copy_tree_leaves_out_venv_with_links(tmp_path):
    """A folder whose .venv holds links to the system python copies without it."""
    src = write_folder(tmp_path / "src", {**FILES, ".venv/pyvenv.cfg": b"home = /usr\n"})
    (src / ".venv/bin").mkdir()
    (src / ".venv/bin/python").symlink_to("/usr/bin/python3")
    copy_tree(src, tmp_path / "dest")
    assert {p.relative_to(tmp_path / "dest").as_posix()
            for p in (tmp_path / "dest").rglob("*") if p.is_file()} == set(FILES)


# --- links and hard links in folders --------------------------------------------------------

def test_copy_tree_refuses_hard_link(tmp_path):
    """A file with another hard link (it may be anyone's) is refused, naming it."""
    secret = tmp_path / "vectors.npz"
    secret.write_bytes(b"CANARY")
    src = write_folder(tmp_path / "src", FILES)
    os.link(secret, src / "mytorch/nn/data.npz")
    with pytest.raises(UnsafeArchive, match=r"mytorch/nn/data.npz: a file with 2 hard links"):
        copy_tree(src, tmp_path / "dest")
    assert not any(p.read_bytes() == b"CANARY"
                   for p in (tmp_path / "dest").rglob("*") if p.is_file())


def test_copy_tree_refuses_folder_link(tmp_path):
    """A link to a folder (even inside the submission) is refused, never walked into."""
    src = write_folder(tmp_path / "src", FILES)
    (src / "mytorch/alias").symlink_to("nn")
    with pytest.raises(UnsafeArchive, match="mytorch/alias: a link to a folder"):
        copy_tree(src, tmp_path / "dest")


def test_copy_tree_refuses_pipe(tmp_path):
    """A named pipe is refused without waiting for a writer."""
    src = write_folder(tmp_path / "src", FILES)
    os.mkfifo(src / "mytorch/nn/pipe")
    with pytest.raises(UnsafeArchive, match="mytorch/nn/pipe: not a regular file"):
        copy_tree(src, tmp_path / "dest")
