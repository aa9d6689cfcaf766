"""Random Forest classification of an image (Breiman 2001), as paper 000 (Rakhymberdina et al. 2025) maps
sedimentary rocks, granites and pegmatites from Sentinel-2 bands: class balancing, a cross-validated
hyperparameter search on spatially blocked folds (Roberts et al. 2017), an honest accuracy assessment, and a
model saved as ONNX (no code runs when it is opened, unlike a pickle) that carries its sensor, band names
and classes so the classifier can refuse an image it does not fit.

scikit-learn, onnx, onnxruntime and matplotlib are imported inside the functions that need them:
the rest of Prospectra works without them."""
import datetime
import importlib
import json
import os
import warnings
from contextlib import ExitStack
from dataclasses import dataclass, field

import numpy as np
from osgeo import gdal

from ..io.outputs import OutputTransaction, write_file
from ..io.blocks import RasterWriter, bounded_cache, check_outputs, windows
from ..errors import Canceled, InputError, ProspectraError, require
from .onnx_model import new_session, open_session, predict_rows
from ..report import random_forest_report
from ..report.palettes import lithology_colours
from .training_samples import FeatureStack, fits_class_raster, spatial_blocks

gdal.UseExceptions()

# pip names and the versions tested with Debian 12's numpy 1.24.2 / scipy 1.10.1.
TRAINING_PACKAGES = ("sklearn", "onnx", "onnxruntime", "matplotlib")
CLASSIFY_PACKAGES = ("onnxruntime",)

# The order of these is the order of the algorithms' enum parameters.
BALANCING = {
    "balanced": "Class weights inversely proportional to class frequency in the training data (balanced)",
    "balanced_subsample": "Class weights recomputed in each tree's bootstrap sample (balanced_subsample)",
    "none": "No balancing (every sample weighs the same)",
}
VALIDATION = {
    "spatial": "Spatially blocked folds: each training feature kept whole in one block (Roberts et al. 2017)",
    "stratified": "Stratified random folds (pixels of one polygon may fall in training and test: optimistic)",
}
SCORING = "balanced_accuracy"  # mean recall per class: rare classes such as pegmatite count as much as common ones
MAX_SEARCH_SAMPLES = 20_000  # larger sets are searched on a random subset of this size, then refit on all
IMPORTANCE_ROWS = 5_000  # held-out rows per fold used for permutation importance
IMPORTANCE_REPEATS = 5
VERIFY_PIXELS = 20_000  # image pixels (random 32 x 32 windows) on which ONNX is checked against scikit-learn
MAX_FOREST_NODES = 15_000_000  # ~1 GB of ONNX (about 70 bytes a node): well below protobuf's 2 GB limit
BLOCK_PIXELS = 2 ** 20  # pixels per classification window: 12 float32 features = 48 MB
TIE = 1e-6  # top-two probability margin below which the forest's vote is a tie up to float32 rounding (1e-7 here)
PARALLEL_ROWS = 10_000  # fits and predictions on fewer rows run on one thread
PROBABILITY_NODATA = -9999.0
ONNX_INPUT = "reflectance"


def prospectra_version():
    import configparser

    meta = configparser.ConfigParser()
    meta.read(os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "metadata.txt"))
    return meta.get("general", "version", fallback="unknown")


def search_space(max_trees=500):
    """Hyperparameters tried by the search; lists, so a seeded search draws the same candidates everywhere.

    Ranges suit 50 to 100,000 samples: few deep trees overfit small sets, so depth and leaf size are tuned;
    more features per split helps when few bands carry the signal (pegmatite vs granite)."""
    trees = [t for t in (50, 100, 200, 300, 500) if t <= max_trees] or [int(max_trees)]
    return {"n_estimators": trees,
            "max_depth": [None, 8, 12, 16, 24, 32],
            "max_features": ["sqrt", "log2", 0.33, 0.5, 1.0],
            "min_samples_leaf": [1, 2, 4, 8],
            "min_samples_split": [2, 5, 10]}


def forest(params, balancing="balanced", seed=42, n_jobs=-1):
    """The RandomForestClassifier the search, the evaluation and the final fit share. n_jobs uses threads
    (scikit-learn's forests never start processes), which is safe inside QGIS; the fitted trees do not
    depend on it."""
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(class_weight=None if balancing == "none" else balancing, random_state=seed,
                                  n_jobs=n_jobs, **params)


def _jobs(rows):
    """Threads for a fit or predict on this many rows: below a few thousand rows starting threads costs more
    than it saves (measured: 50 trees on 2,000 rows fit in 0.11 s on one thread, 0.24 s on two)."""
    return -1 if rows >= PARALLEL_ROWS else 1


@dataclass
class Folds:
    splits: list  # [(train indices, test indices)]
    validation: str
    groups: np.ndarray = None  # spatial block of each sample (spatial folds)
    block_pixels: int = 0
    description: str = ""
    warnings: list = field(default_factory=list)


