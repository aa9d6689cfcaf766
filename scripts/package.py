"""Build the zip that QGIS's "Install from ZIP" accepts: the plugin folder as `prospectra/`, with what the plugin
runs on (code, sensors, library, presets, models and their cards) and nothing of development (tests, benchmarks,
scripts, training code and data).

Usage: python3 scripts/package.py [OUTPUT.zip]     (default: build/prospectra-VERSION.zip)"""
import configparser
import os
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FILES = ["metadata.txt", "__init__.py", "plugin.py", "LICENSE", "README.md", "CHANGELOG.md"]
FOLDERS = ["algorithms", "core", "icons", "models"]
LEFT_OUT = {os.path.join("models", "training"), os.path.join("models", "heldout"), "__pycache__"}
LIMIT = 25 * 1024 * 1024  # the QGIS plugin repository's upload limit


def plugin_files():
    """Relative paths of the files the zip holds, sorted."""
    paths = list(FILES)
    for folder in FOLDERS:
        for parent, dirs, names in os.walk(os.path.join(ROOT, folder)):
            rel = os.path.relpath(parent, ROOT)
            dirs[:] = sorted(d for d in dirs if os.path.join(rel, d) not in LEFT_OUT and d not in LEFT_OUT)
            paths += [os.path.join(rel, n) for n in names
                      if not n.endswith((".pyc", ".aux.xml")) and not n.startswith(".")]
    return sorted(paths)


def version():
    meta = configparser.ConfigParser()
    meta.read(os.path.join(ROOT, "metadata.txt"))
    return meta["general"]["version"]


def build(output):
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    partial = output + ".partial"
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for rel in plugin_files():
            z.write(os.path.join(ROOT, rel), os.path.join("prospectra", rel))
    size = os.path.getsize(partial)
    if size > LIMIT:
        os.remove(partial)
        raise SystemExit(f"{output}: {size / 2**20:.1f} MB is over the plugin repository's 25 MB limit.")
    os.replace(partial, output)
    return size


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", f"prospectra-{version()}.zip")
    size = build(out)
    print(f"{out}: {size / 2**20:.1f} MB")
