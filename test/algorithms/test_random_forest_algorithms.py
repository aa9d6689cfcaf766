"""trainrandomforest and classifyrandomforest through processing.run in a real headless QGIS: QGIS reads the
layers and transforms the sites to the image's CRS; the maps must equal scikit-learn's on the same samples."""
import json
import os
import pickle
import shutil
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from osgeo import gdal, ogr, osr

from conftest import cancel_above, warnings_feedback
from data.random_forest_reference import (POLYGONS, S2_L2A, SIM_POINTS, SIM_SCENE, assert_same_labels, class_codes,
                                          image_pixels, point_samples, polygon_samples, sklearn_forest)

pytest.importorskip("sklearn")
pytest.importorskip("onnxruntime")
SEED = 11
FAST = {"SEARCH_ITERATIONS": 2, "MAX_TREES": 50, "FOLDS": 3, "SEED": SEED}


@pytest.fixture(scope="module")
def trained(qgis_processing, tmp_path_factory):
    """The real Sentinel-2 scene and its 25 land-cover polygons (text classes), trained once."""
    folder = tmp_path_factory.mktemp("rf_alg")
    scene = shutil.copy(S2_L2A, folder)
    params = {"INPUT": [scene], "TRAINING": POLYGONS, "FIELD": "class", "MODEL": str(folder / "model.onnx"),
              "REPORT": str(folder / "report.html"), **FAST}
    return folder, scene, qgis_processing.run("prospectra:trainrandomforest", params)


def test_provider_lists_both_with_described_parameters(qgis_processing):
    from qgis.core import QgsApplication, QgsProcessingParameterDefinition

    for alg_id in ("prospectra:trainrandomforest", "prospectra:classifyrandomforest"):
        alg = QgsApplication.processingRegistry().algorithmById(alg_id)
        assert alg is not None and "Breiman" in alg.shortHelpString()
        for p in alg.parameterDefinitions():
            assert p.description(), (alg_id, p.name())
    train = QgsApplication.processingRegistry().algorithmById("prospectra:trainrandomforest")
    for name in ("FOLDS", "BLOCK_SIZE", "SEARCH_ITERATIONS", "MAX_TREES", "SEED", "EXTRA_FEATURES"):
        assert train.parameterDefinition(name).flags() & QgsProcessingParameterDefinition.FlagAdvanced
    assert "Roberts D.R. et al. (2017)" in train.shortHelpString() and "Rakhymberdina" in train.shortHelpString()


def test_train_then_classify_equals_scikit_learn(qgis_processing, trained):
    folder, scene, result = trained
    assert result["MODEL"] == str(folder / "model.onnx") and os.path.isfile(result["MODEL"])
    with open(result["REPORT_JSON"]) as f:
        report = json.load(f)
    assert result["OVERALL_ACCURACY"] == report["accuracy"]["overall_accuracy"]
    assert result["KAPPA"] == report["accuracy"]["kappa"]
    X, labels, _, _ = polygon_samples(S2_L2A, POLYGONS, "class")
    codes = class_codes(labels)
    assert report["samples"]["used"] == len(labels)
    assert [c["name"] for c in report["classes"]] == sorted(codes)
    out = {k: str(folder / f"{k}.tif") for k in ("classes", "probabilities", "confidence")}
    classified = qgis_processing.run("prospectra:classifyrandomforest", {
        "INPUT": [scene], "MODEL": result["MODEL"], "OUTPUT": out["classes"],
        "PROBABILITIES": out["probabilities"], "CONFIDENCE": out["confidence"]})
    assert classified == {"OUTPUT": out["classes"], "PROBABILITIES": out["probabilities"],
                          "CONFIDENCE": out["confidence"]}
    reference = sklearn_forest(report["model"]["hyperparameters"], "balanced", SEED).fit(
        X, [codes[v] for v in labels])
    pixels, valid = image_pixels(S2_L2A)
    assert_same_labels(gdal.Open(out["classes"]).ReadAsArray().ravel(), reference, pixels)
    proba = gdal.Open(out["probabilities"]).ReadAsArray().reshape(len(codes), -1).T
    assert np.allclose(proba, reference.predict_proba(pixels), atol=1e-6)
    renderer = ET.parse(str(folder / "classes.qml")).getroot().find("pipe/rasterrenderer")
    assert renderer.get("type") == "paletted"
    entries = {e.get("value"): e.get("label") for e in renderer.iter("paletteEntry")}
    assert entries == {str(v): n for n, v in codes.items()}
    assert os.path.isfile(str(folder / "confidence.qml"))