def cross_validation_folds(samples, validation="spatial", folds=5, seed=42, block_pixels=0):
    """Cross-validation splits: spatially blocked and stratified by class as far as blocks allow
    (StratifiedGroupKFold over spatial blocks), or plain stratified random folds."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    y = samples.y
    notes = []
    largest = max(np.count_nonzero(y == v) for v in samples.classes.values)
    if largest < folds:
        raise InputError("FOLDS", f"no class has as many training pixels as the {folds} folds (at most {largest}); "
                                  f"lower FOLDS to {max(largest, 2)} or fewer, or add training sites.")
    if validation == "spatial":
        groups, edge = spatial_blocks(samples, folds, block_pixels)
        n_groups = len(np.unique(groups))
        if n_groups < folds:
            raise InputError("FOLDS", f"spatially blocked cross-validation with {folds} folds needs training "
                                      f"features in at least {folds} separate blocks, but they fall in {n_groups} "
                                      f"(blocks of {edge} px). Add training sites elsewhere in the image, lower "
                                      "FOLDS, set a smaller BLOCK_SIZE, or choose stratified random folds.")
        for v, name in zip(samples.classes.values, samples.classes.names):
            blocks = len(np.unique(groups[y == v]))
            if blocks == 1:
                notes.append(f"class '{name}' was sampled in a single spatial block: when that block is held out no "
                             "model has seen the class, so its recall is 0 by construction. Add sites of this class "
                             "in other places.")
        cv = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        splits = list(cv.split(np.zeros(len(y)), y, groups))
        desc = (f"{folds} spatially blocked folds (StratifiedGroupKFold over {n_groups} square blocks of {edge} x "
                f"{edge} px; every training feature kept whole in the block of its centre)")
        return Folds(splits, validation, groups, edge, desc, notes)
    if validation != "stratified":
        raise InputError("VALIDATION", f"unknown choice '{validation}'; choose one of {', '.join(VALIDATION)}.")
    smallest = min(np.count_nonzero(y == v) for v in samples.classes.values)
    if smallest < folds:
        notes.append(f"the smallest class has {smallest} samples, fewer than the {folds} folds: some folds test "
                     "without it.")
    if samples.geometry != "point":
        notes.append("pixels of one polygon fall in both training and test folds, so neighbouring, near-identical "
                     "pixels test each other: the accuracy below is optimistic. Spatially blocked folds avoid this.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the smallest-class warning is in the report instead
        splits = list(StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))
    return Folds(splits, validation, None, 0, f"{folds} stratified random folds (StratifiedKFold, shuffled)", notes)


class _Progress:
    """Progress over [start, end] % of the run with a cancel check at each step."""

    def __init__(self, feedback, start, end, total):
        self.feedback, self.start, self.end, self.total, self.done = feedback, start, end, max(total, 1), 0

    def step(self):
        if self.feedback is None:
            return
        if self.feedback.isCanceled():
            raise Canceled("Canceled by the user; no output was written.")
        self.feedback.setProgress(self.start + (self.end - self.start) * self.done / self.total)
        self.done += 1


def _subset_splits(splits, keep):
    pos = np.full(max(max(tr.max(), te.max()) for tr, te in splits) + 1, -1)
    pos[keep] = np.arange(len(keep))
    return [(pos[tr][pos[tr] >= 0], pos[te][pos[te] >= 0]) for tr, te in splits]


def tune(X, y, splits, space, iterations=20, balancing="balanced", seed=42, feedback=None, progress=(0, 100)):
    """Randomised search: the same candidates, scores and winner as scikit-learn's RandomizedSearchCV with
    scoring='balanced_accuracy', cv=splits, random_state=seed (written out so QGIS can show progress and
    cancel between fits). Returns (best parameters, [{params, mean, std}] in draw order, rows searched)."""
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import ParameterSampler

    searched = len(y)
    if len(y) > MAX_SEARCH_SAMPLES:
        keep = np.sort(np.random.default_rng(seed).choice(len(y), MAX_SEARCH_SAMPLES, replace=False))
        X, y, splits, searched = X[keep], y[keep], _subset_splits(splits, keep), MAX_SEARCH_SAMPLES
    candidates = list(ParameterSampler(space, n_iter=iterations, random_state=seed))
    bar = _Progress(feedback, *progress, len(candidates) * len(splits))
    table = []
    for params in candidates:
        scores = []
        for tr, te in splits:  # one after the other: threads over folds measured no faster here (GIL-bound)
            bar.step()
            model = forest(params, balancing, seed, _jobs(len(tr))).fit(X[tr], y[tr])
            model.n_jobs = _jobs(len(te))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a test fold may miss a class
                scores.append(balanced_accuracy_score(y[te], model.predict(X[te])))
        table.append({"params": params, "mean": float(np.mean(scores)), "std": float(np.std(scores))})
    best = max(range(len(table)), key=lambda i: (table[i]["mean"], -i))  # first of equals, as scikit-learn
    return table[best]["params"], table, searched


def evaluate(X, y, splits, params, classes, feature_names, balancing="balanced", seed=42, feedback=None,
             progress=(0, 100)):
    """Out-of-fold predictions of the chosen forest on the same folds, their confusion matrix and metrics,
    and permutation importance measured on each held-out fold (Breiman 2001)."""
    from sklearn.inspection import permutation_importance
    from sklearn.metrics import (accuracy_score, balanced_accuracy_score, cohen_kappa_score, confusion_matrix,
                                 precision_recall_fscore_support)

    predicted = np.zeros_like(y)
    fold_of = np.zeros(len(y), dtype=np.int64)
    importances, weights = [], []
    bar = _Progress(feedback, *progress, len(splits))
    rng = np.random.default_rng(seed)
    for k, (tr, te) in enumerate(splits):
        bar.step()
        model = forest(params, balancing, seed, _jobs(len(tr))).fit(X[tr], y[tr])
        model.n_jobs = _jobs(len(te))
        predicted[te] = model.predict(X[te])
        fold_of[te] = k
        rows = te if len(te) <= IMPORTANCE_ROWS else np.sort(rng.choice(te, IMPORTANCE_ROWS, replace=False))
        model.n_jobs = _jobs(len(rows))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            imp = permutation_importance(model, X[rows], y[rows], scoring=SCORING, n_repeats=IMPORTANCE_REPEATS,
                                         random_state=seed)
        importances.append(imp.importances)
        weights.append(len(rows))
    values = classes.values
    cm = confusion_matrix(y, predicted, labels=values)
    row_sums = cm.sum(axis=1, keepdims=True)
    row_pct = np.divide(100.0 * cm, row_sums, out=np.zeros(cm.shape), where=row_sums > 0)
    precision, recall, f1, support = precision_recall_fscore_support(y, predicted, labels=values, zero_division=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        balanced = balanced_accuracy_score(y, predicted)
    w = np.repeat(np.array(weights, float), IMPORTANCE_REPEATS)
    all_imp = np.concatenate(importances, axis=1)  # (features, folds x repeats)
    mean_imp = (all_imp * w).sum(axis=1) / w.sum()
    std_imp = np.sqrt(((all_imp - mean_imp[:, None]) ** 2 * w).sum(axis=1) / w.sum())
    return {
        "predicted": predicted, "fold": fold_of,
        "confusion_matrix": cm.tolist(), "confusion_matrix_row_percent": np.round(row_pct, 2).tolist(),
        "overall_accuracy": float(accuracy_score(y, predicted)),
        "kappa": float(cohen_kappa_score(y, predicted, labels=values)),
        "balanced_accuracy": float(balanced),
        "per_class": [{"value": int(v), "name": n, "precision": float(p), "recall": float(r), "f1": float(f),
                       "support": int(s)} for v, n, p, r, f, s in zip(values, classes.names, precision, recall, f1,
                                                                      support)],
        "permutation_importance": [{"feature": n, "mean": float(m), "std": float(s)}
                                   for n, m, s in zip(feature_names, mean_imp, std_imp)],
    }


TREES_PER_NODE = 5  # trees per ONNX tree node: see to_onnx_bytes


def _float32_at_most(thresholds):
    """The largest float32 at or below each float64 threshold: for every float32 feature x, x <= t exactly when
    x <= this value, so float32 splits take scikit-learn's branches (it compares float32 features with float64
    thresholds)."""
    t32 = thresholds.astype(np.float32)
    above = t32.astype(np.float64) > thresholds
    t32[above] = np.nextafter(t32[above], np.float32(-np.inf))
    return t32


def _tree_node(trees, n_classes, name):
    """One ai.onnx.ml TreeEnsembleClassifier (float32 in, post-transform none) of the given scikit-learn trees:
    a leaf votes its class shares as the tree's predict_proba gives them (a pure leaf: exactly 1)."""
    from onnx import helper

    a = {k: [] for k in ("nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_values", "nodes_modes",
                         "nodes_truenodeids", "nodes_falsenodeids", "class_treeids", "class_nodeids", "class_ids",
                         "class_weights")}
    for k, tree in enumerate(t.tree_ for t in trees):
        leaf = tree.children_left < 0
        n = tree.node_count
        a["nodes_treeids"] += [k] * n
        a["nodes_nodeids"] += list(range(n))
        a["nodes_featureids"] += np.where(leaf, 0, tree.feature).tolist()
        a["nodes_values"] += np.where(leaf, 0, _float32_at_most(tree.threshold)).tolist()
        a["nodes_modes"] += ["LEAF" if x else "BRANCH_LEQ" for x in leaf]
        a["nodes_truenodeids"] += np.where(leaf, 0, tree.children_left).tolist()
        a["nodes_falsenodeids"] += np.where(leaf, 0, tree.children_right).tolist()
        values = tree.value[:, 0, :]
        shares = values / values.sum(axis=1, keepdims=True)
        node, cls = np.nonzero(leaf[:, None] & (shares > 0))
        a["class_treeids"] += [k] * len(node)
        a["class_nodeids"] += node.tolist()
        a["class_ids"] += cls.tolist()
        a["class_weights"] += shares[node, cls].tolist()
    # Every class declared in every node, with a zero vote where no leaf of the node votes for it (the empty third
    # class of a two-class forest always)
    for c in sorted(set(range(n_classes)) - set(a["class_ids"])):
        a["class_treeids"].append(0)
        a["class_nodeids"].append(int(np.flatnonzero(trees[0].tree_.children_left < 0)[0]))
        a["class_ids"].append(c)
        a["class_weights"].append(0.0)
    return helper.make_node("TreeEnsembleClassifier", ["features"], [f"{name}_label", f"{name}_votes"],
                            domain="ai.onnx.ml", name=name, classlabels_int64s=list(range(n_classes)),
                            post_transform="NONE", **a)


