"""metadata.txt holds what QGIS's plugin manager and the plugin repository need."""
import configparser
import os
import re

from conftest import ROOT


def test_metadata_is_complete():
    meta = configparser.ConfigParser()
    meta.read(os.path.join(ROOT, "metadata.txt"))
    g = meta["general"]
    for key in ("name", "qgisMinimumVersion", "description", "about", "version", "author", "email", "repository",
                "tracker", "homepage", "tags", "category", "icon", "license"):
        assert g.get(key, "").strip(), key
    assert g["name"] == "Prospectra" and g["hasProcessingProvider"] == "yes"
    assert g["qgisMinimumVersion"] == "3.22" and float(g["qgisMaximumVersion"]) >= 4.0
    assert os.path.exists(os.path.join(ROOT, g["icon"]))
    with open(os.path.join(ROOT, "CHANGELOG.md")) as f:
        assert re.search(r"^## (\S+)", f.read(), re.MULTILINE).group(1) == g["version"]


def test_plugin_code_imports_qt_through_qgis_pyqt():
    offenders = []
    for folder in ("algorithms", "core"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, folder)):
            for fn in files:
                if fn.endswith(".py"):
                    with open(os.path.join(dirpath, fn)) as f:
                        offenders += [f"{fn}: {line.strip()}" for line in f if re.match(r"\s*(from|import) PyQt[56]", line)]
    assert offenders == []