def test_points_in_another_crs_with_integer_codes(qgis_processing, tmp_path):
    scene = shutil.copy(SIM_SCENE, tmp_path)
    bands = ["B2", "B3", "B4", "B8", "B11", "B12"]
    result = qgis_processing.run("prospectra:trainrandomforest", {
        "INPUT": [scene], "TRAINING": SIM_POINTS, "FIELD": "code", "VALIDATION": 1, "CLASS_BALANCING": 2,
        "BANDS": "2, 3, 4, 8, 11, 12", "MODEL": str(tmp_path / "m.onnx"), "REPORT": str(tmp_path / "r.html"), **FAST})
    with open(result["REPORT_JSON"]) as f:
        report = json.load(f)
    X, labels, _, _, skipped = point_samples(SIM_SCENE, SIM_POINTS, "code")  # transformed with OSR, not QGIS
    for key in ("no_class", "outside", "on_nodata"):
        assert report["samples"][key] == skipped[key] > 0
    assert report["samples"]["used"] == len(labels)
    assert [c["value"] for c in report["classes"]] == [1, 2, 3]  # paper 000's codes kept
    assert report["validation"]["method"] == "stratified" and report["model"]["class_weight"] == "none"
    assert report["inputs"]["features"] == bands
    columns = [["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12"].index(b) for b in bands]
    qgis_processing.run("prospectra:classifyrandomforest", {"INPUT": [scene], "MODEL": result["MODEL"],
                                                             "OUTPUT": str(tmp_path / "c.tif")})
    reference = sklearn_forest(report["model"]["hyperparameters"], "none", SEED).fit(X[:, columns], labels)
    pixels, valid = image_pixels(SIM_SCENE)
    pixels = pixels[:, columns]
    got = gdal.Open(str(tmp_path / "c.tif")).ReadAsArray().ravel()
    assert_same_labels(got[valid.ravel()], reference, pixels[valid.ravel()])
    assert np.all(got[~valid.ravel()] == 0)


def write_points(path, points, srs_epsg=None, field_type=ogr.OFTInteger, driver="GeoJSON"):
    """points: [(x, y, value)] in the given CRS (GeoJSON: WGS 84)."""
    ds = ogr.GetDriverByName(driver).CreateDataSource(str(path))
    srs = None
    if srs_epsg:
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(srs_epsg)
    layer = ds.CreateLayer("sites", srs=srs, geom_type=ogr.wkbPoint)
    layer.CreateField(ogr.FieldDefn("cls", field_type))
    for x, y, value in points:
        f = ogr.Feature(layer.GetLayerDefn())
        f.SetGeometry(ogr.CreateGeometryFromWkt(f"POINT ({x} {y})"))
        f.SetField("cls", value)
        layer.CreateFeature(f)
    ds = None
    return str(path)


@pytest.fixture
def work(tmp_path_factory):
    """Inputs in their own folder, so run_fails only watches the output folder."""
    folder = tmp_path_factory.mktemp("inputs")
    return folder, shutil.copy(S2_L2A, folder)


def train_params(tmp_path, scene, training, field="cls", **more):
    return {"INPUT": [scene], "TRAINING": training, "FIELD": field, "MODEL": str(tmp_path / "m.onnx"),
            "REPORT": str(tmp_path / "r.html"), **FAST, **more}