def to_onnx_bytes(model, n_features, metadata):
    """The fitted forest as ONNX in Prospectra's model format (models/MODEL_SPEC.md): input float32
    [batch, features, 1, 1] (a pixel-wise model, patch size 1), outputs 'probabilities' then 'label';
    metadata in metadata_props.

    Inside, the trees go five to a TreeEnsembleClassifier node, the nodes' votes are summed and divided by the
    number of trees (scikit-learn's probabilities), and the label is the class of the first largest sum (numpy's
    argmax, as scikit-learn). Five to a node because onnxruntime walks every tree of a node for one row before
    the next row: a node of 100 trees reads its nodes from memory, five stay in the core's cache (100 trees on
    4 M pixels here: one node 0.82x scikit-learn's throughput, five to a node 1.0x). A pure leaf votes exactly
    1, so float32 sums of votes are whole numbers, exact in any order, and ties break as in scikit-learn."""
    import onnx
    from onnx import TensorProto, helper

    trees = model.estimators_
    n_classes = len(model.classes_)
    # onnxruntime reads any two-class ensemble as one binary score and makes the other class's column from it
    # (wrong for summed votes): a two-class forest's nodes get a third class that no leaf votes for, dropped after.
    node_classes = max(n_classes, 3)
    groups = [trees[i:i + TREES_PER_NODE] for i in range(0, len(trees), TREES_PER_NODE)]
    nodes = [helper.make_node("Flatten", [ONNX_INPUT], ["features"], axis=1, name="flatten_patch")]
    nodes += [_tree_node(g, node_classes, f"trees_{i}") for i, g in enumerate(groups)]
    summed = "votes" if node_classes == n_classes else "votes_with_empty_class"
    nodes += [helper.make_node("Sum", [f"trees_{i}_votes" for i in range(len(groups))], [summed], name="votes")]
    if summed != "votes":
        nodes.append(helper.make_node("Gather", [summed, "real_classes"], ["votes"], axis=1, name="drop_empty_class"))
    nodes += [helper.make_node("Div", ["votes", "tree_count"], ["probabilities"], name="share_of_trees"),
              helper.make_node("ArgMax", ["votes"], ["class_index"], axis=1, keepdims=0, name="first_largest"),
              helper.make_node("Gather", ["class_values", "class_index"], ["label"], axis=0, name="class_value")]
    constants = [helper.make_tensor("tree_count", TensorProto.FLOAT, [], [float(len(trees))]),
                 helper.make_tensor("class_values", TensorProto.INT64, [n_classes],
                                    [int(c) for c in model.classes_])]
    if summed != "votes":
        constants.append(helper.make_tensor("real_classes", TensorProto.INT64, [n_classes], list(range(n_classes))))
    graph = helper.make_graph(
        nodes, "random_forest",
        [helper.make_tensor_value_info(ONNX_INPUT, TensorProto.FLOAT, ["batch", n_features, 1, 1])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", n_classes]),
         helper.make_tensor_value_info("label", TensorProto.INT64, ["batch"])], constants)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)],
                              producer_name="prospectra", producer_version=metadata.get("prospectra_version", ""),
                              doc_string=metadata.get("description", ""))
    proto.ir_version = 8  # as the CNN's export: older onnxruntime releases read it too
    helper.set_model_props(proto, {k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()})
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def _as_patches(X):
    """(rows, features) -> the model's (rows, features, 1, 1) float32 input, without copying float32 data."""
    return np.ascontiguousarray(X, dtype=np.float32).reshape(len(X), -1, 1, 1)


