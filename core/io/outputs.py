"""One output transaction per run: all or nothing across every file a run writes.

Writers write each file under a temporary name and rename it at the end (blocks.RasterWriter for rasters,
the algorithm base for QGIS's vector sinks, staged() and write_file() here for everything else). What that alone
cannot give is all-or-nothing across files: a run that fails after its first output has appeared would leave it,
or would have replaced a file the user had. So, around the whole run (the algorithm base opens one per run; engine
functions that write several files open their own, which nests harmlessly inside it):

- before: every output path and the files written beside it that exist already are kept aside (a hard link for
  rasters, which writers only ever replace; a copy for other files, which a vector writer may rewrite in place: a
  layer QGIS adds to an existing GeoPackage);
- on failure or cancel: every file at those paths is removed and what was kept aside is put back;
- on success: what was kept aside is dropped.

A run killed outright cannot clean up after itself: its kept-aside files, its temporary files and a mark for each
path it writes carry its process id, and the next run writing into the same folder removes what the dead process
was writing (a layer added to a GeoPackage is written in place), puts back the kept-aside files and removes the
temporary files.
One commit record per run decides between the two outcomes for every path at once: each mark names it, and the
run removes it before anything else when it succeeds. A run killed after that point committed, so the next run
drops its kept-aside files instead of putting them back (it put an old file back over one new output of a run
that had replaced all of them).
A file saved at a killed run's output after the run died (the user's own, or another program's) is not the run's:
while it lives, a run touches its marks every few seconds, and a file changed well after its last touch stays; what
the run had kept aside of that output is renamed 'prospectra-kept-<pid>-<name>' beside it, neither put over the
newer file nor removed."""
import glob
import os
import re
import shutil
import threading
import time
import uuid
from contextlib import contextmanager

from .blocks import companions, process_tag, temporary_name
from ..errors import InputError

KEPT = re.compile(r"^\.(?P<name>.+)\.(?P<host>[^.]+)-(?P<pid>\d+)\.kept$")
# A run writing a path: a writer that writes in place (a layer added to a GeoPackage) leaves a partial file if killed
WRITING = re.compile(r"^\.(?P<name>.+)\.(?P<host>[^.]+)-(?P<pid>\d+)\.writing$")
RECORD = re.compile(r"^\.prospectra\.(?P<host>[^.]+)-(?P<pid>\d+)\.[0-9a-f]{8}\.transaction$")
# temporary_name, and what writers add to it: .aux.xml, a shapefile's .dbf, a GeoPackage's -journal
PART = re.compile(r"^\..+\.(?P<host>[^.]+)-(?P<pid>\d+)\.[0-9a-f]{8}\.part(\.[\w-]+)?(\.aux\.xml)?$")

# A running transaction touches its marks every HEARTBEAT_SECONDS, so a mark's time tells when its run was last
# alive. A file at a killed run's output changed more than AFTER_DEATH_NS after that was saved there since.
HEARTBEAT_SECONDS = 5
AFTER_DEATH_NS = 60 * 10 ** 9
_BEATING = set()  # the marks of this process's open transactions
_BEATING_LOCK = threading.Lock()
_heart = []


def _beat():
    while True:
        time.sleep(HEARTBEAT_SECONDS)
        with _BEATING_LOCK:
            marks = list(_BEATING)
        for mark in marks:
            try:
                os.utime(mark)
            except OSError:
                pass  # removed as the run ended


def _heartbeat(marks, on):
    """Start (on) or stop touching marks."""
    with _BEATING_LOCK:
        if on:
            _BEATING.update(marks)
            if not _heart:
                _heart.append(threading.Thread(target=_beat, name="prospectra-heartbeat", daemon=True))
                _heart[0].start()
        else:
            _BEATING.difference_update(marks)


def _alive(pid):
    """Whether a process of this host runs. POSIX asks the kernel (psutil reads /proc, which a chroot or container
    may lack, and would call a live writer dead); elsewhere psutil, and when that cannot tell, assume it runs."""
    if os.name != "nt":
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except OSError:
            return True  # it exists, owned by someone else
        return True
    try:
        import psutil

        return psutil.pid_exists(pid)
    except ImportError:
        return True


