"""traininversion and predictcontent through processing.run on the simulated GF-2 scene with known content."""
import json

import numpy as np
import pytest
from osgeo import gdal, ogr

from data.simulated_ree import make_ree_scene, write_samples
from test_band_algorithms import SENSORS

GF2 = SENSORS.index("gf2_pms")


@pytest.fixture(scope="module")
def ree(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ree")
    scene = str(folder / "gf2.tif")
    content = make_ree_scene(scene)
    samples = str(folder / "samples.gpkg")
    write_samples(samples, content)
    return scene, samples, content


@pytest.fixture(scope="module")
def trained(qgis_processing, ree, tmp_path_factory):
    scene, samples, _ = ree
    folder = tmp_path_factory.mktemp("trained")
    model, report = str(folder / "re2o3.onnx"), str(folder / "report.html")
    result = qgis_processing.run("prospectra:traininversion", {
        "INPUT": [scene], "SENSOR": GF2, "POINTS": samples, "FIELD": "RE2O3", "MODELS": [0, 1, 3],
        "MAX_SAMPLES": 4000, "OUTPUT_MODEL": model, "OUTPUT_REPORT": report})
    return result, model, report


def test_surface_to_surface_training_reaches_the_papers_bar(trained):
    result, model, report = trained
    with open(report.replace(".html", ".json")) as f:
        summary = json.load(f)
    chosen = next(m for m in summary["models"] if m["key"] == summary["chosen"])
    assert result["CHOSEN_MODEL"] == summary["chosen"]
    # held out: whole spatial blocks of samples, each judged by its own pixel against its measured content
    assert chosen["test"]["r2"] >= 0.9 and chosen["test"]["rpd"] >= 3
    sample_set = summary["sample_set"]
    assert sample_set["method"].startswith("surface-to-surface")
    assert sample_set["samples"] + sample_set["held_out_samples"] == 374
    assert chosen["test"]["n"] == sample_set["held_out_samples"]
    # RPD by its definition, from the figures the report gives
    assert {m["key"] for m in summary["models"]} == {"linear", "pls", "mlp"}
    from prospectra.core.learning.onnx_model import load_model

    loaded = load_model(model)
    assert loaded.task == "regression" and loaded.bands == ["B1", "B2", "B3", "B4"] and loaded.meta["unit"] == "%"


def test_content_map_and_anomaly_zones(qgis_processing, ree, trained, tmp_path):
    scene, _, content = ree
    _, model, _ = trained
    from conftest import warnings_feedback

    out, zones = str(tmp_path / "content.tif"), str(tmp_path / "zones.gpkg")
    feedback = warnings_feedback()  # MODEL and THRESHOLD were ignored without a word
    qgis_processing.run("prospectra:predictcontent", {
        "INPUT": [scene], "SENSOR": GF2, "MODEL": 1, "MODEL_FILE": model, "ANOMALY": 2, "K_SD": 1.5, "THRESHOLD": 3,
        "OUTPUT": out, "OUTPUT_ZONES": zones}, feedback=feedback)
    assert any(w.startswith("MODEL is ignored") for w in feedback.warnings), feedback.warnings
    assert any(w.startswith("THRESHOLD is used only with") for w in feedback.warnings), feedback.warnings
    predicted = gdal.Open(out).ReadAsArray()
    residual = predicted - content
    r2 = 1 - np.sum(residual ** 2) / np.sum((content - content.mean()) ** 2)
    assert r2 >= 0.9  # against the true content of every pixel of the simulated scene
    source = ogr.Open(zones)
    layer = source.GetLayer(0)
    features = list(layer)
    assert [f.GetField("zone") for f in features][:2] == ["I", "II"]
    # the two simulated anomaly zones are centred at (0.3, 0.35) and (0.7, 0.65) of the scene
    gt = gdal.Open(scene).GetGeoTransform()
    centres = sorted((round((f.GetGeometryRef().Centroid().GetY() - gt[3]) / gt[5] / 240, 1),
                      round((f.GetGeometryRef().Centroid().GetX() - gt[0]) / gt[1] / 240, 1))
                     for f in features if f.GetField("pixels") > 50)
    assert centres[0] == pytest.approx((0.3, 0.35), abs=0.1) and centres[-1] == pytest.approx((0.7, 0.65), abs=0.1)
    zone_i = features[0]
    assert zone_i.GetField("mean") >= zone_i.GetField("threshold")


def test_inversion_bad_inputs(run_fails, ree, trained, tmp_path):
    scene, samples, content = ree
    base = {"INPUT": [scene], "SENSOR": GF2, "POINTS": samples, "OUTPUT_MODEL": str(tmp_path / "m.onnx"),
            "OUTPUT_REPORT": str(tmp_path / "r.html"), "MODELS": [0]}
    few = str(tmp_path / "few.gpkg")
    write_samples(few, content, n=8)
    run_fails("prospectra:traininversion", dict(base, POINTS=few, FIELD="RE2O3"), "8 sample points", "at least 10")
    run_fails("prospectra:traininversion", dict(base, FIELD="sample"), "FIELD", "not numbers")
    point_to_pixel = dict(base, FIELD="RE2O3", SAMPLE_SET=1)
    run_fails("prospectra:traininversion", dict(point_to_pixel, BLOCK_SIZE=100000),
              "BLOCK_SIZE: all 374 samples fall in one spatial block")
    eleven = str(tmp_path / "eleven.gpkg")
    write_samples(eleven, content, n=11)
    run_fails("prospectra:traininversion", dict(point_to_pixel, POINTS=eleven),
              "POINTS: 11 samples with a value lie on the image; at least 12")
    run_fails("prospectra:traininversion", dict(point_to_pixel, SEED=-1), "SEED: -1 is out of range")
    # every sample at one place, and a PLS model (it stopped in LAPACK before): one pixel, nothing to learn
    one_place = str(tmp_path / "one_place.gpkg")
    src = ogr.Open(samples)
    dst = ogr.GetDriverByName("GPKG").CopyDataSource(src, one_place)
    layer = dst.GetLayer(0)
    feature = layer.GetNextFeature()  # held while its geometry is cloned
    first = feature.GetGeometryRef().Clone()
    layer.ResetReading()
    for feature in layer:
        feature.SetGeometry(first)
        layer.SetFeature(feature)
    dst = src = None
    run_fails("prospectra:traininversion", dict(point_to_pixel, POINTS=one_place, MODELS=[1]),
              "POINTS: the ", "lie on only 1 pixel(s)")
    # an image of fill values that it does not declare (-9999 everywhere): nodata, nothing to learn from
    fill = str(tmp_path / "fill.tif")
    gdal.Translate(fill, scene, noData="none", scaleParams=[[0, 1, -9999, -9999]], outputType=gdal.GDT_Float32)
    for sample_set in (0, 1):
        run_fails("prospectra:traininversion", dict(base, INPUT=[fill], FIELD="RE2O3", SAMPLE_SET=sample_set),
                  "INPUT: ", "nodata", "a fill value below any reflectance such as -9999")
    _, model, _ = trained
    landsat = dict(INPUT=[scene], SENSOR=SENSORS.index("landsat8_oli"), BAND_ORDER="B1,B2,B3,B4", MODEL_FILE=model,
                   OUTPUT=str(tmp_path / "c.tif"))
    run_fails("prospectra:predictcontent", landsat, "MODEL_FILE", "trained for gf2_pms but SENSOR is Landsat-8 OLI")
    from data.tiny_models import band_mean_model

    bare = band_mean_model(tmp_path / "bare.onnx", ["B1", "B2", "B3", "B4"], 1, metadata=False)
    run_fails("prospectra:predictcontent", {"INPUT": [scene], "SENSOR": GF2, "MODEL_FILE": bare,
                                            "OUTPUT": str(tmp_path / "c.tif")},
              "MODEL_FILE: 'bare.onnx' lacks Prospectra metadata", "written by 'Train content inversion model'")


def test_reflectance_x_10000_and_a_flat_map(run_fails, qgis_processing, trained, tmp_path):
    """A float raster of reflectance x 10000 is not what the model learnt on: refused, naming SCALING. A map without
    variation has no anomaly above mean + k SD: no zone (it outlined the whole image)."""
    from data.rasters import write_raster

    _, model, _ = trained
    scaled = write_raster(tmp_path / "x10000.tif", np.full((4, 40, 40), 1200.0, np.float32), crs=32649)
    run_fails("prospectra:predictcontent", {"INPUT": [scaled], "SENSOR": GF2, "MODEL_FILE": model,
                                            "OUTPUT": str(tmp_path / "c.tif")},
              "SCALING: the image's median values (B1 1200", "are not surface reflectance")
    zeros = np.zeros((4, 40, 40), np.float32)  # a scene mostly 0, its nodata, undeclared
    zeros[:, :8, :8] = 0.2
    zeros = write_raster(tmp_path / "zeros.tif", zeros, crs=32649)
    run_fails("prospectra:predictcontent", {"INPUT": [zeros], "SENSOR": GF2, "MODEL_FILE": model,
                                            "OUTPUT": str(tmp_path / "c.tif")},
              "INPUT_NODATA: the image is 0 in most valid pixels of its centre in every band", "set INPUT_NODATA to 0")
    flat = write_raster(tmp_path / "flat.tif", np.full((4, 40, 40), 0.1, np.float32), crs=32649)
    result = qgis_processing.run("prospectra:predictcontent", {
        "INPUT": [flat], "SENSOR": GF2, "MODEL_FILE": model, "OUTPUT": str(tmp_path / "flat_c.tif"), "ANOMALY": 2,
        "OUTPUT_ZONES": str(tmp_path / "zones.gpkg")})
    content = gdal.Open(result["OUTPUT"]).ReadAsArray()
    assert content.min() == content.max()
    zones = ogr.Open(str(tmp_path / "zones.gpkg"))
    assert zones.GetLayer(0).GetFeatureCount() == 0


def test_pixels_beyond_the_training_contents_are_counted(qgis_process, ree, tmp_path):
    """The bundled model learnt from RE2O3 within the range its metadata gives; the log counts the pixels of the
    content map beyond it, as numpy counts them in the written map. A model that answers 3e38 for every pixel
    (finite, so written) is flagged on every pixel."""
    import onnx

    from data.tiny_models import constant_model
    from prospectra.core.learning.onnx_model import bundled_models
    from test_hostile_inputs import model_meta

    scene = ree[0]
    out = str(tmp_path / "content.tif")
    log = qgis_process("run", "prospectra:predictcontent", "--", f"INPUT={scene}", f"SENSOR={GF2}", f"OUTPUT={out}")
    bundled = onnx.load(bundled_models("regression")["inversion_gf2_pms"])
    low, high = json.loads(next(p.value for p in bundled.metadata_props if p.key == "target_range"))
    content = gdal.Open(out).ReadAsArray()
    content = content[content != -9999]
    below, above = int((content < low).sum()), int((content > high).sum())
    assert below + above > 0  # the simulated scene is richer than the samples the model learnt from
    assert (f"{below + above} pixels ({(below + above) / content.size:.1%}) are predicted beyond that range "
            f"({below} below, {above} above)") in log.stdout + log.stderr
    bands = ["B1", "B2", "B3", "B4"]
    wild = constant_model(tmp_path / "wild.onnx", [3e38], bands, 1,
                          model_meta("regression", "gf2_pms", bands, 1, target="RE2O3", unit="%", target_range=[0, 10]))
    log = qgis_process("run", "prospectra:predictcontent", "--", f"INPUT={scene}", f"SENSOR={GF2}",
                       f"MODEL_FILE={wild}", f"OUTPUT={tmp_path / 'wild.tif'}")
    assert f"{content.size} pixels (100.0%) are predicted beyond that range (0 below, {content.size} above)" in \
        log.stdout + log.stderr


def test_a_cancelled_training_keeps_the_earlier_model_and_report(qgis_processing, ree, tmp_path):
    """Cancelled while it krigs the training samples or fits: the earlier model and report stay byte for byte, and
    nothing else is left in the folder."""
    from qgis.core import QgsProcessingException

    from conftest import cancel_above

    scene, samples, _ = ree
    model, report = tmp_path / "m.onnx", tmp_path / "r.html"
    model.write_bytes(b"the user's earlier model")
    report.write_text("the user's earlier report")
    with pytest.raises(QgsProcessingException, match="anceled"):
        qgis_processing.run("prospectra:traininversion", {
            "INPUT": [scene], "SENSOR": GF2, "POINTS": samples, "FIELD": "RE2O3", "MODELS": [0],
            "OUTPUT_MODEL": str(model), "OUTPUT_REPORT": str(report)}, feedback=cancel_above(5))
    assert model.read_bytes() == b"the user's earlier model" and report.read_text() == "the user's earlier report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "r.html"]


def test_a_model_worse_than_the_mean_on_held_out_samples_is_written_with_a_warning(qgis_processing, ree, tmp_path):
    """Contents shuffled among the samples: the spectra carry none of them. The chosen model scores below the mean
    on the held-out samples, and the log and report say so (it was written without a word)."""
    from conftest import warnings_feedback

    scene, samples, _ = ree
    shuffled = str(tmp_path / "shuffled.gpkg")
    gdal.VectorTranslate(shuffled, samples)
    ds = ogr.Open(shuffled, 1)
    layer = ds.GetLayer(0)
    values = np.random.default_rng(0).permutation([f["RE2O3"] for f in layer])
    layer.ResetReading()
    for feature, value in zip(list(layer), values):
        feature["RE2O3"] = float(value)
        layer.SetFeature(feature)
    ds = None
    feedback = warnings_feedback()
    report = str(tmp_path / "r.html")
    qgis_processing.run("prospectra:traininversion", {
        "INPUT": [scene], "SENSOR": GF2, "POINTS": shuffled, "FIELD": "RE2O3", "MODELS": [0],
        "MAX_SAMPLES": 2000, "OUTPUT_MODEL": str(tmp_path / "m.onnx"), "OUTPUT_REPORT": report}, feedback=feedback)
    with open(report.replace(".html", ".json")) as f:
        summary = json.load(f)
    r2 = summary["models"][0]["test"]["r2"]
    assert r2 < 0
    assert any("worse than their mean" in n for n in summary["notes"])
    assert any("worse than their mean" in line for line in feedback.warnings), feedback.warnings


def test_zones_asked_for_without_anomaly_zones_are_said_not_to_be_written(qgis_processing, tmp_path):
    """OUTPUT_ZONES named as a file beside ANOMALY 'No anomaly zones' wrote nothing without a word. Left unset or
    a temporary layer (the dialog's default, not told apart from one chosen) it is no request: no warning."""
    from conftest import warnings_feedback
    from data.rasters import write_raster

    scene = write_raster(tmp_path / "gf2.tif", np.random.default_rng(3).random((4, 20, 20), np.float32) * 0.3,
                         crs=32649)
    said = {}
    for zones in (str(tmp_path / "zones.gpkg"), "TEMPORARY_OUTPUT", None):
        feedback = warnings_feedback()
        qgis_processing.run("prospectra:predictcontent", {"INPUT": [scene], "SENSOR": GF2, "OUTPUT_ZONES": zones,
                                                          "OUTPUT": str(tmp_path / "c.tif")}, feedback=feedback)
        said[zones] = [w for w in feedback.warnings if w.startswith("OUTPUT_ZONES")]
    assert said == {str(tmp_path / "zones.gpkg"): ["OUTPUT_ZONES is written only with anomaly zones (ANOMALY), and is "
                                                   "not written: No anomaly zones."],
                    "TEMPORARY_OUTPUT": [], None: []}
    assert not (tmp_path / "zones.gpkg").exists()
