"""The provider's Dask scheduler setting, through processing.run in a real headless QGIS: with the setting pointing
at a real LocalCluster (two worker processes over TCP on 127.0.0.1, started here), band ratio, band composite, SAM,
Random Forest classification, tagging and content prediction send their tiles to it, report progress per tile and give the
same rasters and figures as a run on this machine; a cancel leaves nothing; without distributed the algorithm
runs here and the log says what to install."""
import os
import re
import sys

import numpy as np
import pytest
from osgeo import gdal

from conftest import PLUGINS
from data.cluster_scene import synthetic_scene

try:
    import distributed  # noqa: F401
except Exception as error:  # not installed, or psutil without /proc (the chroot runs): no cluster can start here
    pytest.skip(f"dask.distributed cannot run here ({type(error).__name__}: {error})", allow_module_level=True)


@pytest.fixture(scope="module")
def cluster_setting(qgis_processing):
    """The setting pointed at a LocalCluster, with 256-pixel tiles so a small scene makes several; reset after."""
    from distributed import LocalCluster
    from processing.core.ProcessingConfig import ProcessingConfig

    from prospectra.algorithms.cluster_setting import SCHEDULER
    from prospectra.core import cluster

    os.environ["PYTHONPATH"] = PLUGINS + os.pathsep + os.environ.get("PYTHONPATH", "")  # workers import prospectra
    local = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, protocol="tcp", host="127.0.0.1",
                         dashboard_address=None)
    tile_pixels, cluster.TILE_PIXELS = cluster.TILE_PIXELS, 256
    yield lambda address: ProcessingConfig.setSettingValue(SCHEDULER, address), local.scheduler_address
    ProcessingConfig.setSettingValue(SCHEDULER, "")
    cluster.TILE_PIXELS = tile_pixels
    local.close()


def recording():
    from qgis.core import QgsProcessingFeedback

    class Recording(QgsProcessingFeedback):
        def __init__(self, cancel_at=None):
            super().__init__()
            self.progress, self.log, self.cancel_at = [], [], cancel_at

        def setProgress(self, p):  # noqa: N802
            super().setProgress(p)
            self.progress.append(p)
            if self.cancel_at is not None and p >= self.cancel_at:
                self.cancel()

        def pushInfo(self, text):  # noqa: N802
            self.log.append(text)

        def reportError(self, text, fatal=False):  # noqa: N802
            self.log.append(text)

        def pushWarning(self, text):  # noqa: N802
            self.log.append(f"Warning: {text}")

    return Recording


def raster(path):
    return gdal.Open(path).ReadAsArray()


@pytest.mark.parametrize("alg, parameters, outputs", [
    ("prospectra:bandratio", {"PRESET": 0, "NUMERATOR": "B11", "DENOMINATOR": "B12"}, ["OUTPUT"]),
    ("prospectra:spectralanglemapper", {"ENDMEMBERS": "Calcite, Hematite, Kaolinite, Muscovite"},
     ["OUTPUT", "OUTPUT_RULE"]),
    ("prospectra:bandcomposite", {}, ["OUTPUT", "OUTPUT_8BIT"])])
def test_with_a_scheduler_set_the_tiles_run_on_the_cluster_and_equal_a_local_run(qgis_processing, cluster_setting,
                                                                                 tmp_path, alg, parameters, outputs):
    set_scheduler, address = cluster_setting
    scene = synthetic_scene(str(tmp_path / "scene.tif"))
    runs = {}
    for where in ("here", "cluster"):
        set_scheduler(address if where == "cluster" else "")
        feedback = recording()()
        files = {o: str(tmp_path / f"{where}_{o}.tif") for o in outputs}
        extra = {"OUTPUT_SUMMARY": str(tmp_path / f"{where}.csv")} if "OUTPUT_RULE" in outputs else {}
        qgis_processing.run(alg, {"INPUT": [scene], **parameters, **files, **extra}, feedback=feedback)
        runs[where] = files, feedback
    files, feedback = runs["cluster"]
    assert any(f"16 tiles of 256 x 256 pixels go to {address}" in line for line in feedback.log)
    assert len([p for p in feedback.progress if 0 < p < 100]) >= 14  # one step per tile
    for o in outputs:
        here, there = raster(runs["here"][0][o]), raster(files[o])
        assert here.dtype == there.dtype and here.tobytes() == there.tobytes(), o
    if extra:  # the class table sums the tiles' counts and best samples as one run counts them
        assert (tmp_path / "here.csv").read_text() == (tmp_path / "cluster.csv").read_text()
    else:
        log = [line for line in runs["here"][1].log if "valid pixels" in line or "Stretch" in line]
        assert log and log == [line for line in feedback.log if "valid pixels" in line or "Stretch" in line]
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".")]  # no tile folder, no part file left


