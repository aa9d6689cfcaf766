"""Quantitative inversion of a content (e.g. RE2O3 %) from pixel reflectance, after Cheng et al. (2023):
a sample set, a spatially blocked 2:1 split, several regressors fitted and compared by R2, RMSE and RPD,
the best (by cross-validation on the training part only) exported as an ONNX pixel model.

The paper fits only its CNN; Prospectra fits it beside honest baselines (multiple linear regression,
PLS, Random Forest, an MLP) on the same split, so a user can see whether the CNN earns its keep."""
import json
from dataclasses import dataclass, field

import numpy as np

from ..learning.band_matrix_cnn import BandMatrixCnn
from ..errors import InputError
from ..io.outputs import write_file

MODEL_NAMES = {"linear": "Multiple linear regression", "pls": "Partial least squares",
               "random_forest": "Random Forest", "mlp": "Multilayer perceptron",
               "cnn": "CNN on the 4 x 4 band matrix (Cheng et al. 2023)"}
MIN_SAMPLES = 10
# The CNN stops early on 15 % of its training part (band_matrix_cnn.VALIDATION): below 100 samples that is under 15
# samples to stop on, for some 2,200 weights. The baselines still run on fewer.
CNN_MIN_SAMPLES = 100


def regression_metrics(measured, predicted):
    """R2 and RMSE as scikit-learn computes them; RPD = SD of the measured values / RMSE (Williams 1987)."""
    from sklearn.metrics import mean_squared_error, r2_score

    rmse = float(np.sqrt(mean_squared_error(measured, predicted)))
    sd = float(np.std(measured, ddof=1))
    return {"r2": float(r2_score(measured, predicted)), "rmse": rmse, "rpd": sd / rmse if rmse > 0 else float("inf"),
            "n": int(len(measured))}


def rating(metrics):
    """Cheng et al. (2023): R2 >= 0.9 and RPD >= 3 is excellent."""
    if metrics["r2"] >= 0.9 and metrics["rpd"] >= 3:
        return "excellent"
    if metrics["rpd"] >= 2:
        return "good"
    if metrics["rpd"] >= 1.4:
        return "fair"
    return "poor"


