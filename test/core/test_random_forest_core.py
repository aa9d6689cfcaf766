"""Random Forest engine against independent references: GDAL's own rasterisation for the training pixels,
scikit-learn called directly (same samples, same seed) for the search, the cross-validated figures and the
predictions, and the known truth of the simulated lithology scene."""
import json
import os
import pickle
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from osgeo import gdal

from data.random_forest_reference import (POLYGONS, S2_L2A, SIM_POINTS, SIM_SCENE, SIM_TRUTH, assert_same_labels,
                                          class_codes, image_pixels, layer_features, point_samples,
                                          polygon_samples, sklearn_forest)
from prospectra.core.learning import random_forest as rf
from prospectra.core.errors import Canceled, InputError, MissingPackage, NullFeedback
from prospectra.core.io.image import open_image
from prospectra.core.learning.training_samples import FeatureStack, classes_from_labels, extract_samples

pytest.importorskip("sklearn")
pytest.importorskip("onnxruntime")
SEED = 7
FAST = dict(iterations=3, max_trees=50, folds=3, seed=SEED)  # a small search keeps the suite quick


def train(tmp, raster, vector, field, **options):
    image = open_image(raster, "sentinel2a_msi")
    stack = FeatureStack(image)
    samples = extract_samples(stack, layer_features(vector, field, raster))
    result = rf.train_random_forest(stack, samples, str(tmp / "model.onnx"), str(tmp / "report.html"),
                                    **{**FAST, **options})
    model = rf.load_model(result.model_path)
    out = {k: str(tmp / f"{k}.tif") for k in ("classes", "probabilities", "confidence")}
    counts = rf.classify_random_forest(model.feature_stack(image), model, out["classes"], out["probabilities"],
                                       out["confidence"], NullFeedback())
    return SimpleNamespace(image=image, stack=stack, samples=samples, result=result, model=model, out=out,
                           counts=counts)


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    return train(tmp_path_factory.mktemp("rf_real"), S2_L2A, POLYGONS, "class")


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    return train(tmp_path_factory.mktemp("rf_sim"), SIM_SCENE, SIM_POINTS, "code")


def test_polygon_samples_are_gdals_pixel_centres(real):
    X, labels, rows, cols = polygon_samples(S2_L2A, POLYGONS, "class")
    s = real.samples
    assert s.counts["pixels_in_several_features"] == 0  # so one whole-layer rasterisation is a fair reference
    assert np.array_equal(s.rows, rows) and np.array_equal(s.cols, cols)
    assert np.array_equal(s.X, X)
    codes = class_codes(labels)
    assert np.array_equal(s.y, [codes[v] for v in labels])
    assert s.classes.names == sorted(codes) and s.classes.values == [codes[n] for n in sorted(codes)]


def test_points_take_their_pixel_and_skipped_ones_are_counted(simulated):
    X, labels, rows, cols, skipped = point_samples(SIM_SCENE, SIM_POINTS, "code")
    s = simulated.samples
    assert np.array_equal(s.rows, rows) and np.array_equal(s.cols, cols) and np.array_equal(s.X, X)
    assert np.array_equal(s.y, labels) and s.classes.values == sorted(set(labels))  # integer codes kept
    assert (s.counts["no_class"], s.counts["outside"], s.counts["on_nodata"]) == \
        (skipped["no_class"], skipped["outside"], skipped["on_nodata"])
    assert s.counts["pixels_nodata"] == skipped["on_nodata"] and min(skipped.values()) > 0