@pytest.mark.parametrize("alg, parameters", [
    ("prospectra:bandratio", {"PRESET": 0, "NUMERATOR": "B11", "DENOMINATOR": "B12"}),
    ("prospectra:spectralanglemapper", {"ENDMEMBERS": "Calcite, Hematite, Kaolinite, Muscovite", "KEEP_APART": True})])
def test_the_cluster_run_warns_of_what_its_tiles_read_as_a_local_run_does(qgis_processing, cluster_setting, tmp_path,
                                                                          alg, parameters):
    """The scene's -9999 hole left undeclared (a fill the reads leave out) and B12 dead (one value wherever valid):
    the warnings come from what the reads noted, which on a cluster happens on the workers. The cluster run gives
    the same warnings as the run here; they were missing before."""
    set_scheduler, address = cluster_setting
    scene = synthetic_scene(str(tmp_path / "scene.tif"))
    ds = gdal.Open(scene, gdal.GA_Update)
    for b in range(ds.RasterCount):
        ds.GetRasterBand(b + 1).DeleteNoDataValue()
    b12 = ds.GetRasterBand(12)
    b12.WriteArray(np.where(b12.ReadAsArray() == -9999, -9999, 0.25).astype(np.float32))
    ds = None
    warnings = {}
    for where in ("here", "cluster"):
        set_scheduler(address if where == "cluster" else "")
        feedback = recording()()
        qgis_processing.run(alg, {"INPUT": [scene], **parameters, "OUTPUT": str(tmp_path / f"{where}.tif")},
                            feedback=feedback)
        warnings[where] = [line for line in feedback.log if line.startswith("Warning: INPUT")]
    assert any("-9999" in w for w in warnings["here"]) and any("B12 0.25" in w for w in warnings["here"])
    assert warnings["cluster"] == warnings["here"]


def test_cancel_on_the_cluster_leaves_nothing(qgis_processing, cluster_setting, tmp_path):
    from qgis.core import QgsProcessingException

    set_scheduler, address = cluster_setting
    set_scheduler(address)
    scene = synthetic_scene(str(tmp_path / "scene.tif"))
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(QgsProcessingException, match="Canceled"):
        qgis_processing.run("prospectra:spectralanglemapper",
                            {"INPUT": [scene], "ENDMEMBERS": "Calcite, Hematite, Kaolinite", "OUTPUT":
                             str(tmp_path / "classes.tif"), "OUTPUT_RULE": str(tmp_path / "angles.tif"),
                             "OUTPUT_SUMMARY": str(tmp_path / "summary.csv")}, feedback=recording()(cancel_at=1))
    assert sorted(os.listdir(tmp_path)) == before


def test_without_distributed_the_run_stays_here_and_says_what_to_install(qgis_processing, cluster_setting, tmp_path,
                                                                          monkeypatch):
    set_scheduler, address = cluster_setting
    set_scheduler(address)
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed: importing it fails
    scene = synthetic_scene(str(tmp_path / "scene.tif"))
    feedback = recording()()
    out = str(tmp_path / "ratio.tif")
    qgis_processing.run("prospectra:bandratio", {"INPUT": [scene], "PRESET": 0, "NUMERATOR": "B11",
                                                 "DENOMINATOR": "B12", "OUTPUT": out}, feedback=feedback)
    text = "\n".join(feedback.log)
    assert "python3 -m pip install --user --break-system-packages distributed" in text
    assert "Running on this machine instead." in text and "tiles of" not in text
    assert np.isfinite(raster(out)).any()


