"""End to end through scripts/qgis_process (qgis_process with this checkout's plugin), as a user scripts it."""
import json
import os
import shutil

import numpy as np
import pytest
from osgeo import gdal

from conftest import DATA, ROOT

S2_L2A = os.path.join(DATA, "sen2_rstoolbox_12band.tif")
MODEL = os.path.join(ROOT, "test", "cli", "composite_then_ratio.model3")


@pytest.fixture
def s2(tmp_path):
    return shutil.copy(S2_L2A, tmp_path)


def test_list_shows_the_provider(qgis_process):
    out = qgis_process("list").stdout
    assert "prospectra:bandcomposite" in out and "prospectra:bandratio" in out


def test_help_explains_presets(qgis_process):
    out = qgis_process("help", "prospectra:bandratio").stdout
    assert "Sabins (1999)" in out and "Rakhymberdina et al. (2025)" in out and "BAND_ORDER" in out


def test_ratio_json_run(qgis_process, s2, tmp_path):
    out = str(tmp_path / "ratio.tif")
    proc = qgis_process("--json", "run", "prospectra:bandratio", "--", f"INPUT={s2}", f"OUTPUT={out}")
    result = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert result["results"]["OUTPUT"] == out
    stack = gdal.Open(S2_L2A).ReadAsArray().astype(np.float64)
    assert np.allclose(gdal.Open(out).ReadAsArray(), stack[10] / stack[11], rtol=1e-6)
    assert os.path.exists(str(tmp_path / "ratio.qml"))


def test_composite_of_single_band_files_with_resampling(qgis_process, tmp_path):
    l1c = os.path.join(DATA, "sentinel2_l1c")
    names = ["T33TWM_B08_10m.jp2", "T33TWM_B11_20m.jp2", "T33TWM_B12_20m.jp2", "MTD_MSIL1C.xml"]
    for n in names:
        shutil.copy(os.path.join(l1c, n), tmp_path)
        if n.endswith(".jp2"):
            shutil.copy(os.path.join(l1c, n + ".aux.xml"), tmp_path)
    out = str(tmp_path / "c.tif")
    inputs = [f"INPUT={tmp_path / n}" for n in names[:3]]
    qgis_process("run", "prospectra:bandcomposite", "--", *inputs, "PRESET=0", "BANDS=B8,B11,B12",
                 "RESAMPLING=1", "RESOLUTION=20", f"OUTPUT={out}")
    got = gdal.Open(out).ReadAsArray()
    assert got.shape == (3, 48, 48)
    b11 = gdal.Open(os.path.join(l1c, "T33TWM_B11_20m.jp2")).ReadAsArray()
    assert np.allclose(got[1], (b11 - 1000.0) / 10000.0, atol=1e-6)  # offset from MTD_MSIL1C.xml


def test_bad_input_exits_nonzero_with_the_parameter_named(qgis_process, s2, tmp_path):
    proc = qgis_process("run", "prospectra:bandratio", "--", f"INPUT={s2}", "PRESET=0", "NUMERATOR=B11",
                        "DENOMINATOR=B99", f"OUTPUT={tmp_path / 'r.tif'}", check=False)
    assert proc.returncode != 0
    assert "DENOMINATOR: 'B99' is not a band of Sentinel-2A MSI" in proc.stdout + proc.stderr
    assert not os.path.exists(str(tmp_path / "r.tif"))


def test_model_chains_composite_and_ratio(qgis_process, s2, tmp_path):
    composite, ratio = str(tmp_path / "composite.tif"), str(tmp_path / "ratio.tif")
    qgis_process("run", MODEL, "--", f"scene={s2}", f"composite:composite={composite}",
                 f"ratio:ratio={ratio}")
    stack = gdal.Open(S2_L2A).ReadAsArray().astype(np.float64)
    assert np.allclose(gdal.Open(composite).ReadAsArray(), stack[[10, 3, 11]])  # B11, B4, B12
    assert np.allclose(gdal.Open(ratio).ReadAsArray(), stack[10] / stack[11], rtol=1e-6)


