"""Submission archives: hostile ones are refused with a reason and write nothing outside dest."""
from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
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