def test_spatial_folds_never_split_a_polygon_and_stratified_folds_do(real):
    folds = real.result.folds
    assert folds.validation == "spatial" and len(folds.splits) == FAST["folds"]
    feature = real.samples.feature
    for train_rows, test_rows in folds.splits:
        assert len(test_rows) and not set(feature[train_rows]) & set(feature[test_rows])
        assert not set(folds.groups[train_rows]) & set(folds.groups[test_rows])
    random_folds = rf.cross_validation_folds(real.samples, "stratified", 3, SEED)
    assert any(set(feature[tr]) & set(feature[te]) for tr, te in random_folds.splits)
    assert any("optimistic" in n for n in random_folds.warnings)


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")  # a spatial test fold may miss a class
def test_search_and_assessment_equal_scikit_learn_run_directly(real):
    from sklearn.metrics import accuracy_score, cohen_kappa_score, confusion_matrix
    from sklearn.model_selection import RandomizedSearchCV, cross_val_predict

    X, labels, _, _ = polygon_samples(S2_L2A, POLYGONS, "class")
    codes = class_codes(labels)
    y = np.array([codes[v] for v in labels])
    splits = real.result.folds.splits
    search = RandomizedSearchCV(sklearn_forest({}, "balanced", SEED), rf.search_space(FAST["max_trees"]),
                                n_iter=FAST["iterations"], scoring="balanced_accuracy", cv=splits,
                                random_state=SEED).fit(X, y)
    assert real.result.params == search.best_params_
    predicted = cross_val_predict(sklearn_forest(search.best_params_, "balanced", SEED), X, y, cv=splits)
    with open(real.result.json_path) as f:
        report = json.load(f)
    acc = report["accuracy"]
    assert acc["confusion_matrix"]["counts"] == confusion_matrix(y, predicted, labels=sorted(codes.values())).tolist()
    assert acc["overall_accuracy"] == pytest.approx(accuracy_score(y, predicted), abs=1e-12)
    assert acc["kappa"] == pytest.approx(cohen_kappa_score(y, predicted), abs=1e-12)
    assert report["model"]["class_weight"] == "balanced" and report["validation"]["method"] == "spatial"
    assert [r["feature"] for r in report["permutation_importance"]["features"]] == real.stack.names
    assert report["samples"]["used"] == len(y) == sum(sum(r) for r in acc["confusion_matrix"]["counts"])


def _check_maps_equal_scikit_learn(run, raster, X_train, y_train):
    """The class, probability and confidence rasters equal scikit-learn's forest fitted on the same samples
    with the same seed and the chosen hyperparameters, predicting every pixel."""
    reference = sklearn_forest(run.result.params, "balanced", SEED).fit(X_train, y_train)
    pixels, valid = image_pixels(raster)
    valid = valid.ravel()
    classes = gdal.Open(run.out["classes"]).ReadAsArray().ravel()
    assert_same_labels(classes[valid], reference, pixels[valid])
    proba = gdal.Open(run.out["probabilities"]).ReadAsArray().reshape(len(reference.classes_), -1).T
    assert np.allclose(proba[valid], reference.predict_proba(pixels[valid]), atol=1e-6)
    confidence = gdal.Open(run.out["confidence"]).ReadAsArray().ravel()
    assert np.array_equal(confidence[valid], proba[valid].max(axis=1))
    ds = gdal.Open(run.out["classes"])  # a band needs its dataset alive
    nodata = ds.GetRasterBand(1).GetNoDataValue()
    assert np.all(classes[~valid] == nodata)
    return classes, valid


def test_real_scene_predictions_equal_scikit_learn(real):
    X, labels, _, _ = polygon_samples(S2_L2A, POLYGONS, "class")
    codes = class_codes(labels)
    _check_maps_equal_scikit_learn(real, S2_L2A, X, [codes[v] for v in labels])
    agreement = real.result.agreement  # onnxruntime against scikit-learn, checked during training
    assert agreement["image_rows"] > 0 and (agreement["rate"] == 1.0 or agreement["disagreements_all_at_ties"])
    classes, probabilities = gdal.Open(real.out["classes"]), gdal.Open(real.out["probabilities"])
    assert json.loads(classes.GetMetadataItem("PROSPECTRA_CLASSES")) == {str(v): n for n, v in codes.items()}
    assert classes.GetRasterBand(1).GetRasterColorTable().GetCount() >= 5
    assert [probabilities.GetRasterBand(i + 1).GetDescription() for i in range(4)] == \
        [f"probability of {n}" for n in sorted(codes)]


def test_simulated_lithology_recovers_the_known_truth(simulated):
    X, labels, _, _, _ = point_samples(SIM_SCENE, SIM_POINTS, "code")
    classes, valid = _check_maps_equal_scikit_learn(simulated, SIM_SCENE, X, labels)
    truth = gdal.Open(SIM_TRUTH).ReadAsArray().ravel()
    assert np.mean(classes[valid] == truth[valid]) > 0.85  # shale, granite and pegmatite are separable here
    for code in (1, 2, 3):
        assert np.mean(classes[valid & (truth == code)] == code) > 0.7