def onnx_agreement(model, model_bytes, X):
    """Compare onnxruntime's labels and probabilities with scikit-learn's on X (rows of float32 features)."""
    if len(X):
        labels, probabilities = predict_forest(new_session(model_bytes, threads=1), X)
    else:
        labels, probabilities = np.empty(0, np.int64), np.empty((0, len(model.classes_)))
    ref_labels, ref_prob = model.predict(X), model.predict_proba(X)
    differ = np.flatnonzero(labels != ref_labels)
    out = {"rows": int(len(X)), "agree": int(len(X) - len(differ)),
           "rate": float(1 - len(differ) / max(len(X), 1)),
           "max_probability_difference": float(np.abs(probabilities - ref_prob).max()) if len(X) else 0.0}
    if len(differ):
        top = np.sort(ref_prob[differ], axis=1)
        margins = top[:, -1] - top[:, -2]
        out["disagreements_top_two_margin"] = [float(m) for m in margins[:20]]
        out["disagreements_all_at_ties"] = bool(np.all(margins < TIE))
    return out


@dataclass
class TrainingResult:
    model_path: str
    report_path: str
    json_path: str
    params: dict
    metrics: dict
    folds: Folds
    samples: object
    model: object  # the fitted scikit-learn forest (in memory only; the file is ONNX)
    agreement: dict
    report: dict