def inside_points(n, value):
    ds = gdal.Open(S2_L2A)
    gt = ds.GetGeoTransform()
    return [(gt[0] + (20 + 7 * i) * gt[1], gt[3] + (30 + 5 * i) * gt[5], value(i)) for i in range(n)]


def test_no_training_site_on_the_raster(run_fails, work, tmp_path):
    far = write_points(work[0] / "far.geojson", [(10.0 + i, 45.0, i % 2) for i in range(6)])
    run_fails("prospectra:trainrandomforest", train_params(tmp_path, work[1], far),
              "TRAINING: none of the 6 sites covers a pixel of the image")


def test_a_single_class(run_fails, work, tmp_path):
    one = write_points(work[0] / "one.geojson", inside_points(8, lambda i: 3))
    run_fails("prospectra:trainrandomforest", train_params(tmp_path, work[1], one),
              "FIELD: holds a single class ('3')")


def test_class_field_missing_or_empty(run_fails, work, tmp_path):
    sites = write_points(work[0] / "sites.geojson", inside_points(8, lambda i: i % 2))
    run_fails("prospectra:trainrandomforest", train_params(tmp_path, work[1], sites, field="lithology"),
              "FIELD: 'lithology' is not a field of TRAINING (its fields: cls)")
    empty = write_points(work[0] / "empty.geojson", inside_points(8, lambda i: None))
    run_fails("prospectra:trainrandomforest", train_params(tmp_path, work[1], empty),
              "FIELD: no site has a value in the class field")
    nothing = write_points(work[0] / "nothing.gpkg", [], 4326, driver="GPKG")
    run_fails("prospectra:trainrandomforest", train_params(tmp_path, work[1], nothing),
              "TRAINING: the layer has no features")


def test_a_class_with_one_sample(run_fails, work, tmp_path):
    sites = write_points(work[0] / "lonely.geojson", inside_points(9, lambda i: 2 if i == 4 else 1))
    run_fails("prospectra:trainrandomforest", train_params(tmp_path, work[1], sites),
              "TRAINING: class '2' has only 1 training pixel on the image")


def test_sites_on_one_pixel_or_an_image_of_zeros_teach_nothing(run_fails, work, tmp_path):
    """Both trained and saved a model with kappa 0 before (random folds); now refused naming the input at fault."""
    ds = gdal.Open(S2_L2A)
    gt = ds.GetGeoTransform()
    one_place = write_points(work[0] / "one_place.geojson",
                             [(gt[0] + 20.5 * gt[1], gt[3] + 30.5 * gt[5], i % 2) for i in range(12)])
    run_fails("prospectra:trainrandomforest", train_params(tmp_path, work[1], one_place, VALIDATION=1),
              "TRAINING: the 12 training pixels of 2 classes lie on only 1 distinct pixel(s)")
    zeros = str(work[0] / "zeros.tif")
    gdal.Translate(zeros, S2_L2A, scaleParams=[[0, 1, 0, 0]])
    sites = write_points(work[0] / "sites.geojson", inside_points(12, lambda i: i % 2))
    run_fails("prospectra:trainrandomforest", train_params(tmp_path, zeros, sites, VALIDATION=1),
              "INPUT: every feature (B1, ", "has the same value at all 12 training pixels")


def test_fewer_training_pixels_per_class_than_folds(run_fails, work, tmp_path):
    """Two sites per class and 3 folds: scikit-learn's traceback before, a sentence naming FOLDS now."""
    sites = write_points(work[0] / "few.geojson", inside_points(6, lambda i: i % 3))
    run_fails("prospectra:trainrandomforest", train_params(tmp_path, work[1], sites),
              "FOLDS: no class has as many training pixels as the 3 folds (at most 2); lower FOLDS to 2")