def spatial_blocks(rows, cols, block):
    """A group id per sample: the block of block x block pixels it falls in."""
    return (np.asarray(rows) // block) * 1_000_003 + np.asarray(cols) // block


def blocked_split(groups, test_fraction=1 / 3, seed=0):
    """Test mask: whole spatial blocks, drawn at random until about test_fraction of the samples.
    Neighbouring pixels are nearly identical; splitting them between train and test would flatter every model."""
    rng = np.random.default_rng(seed)
    blocks, counts = np.unique(groups, return_counts=True)
    order = rng.permutation(len(blocks))
    chosen, total = [], 0
    for i in order:
        if total >= test_fraction * len(groups):
            break
        chosen.append(blocks[i])
        total += counts[i]
    return np.isin(groups, chosen)


@dataclass
class Fit:
    key: str
    estimator: object  # a scikit-learn pipeline, or the BandMatrixCnn
    train: dict
    test: dict
    cv_rmse: float
    predicted_train: np.ndarray = field(repr=False, default=None)
    predicted_test: np.ndarray = field(repr=False, default=None)

    @property
    def name(self):
        return MODEL_NAMES[self.key]


def _sklearn_model(key, n_bands, seed):
    from sklearn.cross_decomposition import PLSRegression
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    estimator = {"linear": LinearRegression(),
                 "pls": PLSRegression(n_components=max(1, min(3, n_bands - 1))),
                 "random_forest": RandomForestRegressor(n_estimators=200, min_samples_leaf=3, max_features=0.7,
                                                        n_jobs=-1, random_state=seed),
                 "mlp": _ScaledTargetMLP(hidden_layer_sizes=(32, 16), max_iter=2000, early_stopping=True,
                                         random_state=seed)}[key]
    return make_pipeline(StandardScaler(), estimator)


def _ScaledTargetMLP(**kw):  # noqa: N802 (a class factory: scikit-learn is imported lazily)
    """An MLPRegressor fitted on the standardised target, then rescaled in its output layer so it predicts
    the target itself: contents of a few hundredths of a percent are too small for the default MLP, and
    the rescaled network stays a plain MLPRegressor that skl2onnx converts."""
    from sklearn.neural_network import MLPRegressor

    class ScaledTargetMLP(MLPRegressor):
        def fit(self, x, y):
            mean, std = float(np.mean(y)), float(np.std(y)) or 1.0
            super().fit(x, (np.asarray(y) - mean) / std)
            self.coefs_[-1] = self.coefs_[-1] * std
            self.intercepts_[-1] = self.intercepts_[-1] * std + mean
            return self

    return ScaledTargetMLP(**kw)


def fit_models(x, y, groups, test, keys=None, seed=0, feedback=None):
    """Fit each model on the training part, measure on both parts, and cross-validate on the training part
    (5 folds of whole spatial blocks) to choose. Returns (fits sorted by CV RMSE, notes)."""
    from sklearn.model_selection import GroupKFold

    keys = list(keys or MODEL_NAMES)
    notes = []
    train = ~test
    why = ("its band matrix needs two bands or more" if x.shape[1] < 2 else
           f"{int(train.sum())} training samples are too few for it (it needs {CNN_MIN_SAMPLES} or more, to stop its "
           f"training on 15 % of them; the surface-to-surface sample set gives more)"
           if MIN_SAMPLES <= train.sum() < CNN_MIN_SAMPLES else None)
    if "cnn" in keys and why:
        keys.remove("cnn")
        if not keys:
            raise InputError("MODELS", f"the CNN is the only model chosen and cannot be fitted: {why}. Choose a "
                                       f"baseline model too.")
        notes.append(f"The CNN was not fitted: {why}; the other models were.")
    if train.sum() < MIN_SAMPLES or test.sum() < 2:
        raise InputError("INPUT", f"{int(train.sum())} training and {int(test.sum())} test samples: too few to fit "
                                  f"and judge a model (at least {MIN_SAMPLES} and 2).")
    folds = min(5, len(np.unique(groups[train])))
    fits = []
    for i, key in enumerate(keys):
        if feedback is not None:
            if feedback.isCanceled():
                from ..errors import Canceled
                raise Canceled("Canceled by the user; no output was written.")
            feedback.setProgress(100.0 * i / len(keys))
            feedback.pushInfo(f"Fitting {MODEL_NAMES[key]} ...")

        def make():
            return BandMatrixCnn(seed) if key == "cnn" else _sklearn_model(key, x.shape[1], seed)

        cv_errors = []
        if folds >= 2:
            for a, b in GroupKFold(n_splits=folds).split(x[train], y[train], groups[train]):
                model = make().fit(x[train][a], y[train][a])
                cv_errors.append(np.mean((np.ravel(model.predict(x[train][b])) - y[train][b]) ** 2))
        model = make().fit(x[train], y[train])
        p_train, p_test = np.ravel(model.predict(x[train])), np.ravel(model.predict(x[test]))
        fits.append(Fit(key, model, regression_metrics(y[train], p_train), regression_metrics(y[test], p_test),
                        float(np.sqrt(np.mean(cv_errors))) if cv_errors else float("nan"), p_train, p_test))
    fits.sort(key=lambda f: (np.isnan(f.cv_rmse), f.cv_rmse))
    return fits, notes


def export_onnx(fit, path, bands, sensor_id, scaling, target, unit, training_data, target_range, version="1.0.0"):
    """Write the fitted model as a pixel model of models/MODEL_SPEC.md: input [n, bands, 1, 1]."""
    import onnx
    from onnx import helper

    n = len(bands)
    if fit.key == "cnn":
        model = fit.estimator.to_onnx()
    else:
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType

        from sklearn.base import clone
        from sklearn.neural_network import MLPRegressor

        pipeline = fit.estimator
        last = pipeline.steps[-1][1]
        if isinstance(last, MLPRegressor) and type(last) is not MLPRegressor:
            plain = MLPRegressor(**last.get_params())  # skl2onnx knows the plain class; the weights are the same
            plain.__dict__.update(last.__dict__)
            pipeline = clone(pipeline)
            pipeline.steps[-1] = (pipeline.steps[-1][0], plain)
            pipeline.steps[0] = (pipeline.steps[0][0], fit.estimator.steps[0][1])
        model = convert_sklearn(pipeline, initial_types=[("flat", FloatTensorType([None, n]))], target_opset=17)
        # Prospectra feeds [n, bands, 1, 1]: flatten it first.
        graph = model.graph
        graph.input[0].name = "pixels"
        graph.input[0].type.tensor_type.shape.ClearField("dim")
        for d in ("batch", n, 1, 1):
            dim = graph.input[0].type.tensor_type.shape.dim.add()
            if isinstance(d, str):
                dim.dim_param = d
            else:
                dim.dim_value = d
        graph.node.insert(0, helper.make_node("Flatten", ["pixels"], ["flat"], axis=1))
        out = graph.output[0].type.tensor_type.shape  # skl2onnx declares PLS's [n, 1] output as [n, features]
        out.ClearField("dim")
        out.dim.add().dim_param = "batch"
        out.dim.add().dim_value = 1
    meta = {"prospectra_spec": "1", "task": "regression", "sensor": sensor_id, "bands": ",".join(bands),
            "patch_size": "1", "stride": "1", "target": target, "unit": unit, "scaling": scaling,
            "estimator": fit.name, "version": version, "licence": "GPL-3.0-or-later", "training_data": training_data,
            "metrics": json.dumps({"train": fit.train, "test": fit.test, "cv_rmse": fit.cv_rmse}),
            "target_range": json.dumps([float(v) for v in target_range])}
    del model.metadata_props[:]
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    write_file(path, model.SerializeToString())
    return path
