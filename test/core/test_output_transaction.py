"""The output transaction on its own, without QGIS: what a failed run leaves where a writer wrote in place."""
import os
import time

import pytest

from prospectra.core.io.outputs import OutputTransaction


def test_a_write_through_a_symlinked_output_is_undone_in_its_target(tmp_path):
    """A writer that writes in place (QGIS's vector sinks) writes through the user's link into its target: a failed
    run puts the target's content back and the link too."""
    target = tmp_path / "elsewhere" / "grid.gpkg"
    target.parent.mkdir()
    target.write_bytes(b"the user's grid")
    link = tmp_path / "grid.gpkg"
    link.symlink_to(target)
    with pytest.raises(RuntimeError), OutputTransaction({"OUTPUT_GRID": str(link)}):
        with open(link, "r+b") as f:
            f.write(b"PARTIAL")
        raise RuntimeError("the run failed")
    assert os.readlink(link) == str(target) and target.read_bytes() == b"the user's grid"
    assert sorted(os.listdir(tmp_path)) == ["elsewhere", "grid.gpkg"]


def test_a_failed_run_leaves_the_users_own_database_log(tmp_path):
    """A GeoPackage open elsewhere in WAL mode has edits in its -wal: they are the user's, not the run's."""
    grid = tmp_path / "grid.gpkg"
    grid.write_bytes(b"the user's grid")
    (tmp_path / "grid.gpkg-wal").write_bytes(b"the user's edits")
    with pytest.raises(RuntimeError), OutputTransaction({"OUTPUT_GRID": str(grid)}):
        grid.write_bytes(b"half a grid")
        (tmp_path / "grid.gpkg-journal").write_bytes(b"the run's journal")
        raise RuntimeError("the run failed")
    assert grid.read_bytes() == b"the user's grid"
    assert (tmp_path / "grid.gpkg-wal").read_bytes() == b"the user's edits"
    assert sorted(os.listdir(tmp_path)) == ["grid.gpkg", "grid.gpkg-wal"]


def test_a_path_another_live_run_is_writing_is_refused(tmp_path):
    """Two runs writing one GeoPackage at once wrecked it: the second is refused while the first's mark is live."""
    import subprocess
    import sys

    from prospectra.core.errors import InputError
    from prospectra.core.io.blocks import process_tag

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        host = process_tag().rsplit("-", 1)[0]
        (tmp_path / f".grid.gpkg.{host}-{other.pid}.writing").touch()
        with pytest.raises(InputError, match=f"OUTPUT_GRID: another run \\(process {other.pid}\\) is writing"):
            with OutputTransaction({"OUTPUT_GRID": str(tmp_path / "grid.gpkg")}):
                pass
        assert sorted(os.listdir(tmp_path)) == [f".grid.gpkg.{host}-{other.pid}.writing"]
    finally:
        other.kill()
        other.wait()


def test_a_cancel_between_a_writers_start_and_its_cleanup_leaves_no_temporary(tmp_path):
    """SIGTERM becomes Canceled wherever the run is: inside a writer's constructor, after its temporary file exists
    and before the context that would remove it is entered (seen in a killed SAM run). The transaction removes this
    process's temporaries for its outputs, and leaves another process's and other files' alone."""
    from prospectra.core.errors import Canceled
    from prospectra.core.io.blocks import temporary_name

    classes = tmp_path / "classes.tif"
    classes.write_bytes(b"the user's map")
    other = tmp_path / ".classes.tif.otherhost-1.0123abcd.part.tif"
    other.write_bytes(b"another host's run")
    unrelated = tmp_path / "notes.txt"
    unrelated.write_bytes(b"the user's notes")
    with pytest.raises(Canceled), OutputTransaction({"OUTPUT": str(classes), "OUTPUT_RULE": str(tmp_path / "a.tif")}):
        with open(temporary_name(str(tmp_path / "a.tif"), ".tif"), "wb") as f:
            f.write(b"half a rule image")
        raise Canceled("the run was stopped (SIGTERM)")
    assert classes.read_bytes() == b"the user's map"
    assert sorted(os.listdir(tmp_path)) == [other.name, "classes.tif", "notes.txt"]


def _dead_tag():
    from prospectra.core.io.blocks import process_tag

    return process_tag().rsplit("-", 1)[0] + f"-{2 ** 22 + 12345}"  # this host; above Linux's pid_max: no such process