def test_sam_json_run_on_simulated_sentinel2(qgis_process, tmp_path):
    from data.simulated_minerals import MINERALS, make_scene

    scene = str(tmp_path / "scene.tif")
    truth, _ = make_scene(scene, "sentinel2a_msi")
    out = str(tmp_path / "minerals.tif")
    proc = qgis_process("--json", "run", "prospectra:spectralanglemapper", "--", f"INPUT={scene}",
                        "ENDMEMBERS=Calcite,Alunite,Kaolinite,Hematite,Epidote,Muscovite", f"OUTPUT={out}",
                        f"OUTPUT_SUMMARY={tmp_path / 'summary.csv'}")
    result = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert result["results"]["OUTPUT"] == out
    ds = gdal.Open(out)
    classes = ds.ReadAsArray()
    rat = ds.GetRasterBand(1).GetDefaultRAT()
    names = {rat.GetValueAsInt(i, 0): rat.GetValueAsString(i, 1) for i in range(rat.GetRowCount())}
    for k, mineral in enumerate(MINERALS, start=1):  # into the class that holds the mineral (alone or in a group)
        own = next(v for v, n in names.items() if mineral in n.split(" / "))
        assert np.mean(classes[truth == k] == own) >= 0.95, mineral
    assert os.path.exists(str(tmp_path / "minerals.qml"))


def test_model_chains_ratio_library_and_sam(qgis_process, s2, tmp_path):
    outputs = {name: str(tmp_path / f"{name}.{ext}") for name, ext in
               (("ratio", "tif"), ("library", "csv"), ("minerals", "tif"), ("angles", "tif"))}
    qgis_process("run", os.path.join(ROOT, "test", "cli", "ratio_and_sam.model3"), "--", f"scene={s2}",
                 f"ratio:ratio={outputs['ratio']}", f"library:library={outputs['library']}",
                 f"sam:minerals={outputs['minerals']}", f"sam:angles={outputs['angles']}")
    angles = gdal.Open(outputs["angles"]).ReadAsArray()
    classes = gdal.Open(outputs["minerals"]).ReadAsArray()
    assert angles.shape[0] == 14  # the default alteration minerals, through the resampled CSV
    assert np.array_equal(classes, np.where(angles.min(axis=0) <= 0.25, angles.argmin(axis=0) + 1, 0))
    stack = gdal.Open(S2_L2A).ReadAsArray().astype(np.float64)
    assert np.allclose(gdal.Open(outputs["ratio"]).ReadAsArray(), stack[10] / stack[11], rtol=1e-6)


def test_tagging_json_run_with_a_model_file(qgis_process, tmp_path):
    from data.tagging_scene import OLI, scene
    from data.tiny_models import band_mean_model, brute_force_probabilities

    path, cube, valid = scene(tmp_path, 21, 34)
    model = band_mean_model(tmp_path / "mean.onnx", OLI, 8)
    prob = str(tmp_path / "p.tif")
    proc = qgis_process("--json", "run", "prospectra:tagminerals", "--", f"INPUT={path}", "SENSOR=0",
                        f"MODEL_FILE={model}", f"OUTPUT={tmp_path / 't.tif'}", f"OUTPUT_PROBABILITIES={prob}",
                        f"OUTPUT_GRID={tmp_path / 'grid.gpkg'}", "PROBABILITY_UNIT=1")
    result = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert set(result["results"]) >= {"OUTPUT", "OUTPUT_PROBABILITIES", "OUTPUT_GRID"}
    assert np.allclose(gdal.Open(prob).ReadAsArray(), brute_force_probabilities(cube, valid, 8, 4, 7), atol=1e-5)


def test_model_chains_ratio_and_tagging(qgis_process, tmp_path):
    from data.simulated_minerals import make_scene

    scene = str(tmp_path / "landsat.tif")
    make_scene(scene, "landsat8_oli", bands=["B1", "B2", "B3", "B4", "B5", "B6", "B7"])
    ratio, tags, grid = (str(tmp_path / n) for n in ("ratio.tif", "tags.tif", "grid.gpkg"))
    qgis_process("run", os.path.join(ROOT, "test", "cli", "ratio_and_tagging.model3"), "--", f"scene={scene}",
                 f"ratio:ratio={ratio}", f"tagging:tags={tags}", f"tagging:grid={grid}")
    cube = gdal.Open(scene).ReadAsArray().astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.where(cube[6] > 0, cube[5] / cube[6], -9999.0)
    assert np.allclose(gdal.Open(ratio).ReadAsArray(), expected, rtol=1e-5)
    assert gdal.Open(tags).GetMetadataItem("PROSPECTRA_MODEL") == "tagger_landsat_oli"
    assert os.path.getsize(grid) > 0


