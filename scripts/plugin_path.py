"""Makes the checkout importable as the package 'prospectra' (build/plugins/prospectra -> the checkout), as QGIS
imports the plugin by its folder name. The repository's scripts import this first."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLUGINS = os.path.join(ROOT, "build", "plugins")
os.makedirs(PLUGINS, exist_ok=True)
if not os.path.lexists(os.path.join(PLUGINS, "prospectra")):
    os.symlink(ROOT, os.path.join(PLUGINS, "prospectra"))
if PLUGINS not in sys.path:
    sys.path.insert(0, PLUGINS)