def _next_run(output):
    """A run writing output in the same folder, which recovers what killed runs left there first."""
    with OutputTransaction({"OUTPUT": str(output)}):
        output.write_bytes(b"new")


def _uncommitted_run(folder, dead, names):
    """What a run (tag dead) killed before its commit leaves for names: its record, a mark on each and the user's
    earlier file of each kept aside. Returns the marks."""
    record = folder / f".prospectra.{dead}.0123abcd.transaction"
    marks = [folder / f".{name}.{dead}.writing" for name in names]
    record.write_text("\n".join(map(str, marks)))
    for mark, name in zip(marks, names):
        (folder / f".{name}.{dead}.kept").write_bytes(b"the user's earlier " + name.encode())
        mark.write_text(str(record))
    return marks


def test_a_run_killed_after_its_commit_keeps_every_new_output(tmp_path):
    """Killed after it removed its commit record and before its kept-aside files went, a run had replaced all its
    outputs: the next run in the folder drops the kept-aside files (it put the old ones back, so one output was old
    and the other new)."""
    dead = _dead_tag()
    for name in ("classes.tif", "angles.tif"):
        (tmp_path / name).write_bytes(b"the killed run's complete " + name.encode())
        (tmp_path / f".{name}.{dead}.kept").write_bytes(b"the user's earlier " + name.encode())
        (tmp_path / f".{name}.{dead}.writing").write_text(str(tmp_path / f".prospectra.{dead}.0123abcd.transaction"))
    _next_run(tmp_path / "other.tif")
    assert (tmp_path / "classes.tif").read_bytes() == b"the killed run's complete classes.tif"
    assert (tmp_path / "angles.tif").read_bytes() == b"the killed run's complete angles.tif"
    assert sorted(os.listdir(tmp_path)) == ["angles.tif", "classes.tif", "other.tif"]


def test_a_run_killed_before_its_commit_is_undone_and_its_record_removed(tmp_path):
    """Killed while its commit record exists, a run is undone at every path: what it wrote goes, what it replaced
    comes back, and the record goes once no mark names it."""
    dead = _dead_tag()
    _uncommitted_run(tmp_path, dead, ("classes.tif", "angles.tif"))
    for name in ("classes.tif", "angles.tif"):
        (tmp_path / name).write_bytes(b"the killed run's " + name.encode())
    _next_run(tmp_path / "other.tif")
    assert (tmp_path / "classes.tif").read_bytes() == b"the user's earlier classes.tif"
    assert (tmp_path / "angles.tif").read_bytes() == b"the user's earlier angles.tif"
    assert sorted(os.listdir(tmp_path)) == ["angles.tif", "classes.tif", "other.tif"]


def test_a_finished_run_leaves_no_record_whether_it_succeeded_or_failed(tmp_path):
    (tmp_path / "summary.csv").write_bytes(b"the user's summary")
    with OutputTransaction({"OUTPUT": str(tmp_path / "summary.csv")}):
        assert [f for f in os.listdir(tmp_path) if f.endswith(".transaction")]
        (tmp_path / "summary.csv").write_bytes(b"new summary")
    assert sorted(os.listdir(tmp_path)) == ["summary.csv"]
    with pytest.raises(RuntimeError), OutputTransaction({"OUTPUT": str(tmp_path / "summary.csv")}):
        (tmp_path / "summary.csv").write_bytes(b"half a summary")
        raise RuntimeError("the run failed")
    assert (tmp_path / "summary.csv").read_bytes() == b"new summary"
    assert sorted(os.listdir(tmp_path)) == ["summary.csv"]


def test_a_run_stopped_while_it_keeps_a_file_aside_never_puts_a_part_of_it_back(tmp_path, monkeypatch):
    """A kill in the middle of copying the user's file aside left half of it under the kept-aside name, and the next
    run put that half back over the intact file (a GeoPackage of 19.5 MB came back as 1.3 MB, malformed). The copy
    is made under a temporary name and renamed when whole."""
    from prospectra.core.io import outputs

    copy2 = outputs.shutil.copy2

    def killed_halfway(source, target):
        with open(source, "rb") as f, open(target, "wb") as g:
            g.write(f.read()[:5])
        raise SystemExit("killed")

    grid = tmp_path / "grid.gpkg"
    grid.write_bytes(b"SQLite format 3\x00 the user's grid")
    monkeypatch.setattr(outputs.shutil, "copy2", killed_halfway)
    with pytest.raises(SystemExit):
        OutputTransaction({"OUTPUT_GRID": str(grid)}).__enter__()
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".kept")]
    monkeypatch.setattr(outputs.shutil, "copy2", copy2)
    _next_run(tmp_path / "other.csv")
    assert grid.read_bytes() == b"SQLite format 3\x00 the user's grid"


