"""Makes the checkout importable as the package 'prospectra' ($PROSPECTRA_BUILD/plugins/prospectra -> the
checkout; build/ of the checkout by default), as QGIS imports the plugin by its folder name. The repository's
scripts and tests import this first. A link left pointing elsewhere (a moved checkout, or one mounted at another
path, as in the chroot runs) is replaced: Python would skip it and find no 'prospectra'."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("PROSPECTRA_BUILD") or os.path.join(ROOT, "build")
PLUGINS = os.path.join(BUILD, "plugins")
_link = os.path.join(PLUGINS, "prospectra")
if not os.path.islink(_link) or os.path.realpath(_link) != os.path.realpath(ROOT):
    os.makedirs(PLUGINS, exist_ok=True)
    _new = f"{_link}.{os.getpid()}"
    os.symlink(ROOT, _new)
    os.replace(_new, _link)  # atomic: two scripts starting at once each put a whole link in place
if PLUGINS not in sys.path:
    sys.path.insert(0, PLUGINS)