def test_model_file_is_onnx_with_its_description_inside(real):
    import onnx

    proto = onnx.load(real.result.model_path)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["task"] == "classification" and meta["sensor"] == "sentinel2a_msi"
    assert meta["bands"].split(",") == real.image.band_names
    assert json.loads(meta["classes"]) == real.samples.classes.names
    assert json.loads(meta["class_values"]) == real.samples.classes.values
    assert "reflectance" in meta["scaling"] and meta["prospectra_version"] == rf.prospectra_version()
    assert {n.op_type for n in proto.graph.node} == {"Flatten", "TreeEnsembleClassifier", "Sum", "Div", "ArgMax", "Gather"}
    # the project's common ONNX loader (models/MODEL_SPEC.md) reads it too
    from prospectra.core.learning.onnx_model import load_model as load_spec_model

    spec = load_spec_model(real.result.model_path)
    assert spec.task == "classification" and spec.patch_size == 1 and spec.classes == real.samples.classes.names


def test_report_files_and_figures(real):
    html = open(real.result.report_path).read()
    for text in ("Cohen's kappa", "Confusion matrix", "Permutation importance", "Roberts", "Breiman"):
        assert text in html
    stem = os.path.splitext(real.result.report_path)[0]
    for suffix in ("_confusion.png", "_importance.png"):
        assert gdal.Open(stem + suffix).RasterXSize > 100


def test_class_labels():
    assert classes_from_labels([3, 1, None, 3]).values == [1, 3]
    text = classes_from_labels(["shale", "granite", " ", "pegmatite"])
    assert (text.values, text.names) == ([1, 2, 3], ["granite", "pegmatite", "shale"])
    assert classes_from_labels([2.0, 1.0]).values == [1, 2]
    with pytest.raises(InputError, match="FIELD: holds decimal numbers"):
        classes_from_labels([1.5, 2.0])
    with pytest.raises(InputError, match="FIELD: no site has a value"):
        classes_from_labels([None, ""])


def test_bad_model_files_are_refused_with_the_reason(real, tmp_path):
    bad = tmp_path / "forest.pkl"
    bad.write_bytes(pickle.dumps({"not": "a model"}))
    with pytest.raises(InputError, match="MODEL: 'forest.pkl' is a Python pickle"):
        rf.load_model(str(bad))
    renamed = tmp_path / "forest.onnx"
    renamed.write_bytes(pickle.dumps({"not": "a model"}))
    with pytest.raises(InputError, match="is a Python pickle"):
        rf.load_model(str(renamed))
    folder = tmp_path / "models.onnx"
    folder.mkdir()  # was 'does not exist'
    with pytest.raises(InputError, match="MODEL: '.*models.onnx' is a folder, not a model file"):
        rf.load_model(str(folder))
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(open(real.result.model_path, "rb").read()[:500])
    with pytest.raises(InputError, match="MODEL: 'broken.onnx' is not a readable ONNX model"):
        rf.load_model(str(broken))
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    foreign = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.save(foreign, str(tmp_path / "foreign.onnx"))
    with pytest.raises(InputError, match="not one written by Prospectra's 'Train Random Forest classifier'"):
        rf.load_model(str(tmp_path / "foreign.onnx"))


def test_model_for_another_sensor_names_both(real):
    landsat = open_image(sorted(__import__("glob").glob(os.path.join(os.path.dirname(S2_L2A), "landsat5_tm",
                                                                     "*_B?.TIF"))), "landsat5_tm",
                         scaling="reflectance")
    with pytest.raises(InputError) as e:
        real.model.feature_stack(landsat)
    assert "Sentinel-2A MSI" in str(e.value) and "Landsat-4/5 TM" in str(e.value) and str(e.value).startswith("MODEL")
    subset = open_image(S2_L2A, "sentinel2a_msi")
    subset.band_index = {k: v for k, v in subset.band_index.items() if k != "B12"}
    with pytest.raises(InputError, match="missing B12"):
        real.model.feature_stack(subset)


def test_cancel_leaves_no_output(real, tmp_path, monkeypatch):
    from conftest import RecordingFeedback

    import prospectra.core.io.blocks as blocks

    monkeypatch.setattr(blocks, "TILE", 64)  # several 64 x 64 windows on the small scene
    monkeypatch.setattr(rf, "BLOCK_PIXELS", 64 * 64)
    with pytest.raises(Canceled):
        rf.classify_random_forest(real.model.feature_stack(real.image), real.model, str(tmp_path / "c.tif"),
                                  feedback=RecordingFeedback(cancel_after=1))
    assert os.listdir(tmp_path) == []
    with pytest.raises(Canceled):
        rf.train_random_forest(real.stack, real.samples, str(tmp_path / "m.onnx"), str(tmp_path / "r.html"),
                               feedback=RecordingFeedback(cancel_after=2), **FAST)
    assert os.listdir(tmp_path) == []