def recover(folder):
    """Undo what runs killed on this host left in folder: put back their kept-aside files, remove their temporary
    files. Files of live processes, and of other hosts sharing the folder, are left alone."""
    host = process_tag().rsplit("-", 1)[0]
    try:
        names = os.listdir(folder)
    except OSError:
        return
    # First what killed runs were writing: those files are incomplete, or complete outputs of a run that was not
    # (all or none); what they replaced is put back just below. A mark is claimed by renaming it, so that of two
    # runs recovering the folder at once only one removes (the other could remove what the first put back).
    for name in names:
        writing = WRITING.match(name)
        if writing is None or writing["host"] != host or _alive(int(writing["pid"])):
            continue
        claimed = os.path.join(folder, f".{name}.{process_tag()}.claimed")
        try:
            os.rename(os.path.join(folder, name), claimed)
        except OSError:
            continue  # another run took it
        files = written_files(os.path.join(folder, writing["name"]))
        tag = f"{writing['host']}-{writing['pid']}"
        if _committed(claimed):  # what it wrote stands: what it replaced goes
            _remove(claimed, *(_kept_name(f, tag) for f in files))
            continue
        # A file changed after the run's last heartbeat is someone else's since it died (the user saved over the
        # output): it stays, and so does what the run had kept aside of the output, under a name the user can see
        last_alive = os.stat(claimed).st_mtime_ns  # a rename keeps the time
        changed = {f: _changed_after(f, last_alive + AFTER_DEATH_NS) for f in files}
        saved_since = any(changed.values())
        for f in files:
            if not changed[f]:
                _remove(*(f + log for log in ("",) + SQLITE_LOGS))
            kept = _kept_name(f, tag)
            try:
                if os.path.lexists(kept) and saved_since:
                    _keep_visible(kept, f, writing["pid"])
                elif os.path.lexists(kept):
                    put_back(kept, f)
            except OSError:
                pass  # a later run will try again
        _remove(claimed)
    names = os.listdir(folder)  # less what was put back just above
    for name in names:
        kept, part = KEPT.match(name), PART.match(name)
        match = kept or part
        if match is None or match["host"] != host or _alive(int(match["pid"])):
            continue
        path = os.path.join(folder, name)
        try:
            if kept:  # a run killed after it removed its marks had removed its files: a file there now is another's
                target = os.path.join(folder, kept["name"])
                if os.path.lexists(target) and not os.path.samefile(path, target):
                    _keep_visible(path, target, kept["pid"])
                else:
                    put_back(path, target)
            else:
                os.remove(path)
        except OSError:
            pass  # a later run will try again
    for name in names:  # a dead run's commit record, once no mark of it is left anywhere
        record = RECORD.match(name)
        if record is None or record["host"] != host or _alive(int(record["pid"])):
            continue
        path = os.path.join(folder, name)
        try:
            with open(path, encoding="utf-8") as f:
                if not any(os.path.lexists(mark) for mark in f.read().splitlines()):
                    os.remove(path)
        except OSError:
            pass


def _kept_name(path, tag):
    """Where the run tagged tag keeps path aside while it replaces it (KEPT)."""
    folder, name = os.path.split(os.path.abspath(path))
    return os.path.join(folder, f".{name}.{tag}.kept")


def _committed(mark):
    """Whether the run that left mark had committed: the mark names its run's commit record, which is gone. A mark
    without a record (it could not be written) counts as not committed: the run is undone."""
    try:
        with open(mark, encoding="utf-8") as f:
            record = f.read().strip()
    except OSError:
        return False
    return bool(record) and not os.path.lexists(record)


SQLITE_LOGS = ("-journal", "-wal", "-shm")  # a GeoPackage's rollback journal and write-ahead log


def _remove(*paths):
    """Remove the paths that exist (None is skipped); errors are left for a later run. A database journal or log a
    writer left beside a file is removed with it by the callers: replayed on a file put back there, it would wreck
    it."""
    for f in paths:
        try:
            if f and os.path.lexists(f):
                os.remove(f)
        except OSError:
            pass