def test_inversion_json_run_and_model_chaining_kriging_training_prediction(qgis_process, tmp_path):
    from data.simulated_ree import make_ree_scene, write_samples

    scene = str(tmp_path / "gf2.tif")
    content = make_ree_scene(scene)
    samples = str(tmp_path / "samples.gpkg")
    write_samples(samples, content)
    model = str(tmp_path / "re2o3.onnx")
    proc = qgis_process("--json", "run", "prospectra:traininversion", "--", f"INPUT={scene}", "SENSOR=6",
                        f"POINTS={samples}", "FIELD=RE2O3", "MODELS=0", "MAX_SAMPLES=2000",
                        f"OUTPUT_MODEL={model}", f"OUTPUT_REPORT={tmp_path / 'r.html'}")
    result = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert result["results"]["CHOSEN_MODEL"] == "linear" and os.path.exists(model)

    out = {n: str(tmp_path / f"chain_{n}.{e}") for n, e in
           (("kriged", "tif"), ("model", "onnx"), ("report", "html"), ("content", "tif"), ("zones", "gpkg"))}
    qgis_process("run", os.path.join(ROOT, "test", "cli", "krige_train_predict.model3"), "--", f"scene={scene}",
                 f"samples={samples}", "field=RE2O3", f"kriging:kriged={out['kriged']}", f"train:model={out['model']}",
                 f"train:report={out['report']}", f"predict:content={out['content']}", f"predict:zones={out['zones']}")
    kriged, predicted = gdal.Open(out["kriged"]).ReadAsArray(), gdal.Open(out["content"]).ReadAsArray()
    assert kriged.shape == predicted.shape == content.shape
    assert np.corrcoef(predicted.ravel(), content.ravel())[0, 1] > 0.9
    assert np.corrcoef(kriged.ravel(), content.ravel())[0, 1] > 0.8
    assert os.path.getsize(out["zones"]) > 0