def test_missing_packages_name_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import then fails as if not installed
    with pytest.raises(MissingPackage, match=r"(?s)onnxruntime.*pip install --user --break-system-packages "
                                                r"onnxruntime numpy==" + np.__version__):
        rf.load_model(POLYGONS)


def test_extra_feature_rasters_travel_with_the_model(real, tmp_path):
    """A B11/B12 ratio raster as a 13th feature: named in the model, required again when classifying."""
    src = gdal.Open(S2_L2A)
    stack = src.ReadAsArray()
    ratio_path = str(tmp_path / "ratio.tif")
    ds = gdal.GetDriverByName("GTiff").Create(ratio_path, src.RasterXSize, src.RasterYSize, 1, gdal.GDT_Float32)
    ds.SetGeoTransform(src.GetGeoTransform())
    ds.SetProjection(src.GetProjection())
    ds.GetRasterBand(1).SetDescription("B11/B12")
    ds.GetRasterBand(1).WriteArray(stack[10] / stack[11])
    ds = None
    image = open_image(S2_L2A, "sentinel2a_msi")
    extended = FeatureStack(image, ["B4", "B8", "B11"], [ratio_path])
    assert extended.names == ["B4", "B8", "B11", "extra 1: B11/B12"]
    samples = extract_samples(extended, layer_features(POLYGONS, "class", S2_L2A))
    result = rf.train_random_forest(extended, samples, str(tmp_path / "m.onnx"), str(tmp_path / "r.html"), **FAST)
    model = rf.load_model(result.model_path)
    assert model.band_names == ["B4", "B8", "B11"] and model.extra_features == ["extra 1: B11/B12"]
    with pytest.raises(InputError, match="EXTRA_FEATURES: 'm.onnx' was trained with the extra features"):
        model.feature_stack(image)
    rf.classify_random_forest(model.feature_stack(image, [ratio_path]), model, str(tmp_path / "c.tif"))
    X, labels, rows, cols = polygon_samples(S2_L2A, POLYGONS, "class")
    codes = class_codes(labels)
    features = np.concatenate([stack[[3, 7, 10]], (stack[10] / stack[11])[None]]).reshape(4, -1).T
    X = features.reshape(stack.shape[1], stack.shape[2], 4)[rows, cols]
    reference = sklearn_forest(result.params, "balanced", SEED).fit(X, [codes[v] for v in labels])
    assert_same_labels(gdal.Open(str(tmp_path / "c.tif")).ReadAsArray().ravel(), reference, features)
    shifted = str(tmp_path / "shifted.tif")
    gdal.Translate(shifted, ratio_path, srcWin=[1, 0, src.RasterXSize - 1, src.RasterYSize])
    with pytest.raises(InputError, match="EXTRA_FEATURES: 'shifted.tif' is 246 x 237 px"):
        FeatureStack(image, None, [shifted])


def test_successful_runs_leave_only_their_outputs(real):
    folder = os.path.dirname(real.result.model_path)
    assert sorted(os.listdir(folder)) == sorted(["model.onnx", "report.html", "report.json", "report_confusion.png",
                                                 "report_importance.png", "classes.tif", "probabilities.tif",
                                                 "confidence.tif", "classes.tif.aux.xml"])  # class names (GDAL RAT)


def test_plugin_loads_without_the_machine_learning_packages():
    """With scikit-learn, skl2onnx, onnx, onnxruntime and matplotlib unimportable, the provider still imports
    and its Random Forest algorithms explain what to install."""
    import subprocess

    from conftest import PLUGINS

    code = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('sklearn', 'skl2onnx', 'onnx', 'onnxruntime', 'matplotlib'):\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import prospectra.algorithms.provider\n"
        "from prospectra.core import errors\n"
        "from prospectra.core.learning import random_forest as rf\n"
        "try:\n"
        "    errors.require('Random Forest training', *rf.TRAINING_PACKAGES)\n"
        "except errors.MissingPackage as e:\n"
        "    print(e)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": PLUGINS, "QT_QPA_PLATFORM": "offscreen"})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "scikit-learn, onnx, onnxruntime, matplotlib" in out
    assert "python3 -m pip install --user --break-system-packages scikit-learn onnx onnxruntime " \
           "matplotlib numpy==" in out