def _pixels(samples):
    """One id per training pixel's position: equal ids, one pixel."""
    return samples.rows.astype(np.int64) * (int(samples.cols.max()) + 1) + samples.cols


def _check_classes(samples):
    present = [v for v in samples.classes.values if np.any(samples.y == v)]
    names = dict(zip(samples.classes.values, samples.classes.names))
    if len(present) < 2:
        lost = [names[v] for v in samples.classes.values if v not in present]
        raise InputError("TRAINING", f"only class '{names[present[0]]}' has training pixels on valid image pixels"
                                     + (f"; the features of {', '.join(repr(n) for n in lost)} fall outside the "
                                        "image or on nodata" if lost else "")
                                     + ". A classifier needs at least two classes.")
    for v in present:
        n = int(np.count_nonzero(samples.y == v))
        if n < 2:
            raise InputError("TRAINING", f"class '{names[v]}' has only 1 training pixel on the image; each class "
                                         "needs at least 2 (better 10 or more, in several places) to be learnt and "
                                         "tested. Add sites of this class or remove it from the layer.")
    places = len(np.unique(_pixels(samples)))
    if places < len(present):
        raise InputError("TRAINING", f"the {len(samples)} training pixels of {len(present)} classes lie on only "
                                     f"{places} distinct pixel(s) of the image (sites at one place share a pixel): no "
                                     "classifier can tell the classes apart there. Spread the sites over each class's "
                                     "ground.")
    if np.all(samples.X.min(axis=0) == samples.X.max(axis=0)):
        raise InputError("INPUT", f"every feature ({', '.join(samples.feature_names)}) has the same value at all "
                                  f"{len(samples)} training pixels (e.g. {samples.X[0, 0]:g}): the image carries "
                                  "nothing there to tell the classes apart; check the image and its SCALING.")
    dropped = [names[v] for v in samples.classes.values if v not in present]
    if dropped:
        keep = [v in present for v in samples.classes.values]
        samples.classes.values = [v for v, k in zip(samples.classes.values, keep) if k]
        samples.classes.names = [n for n, k in zip(samples.classes.names, keep) if k]
    return dropped


