"""`discover.scan` leaves out the LOADED/SUPERSEDED files whose stat data the ledger already has
(`settled`), and only those: a changed file, a name that is not shown as it is, and a file the
ledger does not know are all listed, with their control files."""

import os

from ingestion.discover import scan


def _write(path, text: str, mtime_ns: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))


def _stat(path) -> tuple[int, int]:
    st = os.lstat(path)
    return st.st_size, st.st_mtime_ns


def test_only_unchanged_settled_files_of_plain_names_are_left_out(tmp_path):
    feed = tmp_path / "CM-GD" / "lifecycle"
    for name in ("CM-GD_lifecycle_20250101_01.csv", "CM-GD_lifecycle_20250102_01.csv", "new_20250103_01.csv"):
        _write(feed / name, "x\n", 1_700_000_000_000_000_000)
        _write(feed / (name + ".ctl"), "{}", 1_700_000_000_000_000_000)
    odd = "CM-GD_lifecycle_20250104_01\\x41.csv"  # shown with its backslash doubled
    _write(feed / odd, "x\n", 1_700_000_000_000_000_000)

    settled = {
        "CM-GD/lifecycle/CM-GD_lifecycle_20250101_01.csv": _stat(feed / "CM-GD_lifecycle_20250101_01.csv"),
        # changed since the ledger saw it: listed again
        "CM-GD/lifecycle/CM-GD_lifecycle_20250102_01.csv": (2, 1),
        # a ledger key that equals the odd file's raw name must not hide it
        "CM-GD/lifecycle/" + odd: _stat(feed / odd),
    }
    listed = {c.file_name: c for c in scan(tmp_path, settled=settled)}
    everything = {c.file_name: c for c in scan(tmp_path)}

    assert "CM-GD_lifecycle_20250101_01.csv" not in listed
    assert set(everything) - set(listed) == {"CM-GD_lifecycle_20250101_01.csv"}
    for name, c in listed.items():
        assert c == everything[name]  # the same candidate, control file included
    assert listed["CM-GD_lifecycle_20250102_01.csv"].complete
    assert "CM-GD_lifecycle_20250104_01\\\\x41.csv" in listed


def test_a_feed_folder_is_listed_through_a_descriptor_that_never_follows_a_link(tmp_path):
    """Each feed folder is opened once and its entries' lstat made relative to it: a link, a file or
    nothing where a folder is expected gives nothing to list, and what is listed is the same as
    the folder's own entries, links and FIFOs included (never followed or opened)."""
    from ingestion.discover import _open_dir

    real = tmp_path / "elsewhere"
    real.mkdir()
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    (tmp_path / "file").write_text("x")
    assert _open_dir(str(tmp_path / "link")) is None
    assert _open_dir(str(tmp_path / "file")) is None
    assert _open_dir(str(tmp_path / "missing")) is None
    fd = _open_dir(str(real))
    assert fd is not None
    os.close(fd)

    feed = tmp_path / "landing" / "CM-GD" / "lifecycle"
    _write(feed / "CM-GD_lifecycle_20250101_01.csv", "a\n")
    _write(feed / "CM-GD_lifecycle_20250101_01.csv.ctl", "{}")
    (feed / "CM-GD_lifecycle_20250102_01.csv").symlink_to(real / "nothing.csv")
    os.mkfifo(feed / "CM-GD_lifecycle_20250103_01.csv")
    listed = {c.file_name: c for c in scan(tmp_path / "landing")}
    assert {n: (c.kind, c.ctl_kind) for n, c in listed.items()} == {
        "CM-GD_lifecycle_20250101_01.csv": ("file", "file"),
        "CM-GD_lifecycle_20250102_01.csv": ("symbolic link", None),
        "CM-GD_lifecycle_20250103_01.csv": ("FIFO", None),
    }
    assert listed["CM-GD_lifecycle_20250101_01.csv"].size == 2
    assert listed["CM-GD_lifecycle_20250101_01.csv"].path_str == str(feed / "CM-GD_lifecycle_20250101_01.csv")