def test_large_sets_are_searched_on_a_subset_with_the_same_folds(real, monkeypatch):
    """Above MAX_SEARCH_SAMPLES the search sees a random subset; each fold keeps exactly its own rows."""
    monkeypatch.setattr(rf, "MAX_SEARCH_SAMPLES", 500)
    s, splits = real.samples, real.result.folds.splits
    _, table, searched = rf.tune(s.X, s.y, splits, rf.search_space(50), iterations=1, seed=SEED)
    assert searched == 500 and len(table) == 1
    keep = np.sort(np.random.default_rng(SEED).choice(len(s.y), 500, replace=False))
    for (tr, te), (sub_tr, sub_te) in zip(splits, rf._subset_splits(splits, keep)):
        assert np.array_equal(keep[sub_tr], tr[np.isin(tr, keep)])
        assert np.array_equal(keep[sub_te], te[np.isin(te, keep)])


def test_many_small_windows_give_the_same_rasters(real, tmp_path, monkeypatch):
    """Block-wise output is independent of the window size (16 windows of 64 x 64 px against one)."""
    import prospectra.core.io.blocks as blocks

    monkeypatch.setattr(blocks, "TILE", 64)
    monkeypatch.setattr(rf, "BLOCK_PIXELS", 64 * 64)
    out = {k: str(tmp_path / f"{k}.tif") for k in ("classes", "probabilities", "confidence")}
    rf.classify_random_forest(real.model.feature_stack(real.image), real.model, out["classes"],
                              out["probabilities"], out["confidence"], NullFeedback())
    got = {k: gdal.Open(path).ReadAsArray() for k, path in out.items()}
    one = {k: gdal.Open(path).ReadAsArray() for k, path in real.out.items()}
    assert np.allclose(got["probabilities"], one["probabilities"], atol=1e-6)
    assert np.allclose(got["confidence"], one["confidence"], atol=1e-6)
    differ = got["classes"] != one["classes"]  # only at exact vote ties could the summation order matter
    top = np.sort(one["probabilities"][:, differ], axis=0)
    assert np.all(top[-1] - top[-2] < 1e-6)
    ds = gdal.Open(out["classes"])
    assert ds.GetRasterBand(1).GetRasterColorTable() is not None


def test_forest_kernel_labels_equal_scikit_learn_on_a_real_forest(real):
    """The chosen kernel (onnxruntime on the stored tree ensemble, batches side by side through
    onnx_model.predict_rows) against scikit-learn's own predict of the same fitted forest: the real scene's
    pixels, jittered copies of them (more rows than one batch, so several batches run at once), and rows set
    to the forest's thresholds and their float32 neighbours (where a float32 rounding of a threshold would
    send a pixel down the other branch)."""
    from prospectra.core.learning.onnx_model import BATCH_ROWS

    forest = real.result.model
    stack = real.model.feature_stack(real.image)
    cube, valid = stack.read((0, 0, real.image.width, real.image.height))
    pixels = cube[:, valid].T
    rng = np.random.default_rng(SEED)
    copies = 2 * BATCH_ROWS // len(pixels) + 1
    jittered = (np.tile(pixels, (copies, 1)) * rng.normal(1, 0.02, (copies * len(pixels), pixels.shape[1])))
    edges = []
    for tree in forest.estimators_[:10]:
        inner = tree.tree_.feature >= 0
        for f, t in zip(tree.tree_.feature[inner], tree.tree_.threshold[inner]):
            row = pixels[rng.integers(len(pixels))].copy()
            for value in (np.float32(t), np.nextafter(np.float32(t), np.float32(np.inf)),
                          np.nextafter(np.float32(t), np.float32(-np.inf))):
                row[f] = value
                edges.append(row.copy())
    X = np.concatenate([pixels, jittered, np.array(edges)]).astype(np.float32)
    assert len(X) > 2 * BATCH_ROWS and len(edges) > 100
    labels, probabilities = rf.predict_forest(real.model.session, X)
    assert np.array_equal(labels, forest.predict(X))
    assert np.allclose(probabilities, forest.predict_proba(X), rtol=0, atol=1e-6)