def train_random_forest(stack, samples, model_path, report_path, balancing="balanced", validation="spatial",
                        folds=5, block_pixels=0, iterations=20, max_trees=500, seed=42, description=None,
                        feedback=None, inputs=()):
    """Tune, assess and fit a Random Forest on samples; write the ONNX model and the HTML + JSON report
    (with PNG figures beside it). Nothing appears at the output paths unless everything succeeded. inputs: files
    read besides the image (the training layer), which no output may overwrite."""
    require("Random Forest training", *TRAINING_PACKAGES)

    check_outputs(stack.sources + list(inputs), MODEL=model_path, REPORT=report_path)
    if balancing not in BALANCING:
        raise InputError("CLASS_BALANCING", f"unknown choice '{balancing}'; choose one of {', '.join(BALANCING)}.")
    dropped = _check_classes(samples)
    log = feedback.pushInfo if feedback is not None else (lambda text: None)
    fold_set = cross_validation_folds(samples, validation, folds, seed, block_pixels)
    notes = list(fold_set.warnings)
    if dropped:
        notes.append(f"no training pixel of {', '.join(repr(d) for d in dropped)} lies on valid image pixels; "
                     f"the model does not know {'these classes' if len(dropped) > 1 else 'this class'}.")
    pixel = _pixels(samples)
    labels_per_pixel = np.unique(np.unique(np.column_stack([pixel, samples.y]), axis=0)[:, 0], return_counts=True)[1]
    contested = int(np.sum(labels_per_pixel > 1))
    if contested:
        notes.append(f"{contested} pixels are training sites of two or more classes (sites on one pixel, or "
                     f"overlapping polygons): the same spectrum is taught as different rocks there; check the "
                     f"training layer.")
        log(f"Warning: {notes[-1]}")
    log(f"{len(samples)} training pixels in {len(samples.classes.values)} classes; {fold_set.description}.")
    X, y = samples.X, samples.y
    space = search_space(max_trees)
    params, table, searched = tune(X, y, fold_set.splits, space, iterations, balancing, seed, feedback, (0, 60))
    log(f"Best of {len(table)} candidates: {params}.")
    metrics = evaluate(X, y, fold_set.splits, params, samples.classes, samples.feature_names, balancing, seed,
                       feedback, (60, 85))
    log(f"Cross-validated overall accuracy {metrics['overall_accuracy']:.3f}, kappa {metrics['kappa']:.3f}.")
    _Progress(feedback, 85, 100, 1).step()
    model = forest(params, balancing, seed, _jobs(len(y))).fit(X, y)
    model.n_jobs = -1
    nodes = int(sum(t.tree_.node_count for t in model.estimators_))
    if nodes > MAX_FOREST_NODES:
        raise InputError("MAX_TREES", f"the tuned forest has {nodes:,} nodes, too many for an ONNX file; lower "
                                      "MAX_TREES (fewer trees) and train again.")
    check = np.concatenate([X, stack.sample(VERIFY_PIXELS, seed)]) if VERIFY_PIXELS else X
    image = stack.image
    description = description or {}
    summary = (f"Random Forest ({params['n_estimators']} trees) classifying {', '.join(samples.classes.names)} from "
               f"{image.sensor.name} {', '.join(samples.feature_names)} in reflectance; trained by Prospectra.")
    metadata = {
        # keys of Prospectra's model format (models/MODEL_SPEC.md)
        "prospectra_spec": "1", "task": "classification", "sensor": image.sensor.id, "bands": ",".join(stack.bands),
        "patch_size": "1", "classes": samples.classes.names, "colours": lithology_colours(len(samples.classes.names)),
        "multi_label": "false", "version": "1.0.0",
        "licence": "not set: the trainer's choice (trained with Prospectra, GPL-3.0-or-later)",
        "training_data": (f"{len(samples)} pixels of {description.get('training layer', 'training sites')} "
                          f"(class field {description.get('class field', '?')}) on "
                          f"{description.get('image', ', '.join(os.path.basename(p) for p in image.sources))}"),
        "description": summary,
        # what the Random Forest classifier needs besides
        "prospectra_version": prospectra_version(), "algorithm": "random_forest",
        "sensor_name": image.sensor.name, "sensor_family": image.sensor.family,
        "extra_features": [e[3] for e in stack.extras], "feature_names": samples.feature_names,
        "input": (f"'{ONNX_INPUT}': float32 [batch, {len(samples.feature_names)}, 1, 1], features in feature_names "
                  "order; outputs 'probabilities' [batch, classes] then 'label' (class values)"),
        "scaling": "bands in surface reflectance (0-1) as Prospectra reads them; the training image was scaled by: "
                   + image.scaling_source,
        "class_values": samples.classes.values,
        "class_field_type": "text" if samples.classes.from_text else "integer",
        "hyperparameters": params, "class_weight": balancing, "validation": fold_set.description,
        "overall_accuracy": f"{metrics['overall_accuracy']:.4f}", "kappa": f"{metrics['kappa']:.4f}",
        "sklearn_version": importlib.import_module("sklearn").__version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    model_bytes = to_onnx_bytes(model, len(samples.feature_names), metadata)
    agreement = onnx_agreement(model, model_bytes, check)
    agreement["training_rows"], agreement["image_rows"] = int(len(X)), int(len(check) - len(X))
    if agreement["rate"] < 1:
        differ = agreement["rows"] - agreement["agree"]
        if agreement["disagreements_all_at_ties"]:
            notes.append(f"onnxruntime and scikit-learn label {differ} of {agreement['rows']} checked pixels "
                         "differently, all at exact ties of the forest's vote (two classes with the same mean "
                         "probability up to rounding): there the label depends only on the order in which each "
                         "library sums the trees' probabilities, and either class is as right as the other.")
        else:  # a model that is not the forest it reports on is never written
            raise ProspectraError(f"MODEL: the ONNX model written from the forest labels {differ} of "
                                  f"{agreement['rows']} checked pixels differently from the forest itself, not only "
                                  f"at ties (top-two probability margins there: "
                                  f"{agreement['disagreements_top_two_margin'][:5]}); no model was written. This is "
                                  f"a fault in Prospectra: please report it.")
    json_path = os.path.splitext(report_path)[0] + ".json"
    report = random_forest_report.build(
        samples=samples, folds=fold_set, params=params, table=table, searched=searched, space=space,
        iterations=iterations, metrics=metrics, balancing=balancing, balancing_label=BALANCING[balancing],
        scoring=SCORING, seed=seed, agreement=agreement,
        notes=notes, model_path=model_path, metadata=metadata, description=description, nodes=nodes)
    with OutputTransaction({"MODEL": model_path, "REPORT": report_path}):  # the model and its report, or neither
        write_file(model_path, model_bytes)
        random_forest_report.write(report, report_path, json_path)
    if feedback is not None:
        feedback.setProgress(100)
    return TrainingResult(model_path, report_path, json_path, params, metrics, fold_set, samples, model,
                          agreement, report)


@dataclass
class RandomForestModel:
    """A Prospectra Random Forest ONNX model, opened without running any code from the file."""
    path: str
    session: object
    meta: dict

    def __post_init__(self):
        m = self.meta
        self.sensor, self.sensor_name, self.sensor_family = m["sensor"], m.get("sensor_name", m["sensor"]), \
            m.get("sensor_family", m["sensor"])
        self.band_names = [b.strip() for b in m["bands"].split(",") if b.strip()]
        self.feature_names = json.loads(m["feature_names"])
        self.extra_features = json.loads(m.get("extra_features", "[]"))
        self.class_values = [int(v) for v in json.loads(m["class_values"])]
        self.class_names = [str(n) for n in json.loads(m["classes"])]
        if len(self.class_values) != len(self.class_names) or self.feature_names[:len(self.band_names)] != \
                self.band_names or len(self.feature_names) != len(self.band_names) + len(self.extra_features):
            raise ValueError("class values and names, or bands, extra features and feature names, disagree")
        if len(set(self.class_values)) != len(self.class_values) or len(set(self.class_names)) != \
                len(self.class_names) or not all(map(fits_class_raster, self.class_values)):
            raise ValueError("class values and names must be unique, and the values fit a class raster (int32)")


    def feature_stack(self, image, extra_paths=(), parameter="MODEL", extra_parameter="EXTRA_FEATURES"):
        """The image's features in the model's order, or an error naming what the model and image each have."""
        name = os.path.basename(self.path)
        if image.sensor.id != self.sensor and image.sensor.family != self.sensor_family:
            raise InputError(parameter, f"'{name}' was trained on {self.sensor_name} bands "
                                        f"{', '.join(self.band_names)}, but the image is {image.sensor.name} "
                                        f"(bands {', '.join(image.band_names)}). Classify a {self.sensor_name} image "
                                        "(check SENSOR), or train a model on this sensor.")
        missing = [b for b in self.band_names if b not in image.band_index]
        if missing:
            raise InputError(parameter, f"'{name}' needs bands {', '.join(self.band_names)} but the image has "
                                        f"{', '.join(image.band_names)} (missing {', '.join(missing)}). Give an image "
                                        "with all the model's bands (check BAND_ORDER), or train a model on these.")
        stack = FeatureStack(image, self.band_names, extra_paths, parameter, extra_parameter)
        if stack.names != self.feature_names:
            raise InputError(extra_parameter, f"'{name}' was trained with the extra features "
                                              f"{self.extra_features or 'none'}, but was given "
                                              f"{[e[3] for e in stack.extras] or 'none'}. Give the same kind of "
                                              "extra rasters, in the same order, as when it was trained.")
        image.require_reflectance(self.band_names)  # what the model learnt from (its 'scaling'): DN gave one class
        return stack


_REQUIRED_META = ("task", "sensor", "bands", "feature_names", "class_values", "classes")


def load_model(path, parameter="MODEL"):
    """Open an ONNX model written by train_random_forest (onnx_model.open_session refuses pickles unread)."""
    require("Random Forest classification", *CLASSIFY_PACKAGES)
    name = os.path.basename(path or "")
    # One onnxruntime thread per call: predict_forest runs batches side by side on every core.
    session = open_session(path, parameter, "Give the .onnx model written by 'Train Random Forest classifier'.",
                           threads=1)
    meta = dict(session.get_modelmeta().custom_metadata_map)
    missing = [k for k in _REQUIRED_META if k not in meta]
    if missing:
        raise InputError(parameter, f"'{name}' is an ONNX model but not one written by Prospectra's 'Train Random "
                                    f"Forest classifier' (it lacks {', '.join(missing)} in its metadata), so its "
                                    "bands and classes are unknown.")
    if meta["task"] != "classification":
        raise InputError(parameter, f"'{name}' is a {meta['task']} model, not a classification model.")
    try:
        model = RandomForestModel(path, session, meta)
    except (ValueError, TypeError) as e:
        raise InputError(parameter, f"'{name}' has unreadable Prospectra metadata ({e}).") from None
    inputs = session.get_inputs()
    if len(inputs) != 1 or inputs[0].name != ONNX_INPUT or list(inputs[0].shape[1:]) != \
            [len(model.feature_names), 1, 1] or [o.name for o in session.get_outputs()] != ["probabilities", "label"]:
        raise InputError(parameter, f"'{name}' does not have the input and outputs a Random Forest model of "
                                    f"Prospectra has ({ONNX_INPUT} [batch, {len(model.feature_names)}, 1, 1] in, "
                                    "probabilities and label out).")
    # The graph holds its own class values: one row run shows whether the metadata tells the same
    labels, probabilities = session.run(["label", "probabilities"],
                                        {ONNX_INPUT: np.zeros((1, len(model.feature_names), 1, 1), np.float32)})
    if probabilities.shape[1] != len(model.class_values) or int(labels[0]) not in model.class_values:
        raise InputError(parameter, f"'{name}': its metadata lists the classes {model.class_values}, but the model "
                                    f"itself holds {probabilities.shape[1]} classes (it labelled a test pixel "
                                    f"{int(labels[0])}); the file was altered. Train the model again.")
    return model


def class_raster_type(values):
    """(numpy dtype, nodata) of a class raster holding these class values: the smallest type with a free
    nodata value, 0 when it is not a class (as is usual)."""
    lo, hi = min(values), max(values)
    if lo >= 1 and hi <= 255:
        return np.uint8, 0
    if lo >= 0 and hi <= 254:
        return np.uint8, 255
    if lo > -32768 and hi <= 32767:
        return np.int16, -32768
    return np.int32, int(np.iinfo(np.int32).min)


def predict_forest(session, X):
    """(labels, probabilities) of the forest's session on X (rows of float32 features), with the engine's one
    batched predict (onnx_model.predict_rows)."""
    return predict_rows(lambda rows: tuple(session.run(["label", "probabilities"], {ONNX_INPUT: _as_patches(rows)})),
                        X)


def classify_random_forest(stack, model, output, probabilities=None, confidence=None, feedback=None):
    """Classify the image block by block: class raster (paletted by the caller), optionally one probability
    band per class and the confidence (highest probability). Returns {'pixels': {class value: count},
    'valid_pixels'}. Memory stays flat: each window is read, predicted with onnxruntime and written."""
    image = stack.image
    outputs = [p for p in (output, probabilities, confidence) if p]
    check_outputs(stack.sources + [model.path], OUTPUT=output, PROBABILITIES=probabilities,
                  CONFIDENCE=confidence)
    if len(set(os.path.realpath(p) for p in outputs)) != len(outputs):
        raise InputError("OUTPUT", "the class, probability and confidence rasters need different file names.")
    dtype, nodata = class_raster_type(model.class_values)
    values = np.array(model.class_values)
    blocks = list(windows(image.width, image.height, BLOCK_PIXELS,
                          input_block=image.ds.GetRasterBand(1).GetBlockSize()))
    counts = np.zeros(len(values), dtype=np.int64)
    geo = (image.width, image.height)
    with bounded_cache(), ExitStack() as stack_of_writers:
        cls = stack_of_writers.enter_context(RasterWriter(output, *geo, 1, dtype, image.geotransform,
                                                          image.projection, nodata, ["class"]))
        if dtype == np.uint8:  # before any pixel: GeoTIFF cannot change its colour model once data is flushed
            cls.set_classes({v: (n, c) for v, n, c in zip(model.class_values, model.class_names,
                                                          lithology_colours(len(model.class_values)))})
        prob = stack_of_writers.enter_context(RasterWriter(
            probabilities, *geo, len(values), np.float32, image.geotransform, image.projection, PROBABILITY_NODATA,
            [f"probability of {n}" for n in model.class_names])) if probabilities else None
        conf = stack_of_writers.enter_context(RasterWriter(
            confidence, *geo, 1, np.float32, image.geotransform, image.projection, PROBABILITY_NODATA,
            ["confidence (highest class probability)"])) if confidence else None
        for i, win in enumerate(blocks):
            if feedback is not None:
                if feedback.isCanceled():
                    raise Canceled("Canceled by the user; no output was written.")
                feedback.setProgress(100.0 * i / len(blocks))
            cube, valid = stack.read(win)
            h, w = valid.shape
            X = cube[:, valid].T  # (pixels, features) float32
            del cube
            out = np.full((h, w), nodata, dtype=dtype)
            p = None
            if len(X):
                labels, p = predict_forest(model.session, X)
                out[valid] = labels
                counts += np.array([np.count_nonzero(labels == v) for v in values])
            cls.write(0, win[0], win[1], out)
            if prob is not None:
                band = np.full((h, w), PROBABILITY_NODATA, dtype=np.float32)
                for k in range(len(values)):
                    if p is not None:
                        band[valid] = p[:, k]
                    prob.write(k, win[0], win[1], band)
            if conf is not None:
                band = np.full((h, w), PROBABILITY_NODATA, dtype=np.float32)
                if p is not None:
                    band[valid] = p.max(axis=1)
                conf.write(0, win[0], win[1], band)
        if counts.sum() == 0:
            raise InputError("INPUT", f"no pixel has valid data in every band the model needs "
                                      f"({', '.join(stack.names)}); the image is all nodata there.")
        classes = json.dumps(dict(zip([str(v) for v in model.class_values], model.class_names)))
        meta = {"PROSPECTRA_MODEL": os.path.basename(model.path), "PROSPECTRA_CLASSES": classes,
                "PROSPECTRA_SCALING": image.scaling_source}
        for w in (cls, prob, conf):
            if w is not None:
                w.set_metadata(meta)
    if feedback is not None:
        feedback.setProgress(100)
    return {"valid_pixels": int(counts.sum()),
            "pixels": {n: int(c) for n, c in zip(model.class_names, counts)}}