def test_a_date_class_field_names_classes_by_their_dates(qgis_processing, work, tmp_path):
    """A Date field's classes are its ISO dates (they were 'PyQt5.QtCore.QDate(2020, 1, 1)' in the model, the log
    and the map's legend)."""
    from prospectra.core.learning.onnx_model import read_metadata

    sites = write_points(work[0] / "dated.gpkg", inside_points(12, lambda i: f"2020-0{1 + i % 2}-01"),
                         srs_epsg=int(gdal.Open(work[1]).GetSpatialRef().GetAuthorityCode(None)),
                         field_type=ogr.OFTDate, driver="GPKG")
    params = train_params(tmp_path, work[1], sites, VALIDATION=1, FOLDS=2)
    qgis_processing.run("prospectra:trainrandomforest", params)
    assert json.loads(read_metadata(params["MODEL"])["classes"]) == ["2020-01-01", "2020-02-01"]


def test_layer_without_crs(run_fails, work, tmp_path):
    shp = write_points(work[0] / "nocrs.shp", inside_points(8, lambda i: i % 2), driver="ESRI Shapefile")
    run_fails("prospectra:trainrandomforest", train_params(tmp_path, work[1], shp),
              "TRAINING: the layer has no coordinate reference system")


def test_model_from_another_sensor_or_band_set(run_fails, trained, work, tmp_path):
    tm = sorted(os.path.join(os.path.dirname(S2_L2A), "landsat5_tm", f) for f in
                os.listdir(os.path.join(os.path.dirname(S2_L2A), "landsat5_tm")) if f.endswith(".TIF"))
    from prospectra.core.sensors import sensors

    model = trained[2]["MODEL"]
    run_fails("prospectra:classifyrandomforest",
              {"INPUT": tm, "SENSOR": list(sensors()).index("landsat5_tm"), "SCALING": 1, "MODEL": model,
               "OUTPUT": str(tmp_path / "c.tif")},
              "MODEL: 'model.onnx' was trained on Sentinel-2A MSI bands B1, B2", "but the image is Landsat-4/5 TM")
    ten = str(work[0] / "ten_bands.tif")
    gdal.Translate(ten, trained[1], bandList=list(range(2, 12)))  # B2 .. B11, descriptions kept; closed at once
    run_fails("prospectra:classifyrandomforest", {"INPUT": [ten], "MODEL": model, "OUTPUT": str(tmp_path / "c.tif")},
              "MODEL: 'model.onnx' needs bands B1, B2", "missing B1, B12")


def test_corrupted_and_pickled_models(run_fails, trained, tmp_path_factory, tmp_path):
    folder = tmp_path_factory.mktemp("models")
    (folder / "forest.pkl").write_bytes(pickle.dumps({"trees": []}))
    (folder / "cut.onnx").write_bytes(open(trained[2]["MODEL"], "rb").read()[:300])
    scene = trained[1]
    run_fails("prospectra:classifyrandomforest",
              {"INPUT": [scene], "MODEL": str(folder / "forest.pkl"), "OUTPUT": str(tmp_path / "c.tif")},
              "MODEL: 'forest.pkl' is a Python pickle", "never opens pickles")
    run_fails("prospectra:classifyrandomforest",
              {"INPUT": [scene], "MODEL": str(folder / "cut.onnx"), "OUTPUT": str(tmp_path / "c.tif")},
              "MODEL: 'cut.onnx' is not a readable ONNX model")


@pytest.mark.parametrize("name", ["models.onnx", "models"])
def test_a_folder_given_as_the_model(run_fails, trained, tmp_path, name):
    """Was 'does not exist' (a folder named like a model) or QGIS's 'Incorrect parameter value for MODEL'."""
    folder = tmp_path / name
    folder.mkdir()
    run_fails("prospectra:classifyrandomforest",
              {"INPUT": [trained[1]], "MODEL": str(folder), "OUTPUT": str(tmp_path / "c.tif")},
              f"MODEL: '{folder}' is a folder, not a model file")


