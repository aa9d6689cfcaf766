"""The plugin as a user installs it: the zip of `make package` in a fresh QGIS profile, run by qgis_process,
with and without the optional Python packages."""
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import numpy as np
import pytest
from osgeo import gdal

from conftest import DATA, ROOT

sys.path.insert(0, os.path.join(ROOT, "scripts"))
import package  # noqa: E402

S2_L2A = os.path.join(DATA, "sen2_rstoolbox_12band.tif")
TILL = os.path.join(DATA, "IOCG_CLB_Till_Geochem_reg_511p.gpkg")
PROVIDER_ALGORITHMS = 13


@pytest.fixture(scope="module")
def plugin_zip(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("zip") / "prospectra.zip")
    package.build(path)
    return path


@pytest.fixture(scope="module")
def installed(plugin_zip, tmp_path_factory):
    """Run qgis_process on a fresh profile into which the zip was unpacked, as "Install from ZIP" does."""
    home = tmp_path_factory.mktemp("home_installed")
    config = home / "config"
    plugins = config / "profiles" / "default" / "python" / "plugins"
    plugins.mkdir(parents=True)
    with zipfile.ZipFile(plugin_zip) as z:
        z.extractall(plugins)
    qgis_process = shutil.which("qgis_process.bin") or shutil.which("qgis_process")
    base = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "QGIS_PLUGINPATH")}
    base.update(HOME=str(home), QGIS_CUSTOM_CONFIG_PATH=str(config), QT_QPA_PLATFORM="offscreen",
                PYTHONNOUSERSITE="1")
    venv_site = sysconfig.get_paths()["purelib"]  # onnxruntime, scikit-learn ... of the Python running the tests

    def run(*args, with_packages=True):
        env = dict(base, PYTHONPATH=venv_site) if with_packages else base
        return subprocess.run([qgis_process, *args], capture_output=True, text=True, env=env, timeout=600)

    enabled = run("plugins", "enable", "prospectra")
    assert enabled.returncode == 0, enabled.stdout + enabled.stderr
    return run


def test_zip_holds_the_plugin_and_nothing_of_development(plugin_zip):
    names = zipfile.ZipFile(plugin_zip).namelist()
    assert os.path.getsize(plugin_zip) < 25 * 2**20
    assert all(n.startswith("prospectra/") for n in names)
    for needed in ("metadata.txt", "__init__.py", "icons/prospectra.svg", "LICENSE",
                   "models/tagger_sentinel2_msi.onnx", "models/tagger_sentinel2_msi.md", "models/MODEL_SPEC.md",
                   "core/spectral/library/usgs_splib07.npz", "core/sensors/sentinel2a_msi.json"):
        assert f"prospectra/{needed}" in names, needed
    for dev in ("test/", "bench/", "scripts/", "models/training/", "models/heldout/", ".ci/", "Makefile",
                "__pycache__", ".pyc", "requirements.txt"):
        assert not [n for n in names if dev in n], dev


def test_installed_zip_runs_an_algorithm(installed, tmp_path):
    image = shutil.copy(S2_L2A, tmp_path)
    out = str(tmp_path / "ratio.tif")
    proc = installed("--json", "run", "prospectra:bandratio", "--", f"INPUT={image}", f"OUTPUT={out}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout[proc.stdout.index("{"):])["results"]["OUTPUT"] == out
    stack = gdal.Open(S2_L2A).ReadAsArray().astype(np.float64)
    assert np.allclose(gdal.Open(out).ReadAsArray(), stack[10] / stack[11], rtol=1e-6)


def test_installed_zip_runs_its_bundled_model(installed, tmp_path):
    image = shutil.copy(S2_L2A, tmp_path)
    out = str(tmp_path / "tags.tif")
    proc = installed("run", "prospectra:tagminerals", "--", f"INPUT={image}", f"OUTPUT={out}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert gdal.Open(out).GetMetadataItem("PROSPECTRA_MODEL") == "tagger_sentinel2_msi"


def test_without_optional_packages_the_plugin_loads_and_says_what_to_install(installed, tmp_path):
    listed = installed("list", with_packages=False)
    assert listed.returncode == 0, listed.stderr
    assert sum(line.strip().startswith("prospectra:") for line in listed.stdout.splitlines()) == PROVIDER_ALGORITHMS
    image = shutil.copy(S2_L2A, tmp_path)
    ratio = installed("run", "prospectra:bandratio", "--", f"INPUT={image}", f"OUTPUT={tmp_path / 'r.tif'}",
                      with_packages=False)
    assert ratio.returncode == 0, ratio.stdout + ratio.stderr  # needs only what QGIS ships
    till = shutil.copy(TILL, tmp_path)
    runs = {"onnxruntime": ["prospectra:tagminerals", f"INPUT={image}", f"OUTPUT={tmp_path / 'tags.tif'}"],
            "numba": ["prospectra:spectralanglemapper", f"INPUT={image}", "ENDMEMBERS=Calcite, Hematite",
                      f"OUTPUT={tmp_path / 'sam.tif'}"],
            "pykrige": ["prospectra:kriging", f"INPUT={till}", "FIELD=La_ppm_511", "PIXEL_SIZE=5000",
                        "EXTENT=352000,402000,7470000,7530000 [EPSG:3067]", f"OUTPUT={tmp_path / 'k.tif'}"]}
    for package_name, (algorithm, *params) in runs.items():
        proc = installed("run", algorithm, "--", *params, with_packages=False)
        said = proc.stdout + proc.stderr
        assert proc.returncode != 0
        assert f"needs the Python package {package_name}" in said or \
               f"needs the Python packages {package_name}" in said, said
        for command in (f"python3 -m pip install --user --break-system-packages {package_name}",
                        "OSGeo4W Shell", "/Applications/QGIS.app/Contents/MacOS/bin/python3 -m pip install --user"):
            assert command in said, said
        assert "Traceback" not in said
        assert not os.path.exists(params[-1].split("=", 1)[1])  # OUTPUT: nothing begun
