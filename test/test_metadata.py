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


def test_about_names_every_part_of_the_plugin():
    meta = configparser.ConfigParser()
    meta.read(os.path.join(ROOT, "metadata.txt"))
    about = meta["general"]["about"]
    for part in ("composites", "band ratios", "Spectral Angle Mapper", "USGS Spectral Library", "Random Forest",
                 "CNN mineral tagging", "Kriging", "RE2O3", "qgis_process", "onnxruntime", "pykrige"):
        assert part in about, part


# Spellings that Qt6 builds of QGIS (4.x) no longer accept, outside algorithms/compat.py which chooses per version.
QT6_UNSAFE = {
    r"\bQt\.[A-Z]\w*\b(?!\.)": "an unscoped Qt enum (write Qt.AlignmentFlag.AlignLeft, not Qt.AlignLeft)",
    r"\.exec_\(": "exec_() (gone in PyQt6: use exec())",
    r"QVariant\.(String|Int|Double|Bool|LongLong)\b": "QVariant.Type (use compat.field)",
    r"QgsProcessing\.Type\w+": "a QgsProcessing source type (use compat.RASTER, POINTS, POLYGONS)",
    r"QgsProcessingParameterNumber\.(Double|Integer)\b": "a number type (use compat.DOUBLE, INTEGER)",
    r"QgsProcessingParameterDefinition\.Flag\w+": "a parameter flag (use compat.ADVANCED)",
}


def test_plugin_code_is_qt6_safe():
    """supportsQt6=True rests on this static check plus the runs on QGIS 3.40/3.44, which take the 3.36+ enum
    spellings through compat.py; no Qt6 build of QGIS can run here."""
    offenders = []
    files = [os.path.join(ROOT, f) for f in ("plugin.py", "__init__.py")]
    for folder in ("algorithms", "core"):
        files += [os.path.join(d, f) for d, _, names in os.walk(os.path.join(ROOT, folder))
                  for f in names if f.endswith(".py") and f != "compat.py"]
    for path in files:
        with open(path) as f:
            for number, line in enumerate(f, 1):
                offenders += [f"{os.path.relpath(path, ROOT)}:{number}: {why}" for pattern, why in QT6_UNSAFE.items()
                              if re.search(pattern, line.split("#")[0])]
    assert offenders == []