def test_missing_package_names_the_pip_command(run_fails, trained, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if it were not installed
    run_fails("prospectra:classifyrandomforest",
              {"INPUT": [trained[1]], "MODEL": trained[2]["MODEL"], "OUTPUT": str(tmp_path / "c.tif")},
              "needs the Python package onnxruntime", "pip install --user --break-system-packages onnxruntime numpy==",
              "OSGeo4W Shell", "QGIS.app")
    monkeypatch.setitem(sys.modules, "onnx", None)
    run_fails("prospectra:trainrandomforest", train_params(tmp_path, trained[1], POLYGONS, field="class"),
              "onnx, onnxruntime", "python3 -m pip install --user --break-system-packages onnx onnxruntime")


def test_cancel_midway_leaves_no_output(qgis_processing, trained, tmp_path, monkeypatch):
    from qgis.core import QgsProcessingException

    import prospectra.core.io.blocks as blocks
    import prospectra.core.learning.random_forest as rf

    monkeypatch.setattr(blocks, "TILE", 64)
    monkeypatch.setattr(rf, "BLOCK_PIXELS", 64 * 64)  # 16 windows on the small scene

    with pytest.raises(QgsProcessingException, match="Canceled"):
        qgis_processing.run("prospectra:classifyrandomforest",
                            {"INPUT": [trained[1]], "MODEL": trained[2]["MODEL"], "OUTPUT": str(tmp_path / "c.tif"),
                             "PROBABILITIES": str(tmp_path / "p.tif")}, feedback=cancel_above(0))
    assert os.listdir(tmp_path) == []


def test_sub_pixel_polygons_are_skipped_with_a_warning(qgis_processing, work, tmp_path):
    """Polygons smaller than a pixel hold no pixel centre: the run says how many it skipped."""
    from qgis.core import QgsProcessingFeedback

    class Log(QgsProcessingFeedback):
        errors = []

        def pushWarning(self, error):  # noqa: N802
            self.errors.append(error)

    ds = gdal.Open(S2_L2A)
    gt = ds.GetGeoTransform()
    path = str(work[0] / "sites.geojson")
    out = ogr.GetDriverByName("GeoJSON").CreateDataSource(path)
    layer = out.CreateLayer("sites", geom_type=ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("cls", ogr.OFTInteger))
    for i, (x, y, value) in enumerate(inside_points(16, lambda i: i % 2)):
        # even sites: a square a tenth of a pixel wide off the pixel centre; odd ones: three pixels wide
        size, shift = (gt[1] / 10, gt[1] / 4) if i % 4 == 0 else (3 * gt[1], 0)
        x0, y0 = x - gt[1] / 2 + shift, y
        ring = f"{x0} {y0}, {x0 + size} {y0}, {x0 + size} {y0 - size}, {x0} {y0 - size}, {x0} {y0}"
        f = ogr.Feature(layer.GetLayerDefn())
        f.SetGeometry(ogr.CreateGeometryFromWkt(f"POLYGON (({ring}))"))
        f.SetField("cls", value)
        layer.CreateFeature(f)
    out = None
    qgis_processing.run("prospectra:trainrandomforest", train_params(tmp_path, work[1], path), feedback=Log())
    assert any("4 of 16 training polygons are too small to contain a pixel centre" in e for e in Log.errors)


def test_a_class_code_no_class_raster_holds(run_fails, work, tmp_path):
    """An Integer64 code beyond int32 would be written as another value: refused at training."""
    folder, scene = work
    points = inside_points(30, lambda i: [1, 2 ** 40, 3][i % 3])
    training = write_points(folder / "wide.gpkg", points, 4326, ogr.OFTInteger64, "GPKG")
    run_fails("prospectra:trainrandomforest", train_params(tmp_path, scene, training),
              "FIELD: holds the class code 1099511627776, beyond what a class raster holds")


def test_bands_listed_twice_as_features(run_fails, work, tmp_path):
    folder, scene = work
    training = write_points(folder / "ok.geojson", inside_points(30, lambda i: i % 3 + 1))
    run_fails("prospectra:trainrandomforest", train_params(tmp_path, scene, training, BANDS="B2, B2, B3"),
              "BANDS: B2 is listed more than once")


def test_one_pixel_taught_as_two_classes_is_noted(qgis_processing, work, tmp_path):
    folder, scene = work
    points = inside_points(30, lambda i: i % 3 + 1)
    points += [(x, y, 3 if value != 3 else 1) for x, y, value in points[:2]]  # the same two pixels, other classes
    training = write_points(folder / "contested.geojson", points)
    qgis_processing.run("prospectra:trainrandomforest", train_params(tmp_path, scene, training, VALIDATION=1))
    with open(tmp_path / "r.json") as f:
        notes = json.load(f)["notes"]
    assert any(n.startswith("2 pixels are training sites of two or more classes") for n in notes), notes


@pytest.mark.parametrize("key, value, expected", [
    ("class_values", [1, 1, 3, 4], "class values and names must be unique"),
    ("class_values", [1, 2, 3, 300], "the file was altered"),
    ("class_values", [-2 ** 31, 2, 3, 4], "the values fit a class raster"),  # int32's smallest is the nodata
    ("extra_features", ["extra 1", "extra 2"], "bands, extra features and feature names, disagree"),
])
def test_a_model_whose_metadata_was_edited(run_fails, trained, tmp_path, key, value, expected):
    """A model's metadata edited by hand no longer matches the trees: refused, not mapped with wrong legends."""
    import onnx

    folder, scene, _ = trained
    model = onnx.load(str(folder / "model.onnx"))
    entry = next(p for p in model.metadata_props if p.key == key)
    entry.value = json.dumps(value)
    edited = str(folder / f"edited_{key}.onnx")
    onnx.save(model, edited)
    run_fails("prospectra:classifyrandomforest", {"INPUT": [scene], "MODEL": edited}, "MODEL", expected)


def test_reflectance_x_10000_is_refused_as_the_models_input(run_fails, trained, tmp_path):
    """The forest learnt from reflectance: the same scene as reflectance x 10000 read 'as stored' was mapped as one
    class without a word; it is refused naming SCALING, as predictcontent and tagminerals refuse it."""
    ds = gdal.Open(trained[1])
    dn = str(tmp_path / "dn.tif")
    gdal.Translate(dn, ds, outputType=gdal.GDT_UInt16, scaleParams=[[0, 1, 0, 10000]] * ds.RasterCount)
    ds = None
    run_fails("prospectra:classifyrandomforest", {"INPUT": [dn], "SCALING": 1, "MODEL": trained[2]["MODEL"],
                                                  "OUTPUT": str(tmp_path / "c.tif")},
              "SCALING: the image's median values", "are not surface reflectance")


def test_a_block_size_beside_random_folds_is_said_to_be_ignored(qgis_processing, work, tmp_path):
    """BLOCK_SIZE sizes the spatial blocks; beside stratified random folds it was dropped without a word."""
    sites = write_points(work[0] / "sites.geojson", inside_points(12, lambda i: i % 2))
    feedback = warnings_feedback()
    qgis_processing.run("prospectra:trainrandomforest", train_params(tmp_path, work[1], sites, VALIDATION=1, FOLDS=2,
                                                                     BLOCK_SIZE=8), feedback=feedback)
    assert any(w.startswith("BLOCK_SIZE is used only with spatially blocked folds, and ignored: Stratified random")
               for w in feedback.warnings), feedback.warnings


def test_a_scene_of_one_value_classified_is_said_to_carry_no_signal(qgis_processing, trained, tmp_path):
    """A flat scene gave a one-class map without a word."""
    flat = gdal.Translate(str(tmp_path / "flat.tif"), trained[1])
    for i in range(flat.RasterCount):
        flat.GetRasterBand(i + 1).Fill(0.2)
    flat = None
    feedback = warnings_feedback()
    qgis_processing.run("prospectra:classifyrandomforest", {"INPUT": [str(tmp_path / "flat.tif")],
                                                            "MODEL": str(trained[0] / "model.onnx"),
                                                            "OUTPUT": str(tmp_path / "c.tif")}, feedback=feedback)
    assert any(w.startswith("INPUT holds one value in every valid pixel of every band read (B1 0.2, B2 0.2, ")
               for w in feedback.warnings), feedback.warnings
