"""One output transaction per run: all or nothing across every file a run writes.

Writers already write each file under a temporary name and rename it at the end (blocks.RasterWriter,
write_atomic). What that alone cannot give is all-or-nothing across files: a run that fails after its first
output has appeared would leave it, or would have replaced a file the user had. So, around the whole run:

- before: every output path and the files written beside it that exist already are kept aside (a hard link for
  rasters, which writers only ever replace; a copy for other files, which some writers rewrite in place);
- on failure or cancel: every file at those paths is removed and what was kept aside is put back;
- on success: what was kept aside is dropped.

A run killed outright cannot clean up after itself: its kept-aside files and temporary files carry its process
id, and the next run writing into the same folder puts back the kept-aside files and removes the temporary
files of processes that no longer exist."""
import glob
import os
import re
import shutil

from .blocks import companions

KEPT = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.kept$")
PART = re.compile(r"^\..+\.(?P<pid>\d+)\.[0-9a-f]{8}\.part(\.\w+)?(\.aux\.xml)?$")  # blocks.temporary_name


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover(folder):
    """Undo what runs killed in folder left: put back their kept-aside files, remove their temporary files."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        kept, part = KEPT.match(name), PART.match(name)
        match = kept or part
        if match is None or _alive(int(match["pid"])):
            continue
        path = os.path.join(folder, name)
        if kept:
            os.replace(path, os.path.join(folder, kept["name"]))
        else:
            os.remove(path)


def written_files(path):
    """The files writing path may create: companions, and a report's PNG figures that exist (stem_*.png)."""
    files = companions(path)
    if path.lower().endswith((".html", ".htm")):
        files += glob.glob(glob.escape(os.path.splitext(path)[0]) + "_*.png")
    return files


class OutputTransaction:
    def __init__(self, paths):
        self.files = list(dict.fromkeys(f for p in paths if p for f in written_files(p)))
        self.kept = []

    def __enter__(self):
        for folder in {os.path.dirname(os.path.abspath(f)) for f in self.files}:
            recover(folder)
        for f in self.files:
            if os.path.isfile(f):
                folder, name = os.path.split(os.path.abspath(f))
                aside = os.path.join(folder, f".{name}.{os.getpid()}.kept")
                try:
                    if not f.lower().endswith((".tif", ".tiff")):
                        raise OSError("rewritten in place by some writers: copy")
                    os.link(f, aside)
                except OSError:  # other files, or a file system without hard links
                    shutil.copy2(f, aside)
                self.kept.append((aside, f))
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            for aside, _ in self.kept:
                os.remove(aside)
            return False
        for f in self.files:
            if os.path.isfile(f):
                os.remove(f)
        for aside, f in self.kept:
            os.replace(aside, f)
        return False
