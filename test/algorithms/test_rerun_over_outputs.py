"""A run over the outputs of an earlier run of the same algorithm, as a user refining parameters does: it must
replace them and leave nothing else behind. The algorithm base and the engine functions that write several files
both open an output transaction; the inner one must leave the outer one's files to it."""
import os
import shutil

import pytest

from data.random_forest_reference import SIM_POINTS, SIM_SCENE
from data.simulated_ree import make_ree_scene, write_samples
from data.simulated_till_raster import TILL, make_raster
from test_band_algorithms import SENSORS

GF2 = SENSORS.index("gf2_pms")


def visible(folder):
    """The files of folder, but GDAL's statistics caches (.aux.xml), which QGIS writes when it happens to read
    statistics and a dataset cache may spare it the second time."""
    return sorted(f for f in os.listdir(folder) if not f.endswith(".tif.aux.xml"))


def run_twice(processing, algorithm, parameters, folder):
    processing.run(algorithm, parameters)
    first = visible(folder)
    stamps = {f: os.stat(os.path.join(folder, f)).st_mtime_ns for f in first}
    processing.run(algorithm, parameters)
    assert visible(folder) == first  # the same files, and no hidden part or kept-aside file
    assert not [f for f in os.listdir(folder) if f.startswith(".")]
    outputs = [p for k, p in parameters.items() if k.startswith(("OUTPUT", "MODEL", "REPORT")) and isinstance(p, str)]
    for path in outputs:
        assert os.stat(path).st_mtime_ns >= stamps[os.path.basename(path)]


def test_kriging_over_its_own_outputs(qgis_processing, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    run_twice(qgis_processing, "prospectra:kriging", {
        "INPUT": TILL, "FIELD": "La_ppm_511", "PIXEL_SIZE": 5000, "EXTENT": "352000,402000,7470000,7530000 [EPSG:3067]",
        "OUTPUT": str(out / "k.tif"), "OUTPUT_VARIANCE": str(out / "k_var.tif"), "OUTPUT_REPORT": str(out / "k.html")},
        out)


def test_band_correlation_over_its_own_outputs(qgis_processing, tmp_path):
    scene = make_raster(str(tmp_path / "gf2_simulated.tif"))
    out = tmp_path / "out"
    out.mkdir()
    run_twice(qgis_processing, "prospectra:bandcorrelation", {
        "INPUT": [scene], "SENSOR": GF2, "POINTS": TILL, "FIELD": "La_ppm_511",
        "OUTPUT_REPORT": str(out / "corr.html"), "OUTPUT_TABLE": str(out / "corr.csv")}, out)


def test_random_forest_training_over_its_own_outputs(qgis_processing, tmp_path):
    pytest.importorskip("sklearn")
    out = tmp_path / "out"
    out.mkdir()
    scene = shutil.copy(SIM_SCENE, tmp_path)  # QGIS may cache statistics beside the scene: not in test/data
    run_twice(qgis_processing, "prospectra:trainrandomforest", {
        "INPUT": [scene], "TRAINING": SIM_POINTS, "FIELD": "code", "SEARCH_ITERATIONS": 1, "MAX_TREES": 10,
        "FOLDS": 2, "MODEL": str(out / "forest.onnx"), "REPORT": str(out / "forest.html")}, out)


def test_inversion_training_over_its_own_outputs(qgis_processing, tmp_path):
    pytest.importorskip("sklearn")
    scene, samples = str(tmp_path / "gf2.tif"), str(tmp_path / "samples.gpkg")
    write_samples(samples, make_ree_scene(scene))
    out = tmp_path / "out"
    out.mkdir()
    run_twice(qgis_processing, "prospectra:traininversion", {
        "INPUT": [scene], "SENSOR": GF2, "POINTS": samples, "FIELD": "RE2O3", "MODELS": [0], "SAMPLE_SET": 1,
        "OUTPUT_MODEL": str(out / "re2o3.onnx"), "OUTPUT_REPORT": str(out / "re2o3.html")}, out)