def test_exported_forest_takes_mixed_leaves_and_ties_as_scikit_learn():
    """Leaves holding several classes (duplicated feature rows with different labels) and exact vote ties (ten
    trees, three classes): the ONNX export's labels equal scikit-learn's predict, its probabilities
    predict_proba's to float32 precision. And a node whose trees all vote for one class of two still gives both
    classes' probabilities (onnxruntime reads a two-class node with votes for one class as a binary score)."""
    from sklearn.ensemble import RandomForestClassifier

    from prospectra.core.learning.onnx_model import new_session

    rng = np.random.default_rng(SEED)
    X = rng.integers(0, 4, (600, 3)).astype(np.float32)  # 64 distinct rows: most repeat with other labels
    y = rng.integers(1, 4, len(X))
    grid = np.array(np.meshgrid(*[np.arange(-0.5, 4.5, 0.25)] * 3)).reshape(3, -1).T.astype(np.float32)
    ties = 0
    for rows in (X, X + rng.normal(0, 0.3, X.shape).astype(np.float32)):  # mixed leaves; then pure ones
        forest = RandomForestClassifier(10, random_state=SEED).fit(rows, y)
        labels, probabilities = rf.predict_forest(new_session(rf.to_onnx_bytes(forest, 3, {})), grid)
        reference = forest.predict_proba(grid)
        assert np.array_equal(labels, forest.predict(grid))
        assert np.allclose(probabilities, reference, rtol=0, atol=1e-6)
        top = np.sort(reference, axis=1)
        ties += np.sum(top[:, -1] == top[:, -2])
    assert any(((t.tree_.value[t.tree_.children_left < 0, 0] > 0).sum(axis=1) > 1).any()
               for t in RandomForestClassifier(10, random_state=SEED).fit(X, y).estimators_)
    assert ties > 100

    y2 = np.where(np.arange(len(X)) == 0, 2, 1)  # one row of class 2: most bootstrap samples miss it
    two = RandomForestClassifier(60, random_state=SEED).fit(X, y2)
    one_class = [t for t in two.estimators_ if t.tree_.node_count == 1][:rf.TREES_PER_NODE]
    assert len(one_class) == rf.TREES_PER_NODE
    two.estimators_ = one_class
    labels, probabilities = rf.predict_forest(new_session(rf.to_onnx_bytes(two, 3, {})), grid)
    assert probabilities.shape == (len(grid), 2) and np.all(probabilities[:, 0] == 1) and np.all(labels == 1)


def test_exported_two_class_forest_equals_scikit_learn():
    """Two classes, every node's trees voting for both: onnxruntime reads any two-class ensemble as one binary
    score, which made the export's labels wrong on 4 in 10 pixels and its probabilities negative."""
    from sklearn.ensemble import RandomForestClassifier

    from prospectra.core.learning.onnx_model import new_session

    rng = np.random.default_rng(SEED)
    X = rng.normal(size=(2000, 4)).astype(np.float32)
    y = np.where(X[:, 0] + rng.normal(0, 0.7, len(X)) > 0.3, 7, 3)  # class values need not be 0 and 1
    forest = RandomForestClassifier(25, random_state=SEED).fit(X[:1500], y[:1500])
    labels, probabilities = rf.predict_forest(new_session(rf.to_onnx_bytes(forest, 4, {})), X[1500:])
    assert np.array_equal(labels, forest.predict(X[1500:]))
    assert np.allclose(probabilities, forest.predict_proba(X[1500:]), rtol=0, atol=1e-6)
    assert (probabilities[:, 0] > 0.5).any() and (probabilities[:, 1] > 0.5).any()


def test_more_classes_than_a_class_map_holds_are_refused_before_training():
    """300 classes trained for minutes, filled the memory and made a model classification refuses (over 254)."""
    from prospectra.core.errors import InputError
    from prospectra.core.learning.training_samples import classes_from_labels

    assert len(classes_from_labels([f"unit {i}" for i in range(254)]).values) == 254
    with pytest.raises(InputError, match="FIELD: holds 300 classes; a model and its class map hold at most 254"):
        classes_from_labels([f"unit {i}" for i in range(300)])


def test_the_confusion_figure_of_many_classes_stays_a_figure(tmp_path):
    """120 classes drew a 12100 x 10780-pixel confusion matrix and the training peaked at 5.9 GB; the figure now
    stays within about 2200 pixels, and the report's table holds every count."""
    from PIL import Image

    from prospectra.core.report.random_forest_report import _confusion_png

    k = 120
    counts = np.eye(k, dtype=int) * 3
    report = {"accuracy": {"confusion_matrix": {"counts": counts.tolist(), "row_percent": (counts * 100 / 3).tolist(),
                                                "labels": [f"unit {i}" for i in range(k)]}}}
    _confusion_png(report, tmp_path / "cm.png")
    width, height = Image.open(tmp_path / "cm.png").size
    assert width <= 2400 and height <= 2400