def _changed_after(path, ns):
    """Whether the file at path changed (its content, name or links: the inode's change time) after ns, a time
    of the same file system."""
    try:
        return os.lstat(path).st_ctime_ns > ns
    except OSError:
        return False


def _keep_visible(kept, path, pid):
    """A killed run's kept-aside copy of path, where path now holds a file saved after the run died: renamed
    'prospectra-kept-<pid>-<name>' beside it (a raster's .qml and .aux.xml keep pairing with it) rather than
    put over that file or removed."""
    folder, name = os.path.split(path)
    os.replace(kept, os.path.join(folder, f"prospectra-kept-{pid}-{name}"))


def put_back(kept, path):
    """Put the kept-aside file back at path (after what the run wrote there and its database logs were removed).
    A hard link to the very file at path (the run stopped before it replaced it) is only dropped: renaming a file
    onto itself does nothing and would leave the link behind, to put an old file back over a newer one later."""
    if os.path.lexists(path) and os.path.samefile(kept, path):
        os.remove(kept)
    else:
        os.replace(kept, path)


@contextmanager
def staged(path):
    """The temporary name to write path under (same extension, for writers that go by it): renamed to path when
    the block succeeds, removed when it fails; so is the .aux.xml GDAL may write beside a raster."""
    tmp = temporary_name(path, os.path.splitext(path)[1])
    try:
        yield tmp
        os.replace(tmp, path)
        if os.path.exists(tmp + ".aux.xml"):
            os.replace(tmp + ".aux.xml", path + ".aux.xml")
    finally:
        for leftover in (tmp, tmp + ".aux.xml"):
            if os.path.exists(leftover):
                os.remove(leftover)


def write_file(path, data):
    """Text or bytes to path, under a temporary name first."""
    with staged(path) as tmp, open(tmp, "wb" if isinstance(data, bytes) else "w",
                                   **({} if isinstance(data, bytes) else {"encoding": "utf-8", "newline": ""})) as f:
        f.write(data)


def written_files(path):
    """The files writing path may create: companions, and a report's PNG figures that exist (stem_*.png)."""
    files = companions(path)
    if path.lower().endswith((".html", ".htm")):
        files += glob.glob(glob.escape(os.path.splitext(path)[0]) + "_*.png")
    return files


_HELD = threading.local()  # the output paths the transactions open on this thread hold


def _writer_of(path):
    """The id of another live process of this host writing path now (its mark), else None."""
    folder, name = os.path.split(os.path.abspath(path))
    host, me = process_tag().rsplit("-", 1)
    for mark in glob.glob(os.path.join(glob.escape(folder), f".{glob.escape(name)}.*.writing")):
        match = WRITING.match(os.path.basename(mark))
        if match and match["name"] == name and match["host"] == host and match["pid"] != me \
                and _alive(int(match["pid"])):
            return match["pid"]
    return None


def _key(path):
    return os.path.normcase(os.path.realpath(os.path.abspath(path)))