def _killed_long_ago(mark):
    """A mark whose run's last heartbeat was an hour ago."""
    ago = os.stat(mark).st_mtime_ns - 3600 * 10 ** 9
    os.utime(mark, ns=(ago, ago))


def test_a_file_saved_over_a_killed_runs_output_after_it_died_is_left_and_the_earlier_one_kept_visible(tmp_path):
    """The next run put back the file a killed run had replaced, over the map the user had saved at that path since
    the kill, and removed the user's map. A file changed after the run's last heartbeat stays; the kept-aside one
    is renamed where the user sees it. The killed run's other output, written while it lived, is still undone."""
    dead = _dead_tag()
    marks = _uncommitted_run(tmp_path, dead, ("classes.tif", "angles.tif"))
    (tmp_path / "angles.tif").write_bytes(b"the killed run's angles")  # before its mark's time: the run's
    _killed_long_ago(marks[0])
    (tmp_path / "classes.tif").write_bytes(b"the map the user saved after the kill")
    _next_run(tmp_path / "other.tif")
    assert (tmp_path / "classes.tif").read_bytes() == b"the map the user saved after the kill"
    assert (tmp_path / f"prospectra-kept-{dead.rsplit('-', 1)[1]}-classes.tif").read_bytes() == \
        b"the user's earlier classes.tif"
    assert (tmp_path / "angles.tif").read_bytes() == b"the user's earlier angles.tif"
    assert sorted(os.listdir(tmp_path)) == ["angles.tif", "classes.tif", "other.tif",
                                            f"prospectra-kept-{dead.rsplit('-', 1)[1]}-classes.tif"]


def test_a_file_saved_where_a_killed_run_had_already_removed_its_output_is_not_replaced(tmp_path):
    """Killed while it failed, after it removed its output and marks and before it put the earlier file back: a
    file saved at the path since is not replaced by the earlier one, which stays beside it."""
    dead = _dead_tag()
    (tmp_path / f".summary.csv.{dead}.kept").write_bytes(b"the user's earlier summary")
    (tmp_path / "summary.csv").write_bytes(b"the summary the user saved after the kill")
    _next_run(tmp_path / "other.csv")
    assert (tmp_path / "summary.csv").read_bytes() == b"the summary the user saved after the kill"
    assert (tmp_path / f"prospectra-kept-{dead.rsplit('-', 1)[1]}-summary.csv").read_bytes() == \
        b"the user's earlier summary"


def test_an_open_transaction_keeps_its_marks_beating(tmp_path):
    """What tells a file saved after a kill from one the run wrote: the run touches its marks while it lives."""
    from prospectra.core.io import outputs

    with OutputTransaction({"OUTPUT": str(tmp_path / "classes.tif")}):
        mark = next(tmp_path.glob(".classes.tif.*.writing"))
        _killed_long_ago(mark)
        stale = os.stat(mark).st_mtime_ns
        deadline = time.monotonic() + 3 * outputs.HEARTBEAT_SECONDS
        while os.stat(mark).st_mtime_ns == stale and time.monotonic() < deadline:
            time.sleep(0.2)
        assert os.stat(mark).st_mtime_ns > stale


def test_a_commit_record_the_disk_could_not_take_leaves_no_empty_file(tmp_path, monkeypatch):
    """On a full disk the record was created and its write failed: the empty file stayed in the user's folder."""
    import builtins
    import errno

    from prospectra.core.io import outputs

    def full_disk(path, *args, **kwargs):
        f = builtins.open(path, *args, **kwargs)
        if str(path).endswith(".transaction"):
            f.close()
            raise OSError(errno.ENOSPC, "No space left on device")
        return f

    monkeypatch.setattr(outputs, "open", full_disk, raising=False)
    with OutputTransaction({"OUTPUT": str(tmp_path / "summary.csv")}):
        assert not [f for f in os.listdir(tmp_path) if f.endswith(".transaction")]
        (tmp_path / "summary.csv").write_bytes(b"summary")
    assert sorted(os.listdir(tmp_path)) == ["summary.csv"]
