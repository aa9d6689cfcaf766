"""Inversion metrics against scikit-learn, the blocked split, and exported models against their Python twins."""
import numpy as np
import pytest

from prospectra.core.errors import InputError
from prospectra.core.geochem.inversion import (MODEL_NAMES, blocked_split, export_onnx, fit_models, rating,
                                       regression_metrics, spatial_blocks)
from prospectra.core.learning.onnx_model import load_model


def synthetic(n=1500, seed=0):
    """A content that depends on four 'bands' (simulated), on a 120 x 120 pixel grid."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 4)).astype(np.float32) * 0.4
    y = 0.8 - 1.5 * x[:, 1] + 2.0 * x[:, 3] ** 2 + rng.normal(0, 0.02, n)
    rows, cols = rng.integers(0, 120, n), rng.integers(0, 120, n)
    return x, y, rows, cols


def test_metrics_equal_scikit_learn_and_rpd_by_definition():
    from sklearn.metrics import mean_squared_error, r2_score

    rng = np.random.default_rng(1)
    measured = rng.random(50)
    predicted = measured + rng.normal(0, 0.1, 50)
    m = regression_metrics(measured, predicted)
    assert m["r2"] == pytest.approx(r2_score(measured, predicted), abs=1e-12)
    assert m["rmse"] == pytest.approx(np.sqrt(mean_squared_error(measured, predicted)), abs=1e-12)
    assert m["rpd"] == pytest.approx(np.std(measured, ddof=1) / m["rmse"], abs=1e-12)
    assert rating({"r2": 0.91, "rpd": 3.1}) == "excellent" and rating({"r2": 0.85, "rpd": 2.5}) == "good"


def test_blocked_split_keeps_blocks_whole_and_near_the_fraction():
    _, _, rows, cols = synthetic()
    groups = spatial_blocks(rows, cols, 16)
    test = blocked_split(groups, 1 / 3, seed=3)
    assert abs(test.mean() - 1 / 3) < 0.1
    for g in np.unique(groups):
        assert len(set(test[groups == g])) == 1  # a block is all train or all test


@pytest.mark.parametrize("key", [k for k in MODEL_NAMES if k != "cnn"])
def test_exported_model_predicts_as_the_fitted_one(tmp_path, key):
    x, y, rows, cols = synthetic()
    groups = spatial_blocks(rows, cols, 16)
    test = blocked_split(groups)
    (fit,), notes = fit_models(x, y, groups, test, [key])
    path = export_onnx(fit, str(tmp_path / f"{key}.onnx"), ["B1", "B2", "B3", "B4"], "gf2_pms", "reflectance",
                       "RE2O3", "%", "simulated test data", (y[~test].min(), y[~test].max()))
    model = load_model(path)
    onnx_pred = model.predict(x[test][:, :, None, None])[:, 0]
    assert np.allclose(onnx_pred, fit.predicted_test, atol=1e-4 * np.abs(y).max())
    assert model.task == "regression" and model.patch_size == 1 and model.meta["target"] == "RE2O3"
    assert fit.test["r2"] > 0.5


def test_the_papers_cnn_trains_in_every_install_and_onnxruntime_agrees(tmp_path):
    """No deep-learning package: the CNN is numpy, and onnxruntime (which runs the full 2-D convolution and pooling
    on the band matrix) reproduces its predictions from the exported graph."""
    x, y, rows, cols = synthetic(800)
    groups = spatial_blocks(rows, cols, 16)
    test = blocked_split(groups)
    (fit,), notes = fit_models(x, y, groups, test, ["cnn"])
    assert notes == [] and fit.test["r2"] > 0.8
    path = export_onnx(fit, str(tmp_path / "cnn.onnx"), ["B1", "B2", "B3", "B4"], "gf2_pms", "reflectance",
                       "RE2O3", "%", "simulated test data", (y[~test].min(), y[~test].max()))
    assert np.allclose(load_model(path).predict(x[test][:, :, None, None])[:, 0], fit.predicted_test, atol=1e-4)


def test_cnn_gradients_match_finite_differences():
    from prospectra.core.learning.band_matrix_cnn import BandMatrixCnn

    rng = np.random.default_rng(3)
    z, t = rng.normal(0, 1, (40, 4)), rng.normal(0, 1, 40)
    net = BandMatrixCnn()
    net._init(4, rng)
    out, cache = net._forward(z)
    grads = net._backward(out - t, cache)
    for key, weights in net.w.items():
        for index in map(tuple, rng.integers(0, weights.shape, (3, weights.ndim))):
            weights[index] += 1e-6
            up = np.mean((net._forward(z)[0] - t) ** 2)
            weights[index] -= 2e-6
            down = np.mean((net._forward(z)[0] - t) ** 2)
            weights[index] += 1e-6
            assert grads[key][index] == pytest.approx((up - down) / 2e-6, rel=1e-4, abs=1e-8), key


def test_too_few_samples():
    x, y, rows, cols = synthetic(12)
    groups = np.arange(12)
    with pytest.raises(InputError, match="too few to fit"):
        fit_models(x, y, groups, blocked_split(groups, 0.5), ["linear"])


def test_a_training_set_too_small_for_the_cnn_skips_it_with_a_note_and_fits_the_baselines():
    x, y, rows, cols = synthetic(60)
    groups = np.arange(60)
    fits, notes = fit_models(x, y, groups, blocked_split(groups, 0.3), ["linear", "cnn"])
    assert [f.key for f in fits] == ["linear"]
    assert any("CNN was not fitted" in n and "100 or more" in n for n in notes)


def test_the_cnn_alone_on_too_few_samples_is_refused_naming_models():
    x, y, rows, cols = synthetic(60)
    groups = np.arange(60)
    with pytest.raises(InputError) as e:
        fit_models(x, y, groups, blocked_split(groups, 0.3), ["cnn"])
    assert e.value.parameter == "MODELS" and "too few" in str(e.value)