def test_sigterm_mid_run_ends_it_as_cancel_does(qgis_process, tmp_path):
    """A job killed with SIGTERM (a scheduler's time limit, a stopped container) takes back what it wrote: the
    earlier outputs stay byte for byte, and no temporary or kept-aside file remains."""
    import hashlib
    import signal
    import subprocess
    import time

    from data.rasters import write_raster

    names = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12"]
    scene = write_raster(tmp_path / "scene.tif", np.random.default_rng(0).uniform(0.05, 0.5, (12, 2048, 2048))
                         .astype(np.float32), crs=32633, descriptions=names)
    out = tmp_path / "out"
    out.mkdir()
    args = ["run", "prospectra:spectralanglemapper", "--", f"INPUT={scene}", "SENSOR=2", "KEEP_APART=1",
            f"OUTPUT={out / 'classes.tif'}", f"OUTPUT_RULE={out / 'angles.tif'}", f"OUTPUT_SUMMARY={out / 'summary.csv'}"]
    qgis_process(*args)

    def digest():
        return {f: hashlib.sha256((out / f).read_bytes()).hexdigest() for f in sorted(os.listdir(out))}

    before = digest()
    proc = subprocess.Popen([qgis_process.command, *args[:-3], "MAX_ANGLE=0.3", *args[-3:]], env=qgis_process.env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.time() + 120
    while not any(".part" in f for f in os.listdir(out)) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be stopped"
    os.killpg(proc.pid, signal.SIGTERM)
    output = proc.communicate(timeout=120)[0]
    assert proc.returncode != 0 and "the run was stopped (SIGTERM)" in output, output
    assert digest() == before


def test_sigkill_while_the_patch_grid_is_written_leaves_the_earlier_grid_whole(qgis_process, tmp_path):
    """SIGKILL gives a run no chance to clean up. The patch grid grows under a hidden name, so the earlier
    GeoPackage stays whole at its path (it was left half-rewritten until the next run in the folder); the next
    run there removes what the killed one left, but not a map the user saved at one of its outputs since."""
    import hashlib
    import signal
    import subprocess
    import time

    from data.rasters import write_raster
    from data.tiny_models import band_mean_model

    bands = ["B1", "B2", "B3", "B4", "B5", "B6", "B7"]
    scene = write_raster(tmp_path / "l8.tif", np.random.default_rng(0).uniform(0.05, 0.5, (7, 1024, 1024))
                         .astype(np.float32), crs=32633, descriptions=bands)
    model = band_mean_model(tmp_path / "mean.onnx", bands, 8)
    out = tmp_path / "out"
    out.mkdir()
    args = ["run", "prospectra:tagminerals", "--", f"INPUT={scene}", "SENSOR=0", f"MODEL_FILE={model}", "STRIDE=4",
            "OUTPUT_PROBABILITIES=", f"OUTPUT={out / 'tags.tif'}", f"OUTPUT_GRID={out / 'grid.gpkg'}"]
    qgis_process(*args)
    earlier = hashlib.sha256((out / "grid.gpkg").read_bytes()).hexdigest()
    proc = subprocess.Popen([qgis_process.command, *args], env=qgis_process.env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while not any(f.endswith(".part.gpkg") for f in os.listdir(out)) and proc.poll() is None \
            and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.5)  # well into writing the grid's cells
    assert proc.poll() is None, "the run ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert hashlib.sha256((out / "grid.gpkg").read_bytes()).hexdigest() == earlier
    assert any(f.endswith(".part.gpkg") for f in os.listdir(out))  # what the killed run left
    # An hour later (its marks' last heartbeat set back), the user saves their own map where the killed run wrote
    earlier_tags = (out / "tags.tif").read_bytes()
    for mark in out.glob(".*.writing"):
        os.utime(mark, ns=(os.stat(mark).st_mtime_ns - 3600 * 10 ** 9,) * 2)
    (out / "tags.tif").unlink()
    (out / "tags.tif").write_bytes(b"the user's own map")
    qgis_process("run", "prospectra:tagminerals", "--", f"INPUT={scene}", "SENSOR=0", f"MODEL_FILE={model}",
                 "OUTPUT_PROBABILITIES=", "OUTPUT_GRID=", f"OUTPUT={out / 'other.tif'}")
    assert hashlib.sha256((out / "grid.gpkg").read_bytes()).hexdigest() == earlier
    assert (out / "tags.tif").read_bytes() == b"the user's own map"  # was replaced by the earlier tags
    assert [f.read_bytes() for f in out.glob("prospectra-kept-*-tags.tif")] == [earlier_tags]
    assert not [f for f in os.listdir(out) if f.startswith(".")]


def test_a_disk_that_fills_while_the_grid_is_closed_fails_the_run(qgis_process, tmp_path):
    """QGIS 3.22-3.40 write a shapefile's last features when the sink is deleted and say nothing if that fails.
    With files capped at 300 KB (a full disk, a quota) the .dbf was cut short and the run succeeded over the
    earlier grid; the grid is now read back before it replaces the earlier one, and the run fails."""
    import hashlib
    import resource
    import signal
    import subprocess

    from data.rasters import write_raster
    from data.tiny_models import band_mean_model

    bands = ["B1", "B2", "B3", "B4", "B5", "B6", "B7"]
    model = band_mean_model(tmp_path / "mean.onnx", bands, 20)
    out = tmp_path / "out"
    out.mkdir()

    def arguments(size):  # a grid of (size / 20)^2 cells
        scene = write_raster(tmp_path / f"l8_{size}.tif", np.full((7, size, size), 0.2, np.float32), crs=32633,
                             descriptions=bands)
        return ["run", "prospectra:tagminerals", "--", f"INPUT={scene}", "SENSOR=0", f"MODEL_FILE={model}",
                "STRIDE=20", "OUTPUT_PROBABILITIES=", f"OUTPUT={out / 'tags.tif'}", f"OUTPUT_GRID={out / 'grid.shp'}"]

    qgis_process(*arguments(200))  # the earlier grid: 100 cells, its files well below the cap
    args = arguments(600)  # 900 cells: a .dbf of about 600 KB

    def digest():
        return {f: hashlib.sha256((out / f).read_bytes()).hexdigest() for f in sorted(os.listdir(out)) if "grid" in f}

    before = digest()

    def cap_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the cap fails (EFBIG) instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))

    proc = subprocess.run([qgis_process.command, *args], env=qgis_process.env, capture_output=True, text=True,
                          timeout=300, preexec_fn=cap_files)
    assert proc.returncode != 0 and "OUTPUT_GRID: the features could not be written" in proc.stdout + proc.stderr, \
        proc.stdout + proc.stderr
    assert digest() == before
    assert not [f for f in os.listdir(out) if f.startswith(".")]


def test_a_raster_the_disk_cannot_take_fails_with_a_message_not_a_traceback(qgis_process, tmp_path):
    """Files capped at 300 KB (a full disk, a quota): GDAL's RuntimeError from the raster writer ended Kriging and
    the Random Forest classifier in a Python traceback; it is now the message every failed write gives, and
    nothing is left."""
    import resource
    import signal
    import subprocess

    from data.rasters import write_raster

    names = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12"]
    scene = write_raster(tmp_path / "scene.tif", np.random.default_rng(0).uniform(0.05, 0.5, (12, 600, 600))
                         .astype(np.float32), crs=32633, descriptions=names)
    out = tmp_path / "out"
    out.mkdir()

    def cap_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))

    proc = subprocess.run([qgis_process.command, "run", "prospectra:bandratio", "--", f"INPUT={scene}",
                           f"OUTPUT={out / 'ratio.tif'}"], env=qgis_process.env, capture_output=True, text=True,
                          timeout=300, preexec_fn=cap_files)
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "could not be written" in log and "No output of this run was kept" in log, log
    assert "Traceback" not in log, log
    assert os.listdir(out) == []