def test_random_forest_tagging_and_content_maps_on_the_cluster_equal_local_runs(qgis_processing, cluster_setting,
                                                                                tmp_path):
    """Random Forest classification (a forest trained here on the real Sentinel-2 polygons), tagging (the bundled
    Sentinel-2 tagger, patches overlapping across tile edges) and content prediction (the bundled GF-2 model on a
    SIMULATED scene) through the setting: the same rasters and the same log figures. Tagging with a patch grid,
    which QGIS writes, stays here and says so."""
    pytest.importorskip("sklearn")
    from data.random_forest_reference import POLYGONS, layer_features
    from data.simulated_ree import make_ree_scene
    from prospectra.core.io.image import open_image
    from prospectra.core.learning import random_forest as rf
    from prospectra.core.learning.onnx_model import bundled_models
    from prospectra.core.learning.training_samples import FeatureStack, extract_samples
    from prospectra.core.sensors import sensors

    s2 = os.path.join(os.path.dirname(POLYGONS), "sen2_rstoolbox_12band.tif")
    stack = FeatureStack(open_image(s2, "sentinel2a_msi"))
    forest = rf.train_random_forest(stack, extract_samples(stack, layer_features(POLYGONS, "class", s2)),
                                    str(tmp_path / "forest.onnx"), str(tmp_path / "forest.html"), iterations=2,
                                    max_trees=20, folds=3, seed=7).model_path
    ree = str(tmp_path / "ree.tif")
    make_ree_scene(ree, size=600)
    cases = {"prospectra:classifyrandomforest": ({"INPUT": [synthetic_scene(str(tmp_path / "scene.tif"))],
                                                  "MODEL": forest}, ["OUTPUT", "PROBABILITIES", "CONFIDENCE"],
                                                 "pixels classified"),
             "prospectra:predictcontent": ({"INPUT": [ree], "SENSOR": list(sensors()).index("gf2_pms"),
                                            "MODEL_FILE": bundled_models("regression")["inversion_gf2_pms"]},
                                           ["OUTPUT"], "over"),
             "prospectra:tagminerals": ({"INPUT": [synthetic_scene(str(tmp_path / "scene.tif"))], "OUTPUT_GRID": None},
                                        ["OUTPUT", "OUTPUT_PROBABILITIES"], r"^  .+: \d+ pixels$")}
    set_scheduler, address = cluster_setting
    for alg, (parameters, outputs, figures) in cases.items():
        runs = {}
        for where in ("here", "cluster"):
            set_scheduler(address if where == "cluster" else "")
            feedback = recording()()
            files = {o: str(tmp_path / f"{alg.split(':')[1]}_{where}_{o}.tif") for o in outputs}
            qgis_processing.run(alg, {**parameters, **files}, feedback=feedback)
            runs[where] = files, [line for line in feedback.log if re.search(figures, line)]
        assert any(f"go to {address}" in line for line in feedback.log), alg
        for o in outputs:
            here, there = raster(runs["here"][0][o]), raster(runs["cluster"][0][o])
            assert here.dtype == there.dtype and here.tobytes() == there.tobytes(), (alg, o)
        assert runs["here"][1] and runs["here"][1] == runs["cluster"][1], alg  # counts, mean, SD, range as one run
    feedback = recording()()
    qgis_processing.run("prospectra:tagminerals", {**cases["prospectra:tagminerals"][0], "OUTPUT": str(tmp_path / "t.tif"),
                                                   "OUTPUT_GRID": str(tmp_path / "grid.gpkg")}, feedback=feedback)
    assert not any("go to" in line for line in feedback.log) and any("OUTPUT_GRID" in line for line in feedback.log)
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".")]
