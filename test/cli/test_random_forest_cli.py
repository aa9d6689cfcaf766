"""Random Forest end to end through scripts/qgis_process --json and a .model3 that trains then classifies.
The class rasters are checked against onnxruntime run directly on every pixel with the written model."""
import json
import os
import pickle
import shutil

import numpy as np
import pytest
from osgeo import gdal

from conftest import ROOT
from data.random_forest_reference import SIM_POINTS, SIM_SCENE, image_pixels

pytest.importorskip("onnxruntime")
MODEL3 = os.path.join(ROOT, "test", "cli", "train_then_classify.model3")


def as_json(proc):
    return json.loads(proc.stdout[proc.stdout.index("{"):])


def onnx_labels(model_path, raster):
    """Labels and probabilities of every valid pixel from onnxruntime on the model file, fed as its metadata
    describes."""
    import onnxruntime as ort

    pixels, valid = image_pixels(raster)
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    x = pixels[valid.ravel()].reshape(-1, pixels.shape[1], 1, 1)
    probabilities, labels = session.run(["probabilities", "label"], {session.get_inputs()[0].name: x})
    return labels, probabilities, valid.ravel()


def assert_same_labels(got, labels, probabilities):
    """Equal, except possibly at exact ties of the vote, where the summation order decides."""
    differ = got != labels
    top = np.sort(probabilities[differ], axis=1)
    assert np.all(top[:, -1] - top[:, -2] < 1e-6) and differ.mean() <= 1e-4


def test_help_explains_and_cites(qgis_process):
    out = qgis_process("help", "prospectra:trainrandomforest").stdout
    for text in ("Breiman", "Roberts D.R. et al. (2017)", "Rakhymberdina", "SEARCH_ITERATIONS", "CLASS_BALANCING"):
        assert text in out


def test_json_train_then_classify(qgis_process, tmp_path):
    scene = shutil.copy(SIM_SCENE, tmp_path)
    model, report = str(tmp_path / "lithology.onnx"), str(tmp_path / "report.html")
    trained = as_json(qgis_process("--json", "run", "prospectra:trainrandomforest", "--", f"INPUT={scene}",
                                   f"TRAINING={SIM_POINTS}", "FIELD=lithology", "SEARCH_ITERATIONS=2",
                                   "MAX_TREES=50", "FOLDS=3", f"MODEL={model}", f"REPORT={report}"))
    results = trained["results"]
    assert results["MODEL"] == model and results["REPORT"] == report and os.path.isfile(results["REPORT_JSON"])
    with open(results["REPORT_JSON"]) as f:
        figures = json.load(f)
    assert results["OVERALL_ACCURACY"] == pytest.approx(figures["accuracy"]["overall_accuracy"])
    assert [c["name"] for c in figures["classes"]] == ["granite", "pegmatite", "shale"]  # text classes keep names
    classes = str(tmp_path / "classes.tif")
    done = as_json(qgis_process("--json", "run", "prospectra:classifyrandomforest", "--", f"INPUT={scene}",
                                f"MODEL={model}", f"OUTPUT={classes}"))
    assert done["results"]["OUTPUT"] == classes
    labels, probabilities, valid = onnx_labels(model, SIM_SCENE)
    got = gdal.Open(classes).ReadAsArray().ravel()
    assert_same_labels(got[valid], labels, probabilities)
    assert np.all(got[~valid] == 0)
    assert os.path.isfile(str(tmp_path / "classes.qml"))


def test_model_trains_then_classifies(qgis_process, tmp_path):
    scene = shutil.copy(SIM_SCENE, tmp_path)
    model, report, classes = (str(tmp_path / n) for n in ("m.onnx", "r.html", "classes.tif"))
    qgis_process("run", MODEL3, "--", f"scene={scene}", f"sites={SIM_POINTS}", "class_field=code", "iterations=2",
                 "max_trees=50", f"train:model={model}", f"train:report={report}", f"classify:classes={classes}")
    assert os.path.isfile(report)
    labels, probabilities, valid = onnx_labels(model, SIM_SCENE)
    assert set(np.unique(labels)) <= {1, 2, 3}  # paper 000's integer codes
    assert_same_labels(gdal.Open(classes).ReadAsArray().ravel()[valid], labels, probabilities)


def test_pickle_offered_as_model_fails_cleanly(qgis_process, tmp_path):
    scene = shutil.copy(SIM_SCENE, tmp_path)
    (tmp_path / "model.pkl").write_bytes(pickle.dumps({"trees": []}))
    proc = qgis_process("run", "prospectra:classifyrandomforest", "--", f"INPUT={scene}",
                        f"MODEL={tmp_path / 'model.pkl'}", f"OUTPUT={tmp_path / 'c.tif'}", check=False)
    assert proc.returncode != 0
    assert "MODEL: 'model.pkl' is a Python pickle" in proc.stdout + proc.stderr
    assert not os.path.exists(str(tmp_path / "c.tif"))