class OutputTransaction:
    """Use as a context manager around a run. Transactions nest: the algorithm base opens one per run, and engine
    functions that write several files open their own for plain-Python callers; an inner transaction leaves the
    paths an outer one holds on the same thread to it."""

    def __init__(self, outputs):
        """outputs: {parameter: path} of every output the run may write."""
        self.outputs = {p: path for p, path in outputs.items() if path}
        self.kept = []
        self.links = {}  # output path -> the link the user had there

    def _files(self):
        return list(dict.fromkeys(f for path in self.outputs.values() for f in written_files(path)))

    def _temporaries(self):
        """This process's temporary files for the outputs. A writer removes its own when it fails, but not one that
        fails between creating the file and entering the code that removes it (a constructor that raises after)."""
        found = []
        for path in self.outputs.values():
            folder, name = os.path.split(os.path.abspath(path))
            found += glob.glob(os.path.join(glob.escape(folder), f".{glob.escape(name)}.{process_tag()}.*.part*"))
        return found

    def __enter__(self):
        held = _HELD.__dict__.setdefault("paths", set())
        self.outputs = {p: path for p, path in self.outputs.items() if _key(path) not in held}
        self.held = {_key(path) for path in self.outputs.values()}
        held |= self.held
        for folder in {os.path.dirname(os.path.abspath(p)) for p in self.outputs.values()}:
            recover(folder)
        for parameter, path in self.outputs.items():
            busy = _writer_of(path)
            if busy:
                held -= self.held
                raise InputError(parameter, f"another run (process {busy}) is writing '{path}' now; wait for it to "
                                            f"end or choose another file name.")
        self.before = set(self._files())
        self.logs = {f + log for f in self.before for log in SQLITE_LOGS if os.path.lexists(f + log)}  # the user's
        for parameter, path in self.outputs.items():
            for f in written_files(path):
                if not os.path.isfile(f):
                    continue
                aside = _kept_name(f, process_tag())
                if os.path.islink(f):  # the user's link: put back as a link, its target's content kept too (below),
                    self.links[f] = os.readlink(f)  # since a vector writer may write through it
                try:
                    try:
                        if f in self.links or not f.lower().endswith((".tif", ".tiff")):
                            raise OSError("QGIS's vector writers may rewrite a file in place: copy")
                        os.link(f, aside)  # RasterWriter only ever replaces a raster: a link keeps it
                    except OSError:  # other files, or a file system without hard links
                        copy = temporary_name(aside)  # a kill mid-copy leaves a temporary file, never a part
                        try:  # of the user's file that the next run would put back in its place
                            shutil.copy2(f, copy)
                            os.replace(copy, aside)
                        finally:
                            _remove(copy)
                except OSError as e:
                    for kept, _ in self.kept:  # nothing was written yet: drop what was kept, touch nothing else
                        os.remove(kept)
                    held -= self.held
                    raise InputError(parameter, f"'{f}' exists and could not be kept aside while the run replaces "
                                                f"it ({e.strerror or e}); is its folder writable?") from None
                self.kept.append((aside, f))
        marks = [os.path.join(folder, f".{name}.{process_tag()}.writing")
                 for folder, name in (os.path.split(os.path.abspath(p)) for p in self.outputs.values())]
        self.record = os.path.join(os.path.dirname(marks[0]), f".prospectra.{process_tag()}.{uuid.uuid4().hex[:8]}"
                                                              f".transaction") if marks else None
        try:
            if self.record:
                with open(self.record, "w", encoding="utf-8") as f:
                    f.write("\n".join(marks))
        except OSError:  # a full disk: the file may exist, empty
            _remove(self.record)
            self.record = None  # a kill after success is then undone, as one before it
        self.marks = []
        for mark in marks:
            try:
                with open(mark, "w", encoding="utf-8") as f:
                    f.write(self.record or "")
                self.marks.append(mark)
            except OSError:
                pass  # only a kill's leftovers go uncleaned without it
        _heartbeat(self.marks, on=True)
        return self

    def __exit__(self, exc_type, exc, tb):
        """The order matters if the process dies during it. While the commit record exists, the next run removes
        what is at a marked path and puts back what was kept; once it is gone, the next run drops what was kept
        at a marked path; at a path no longer marked, it puts back what was kept. So on success the record goes
        first, then the kept files, then the marks; on failure the marks go after the run's files are removed and
        before the kept ones return, and the record last."""
        _HELD.paths -= self.held
        _heartbeat(self.marks, on=False)
        if exc_type is None:
            _remove(self.record)  # the commit point
            _remove(*(aside for aside, _ in self.kept), *self.marks)
            return False
        for f in set(self._files()) | self.before:  # figures a failed report wrote are found again here
            _remove(f, *(f + log for log in SQLITE_LOGS if f + log not in self.logs))  # the user's own log is theirs
        _remove(*self._temporaries())
        _remove(*self.marks)
        for aside, f in self.kept:
            try:
                if f in self.links:  # what a writer wrote through the link is undone in its target, and the link
                    shutil.copy2(aside, os.path.join(os.path.dirname(f), self.links[f]))  # is put back
                    os.remove(aside)
                    os.symlink(self.links[f], f)
                else:
                    put_back(aside, f)
            except OSError:
                pass  # left under its kept-aside name: recover puts it back on the next run here
        _remove(self.record)
        return False
