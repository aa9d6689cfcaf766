#!/usr/bin/env python3
"""Benchmark: Random Forest prediction of the same 100-tree forest (trained on 5,000 samples of a generated
12-band Sentinel-2 L2A raster, 5000 x 5000 = 25 M pixels by default) on the image's valid pixels held in memory,
every way of evaluating the ONNX trees side by side in one process (issue 17):

  sklearn_chunked     the reference a competent user runs: scikit-learn's predict (n_jobs=-1, both cores) on
                      1,048,576-row chunks
  prospectra          the engine's kernel: onnxruntime on the stored model (ai.onnx.ml 3 TreeEnsembleClassifier
                      nodes of five trees, votes summed), 65,536-row batches side by side, one onnxruntime
                      thread each (random_forest.predict_forest)
  ort_one_batch       the same model, one batch at a time on all cores
  ort_one_node        all trees in one TreeEnsembleClassifier node as skl2onnx converts the forest (float32 in),
                      batches side by side (the engine's model before had this layout, behind a float64 cast)
  ort_opset5          the one-node trees rewritten to ai.onnx.ml opset 5 TreeEnsemble (float32 splits, a unit vote per
                      leaf), batches side by side; only for forests whose every leaf votes for one class
  numpy_kernel        a vectorised kernel of numpy over the one-node ONNX tree arrays: level by level, every pixel of a
                      65,536-row block at once, blocks on both cores (numpy releases the GIL)

Every option is warmed first, then the rounds are interleaved (another job on the machine hits all alike); the
median and min-max of the rounds are reported with each option's ratio of throughput to sklearn_chunked, and
every option's labels are checked against scikit-learn's in the same run (probabilities to float32 tolerance).

Usage: bench/bench_rf_predict.py [--size 5000] [--samples 5000] [--trees 100] [--rounds 3] [--skip numpy_kernel]
       [--workdir DIR]"""
import argparse
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from osgeo import gdal

from bench_band_ratio import STACK, bench_scene  # the same generated scene, with more varied bands

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import plugin_path  # noqa: E402,F401  (links the plugin and puts it on sys.path)
SEED = 0
SKLEARN_CHUNK = 2 ** 20
BATCH = 65_536


def image_and_forest(src):
    """The image (through Prospectra), 5,000 training samples at random pixels labelled by a noisy rule on
    reflectance (four classes), and the forest fitted on them: identical in every process."""
    from sklearn.ensemble import RandomForestClassifier

    from prospectra.core.io.image import open_image

    image = open_image(src, "sentinel2a_msi", scaling="sentinel2_offset")
    gdal.SetCacheMax(32 * 2 ** 20)  # the scattered sample reads below would otherwise fill GDAL's cache (5 % of RAM)
    rng = np.random.default_rng(SEED)
    size = image.width
    rows, cols = rng.integers(100, size, ARGS.samples), rng.integers(100, size, ARGS.samples)
    X = np.empty((ARGS.samples, len(STACK)), np.float32)
    for k, (r, c) in enumerate(zip(rows, cols)):
        cube, _ = image.read_stack(STACK, (int(c), int(r), 1, 1))
        X[k] = cube[:, 0, 0]
    score = X[:, 10] / X[:, 11] + 2 * X[:, 7] - X[:, 3] + rng.normal(0, 0.05, len(X))
    y = 1 + np.digitize(score, np.quantile(score, [0.25, 0.5, 0.75]))
    forest = RandomForestClassifier(ARGS.trees, random_state=SEED, n_jobs=-1, class_weight="balanced").fit(X, y)
    return image, forest


def write_model(forest, path):
    from prospectra.core.learning import random_forest as rf

    classes = [int(c) for c in forest.classes_]
    meta = {"prospectra_spec": "1", "task": "classification", "sensor": "sentinel2a_msi", "bands": ",".join(STACK),
            "patch_size": "1", "classes": [f"class {c}" for c in classes], "class_values": classes,
            "feature_names": STACK, "version": "bench", "licence": "bench", "training_data": "generated"}
    with open(path, "wb") as f:
        f.write(rf.to_onnx_bytes(forest, len(STACK), meta))


def whole_image(image, work):
    """The valid pixels of the whole image in row-major order as (n, 12) float32, cached as .npy for the
    other processes."""
    cache = os.path.join(work, f"pixels_{image.width}.npy")
    if os.path.exists(cache):
        return np.load(cache)
    cube = np.zeros((image.height, image.width, len(STACK)), np.float32)
    valid = np.zeros((image.height, image.width), bool)
    for x, y, w, h in image.windows():
        part, ok = image.read_stack(STACK, (x, y, w, h))
        cube[y:y + h, x:x + w] = part.transpose(1, 2, 0)
        valid[y:y + h, x:x + w] = ok
    X = cube[valid]
    del cube
    np.save(cache, X)
    return X


def write_one_node_model(forest, path):
    """The forest as skl2onnx converts it: one TreeEnsembleClassifier of every tree, float32 in."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    proto = to_onnx(forest, initial_types=[("x", FloatTensorType([None, len(STACK)]))],
                    options={id(forest): {"zipmap": False}}, target_opset={"": 17, "ai.onnx.ml": 3})
    with open(path, "wb") as f:
        f.write(proto.SerializeToString())


def tree_arrays(path):
    """The TreeEnsembleClassifier's attributes of the model file as numpy arrays."""
    import onnx
    from onnx import helper

    node = next(n for n in onnx.load(path).graph.node if n.op_type == "TreeEnsembleClassifier")
    return {a.name: np.array(helper.get_attribute_value(a)) for a in node.attribute}


def opset5_model(a):
    """The forest as one ai.onnx.ml opset 5 TreeEnsemble (n_targets = classes, each leaf a unit vote for its
    class, label = ArgMax), or None when a leaf votes for several classes (opset 5 gives a leaf one target)."""
    from onnx import TensorProto, helper, numpy_helper

    n_classes = len(a["classlabels_int64s"])
    weights = a["class_weights"].reshape(-1, n_classes)
    if np.any((weights > 0).sum(axis=1) != 1):
        return None
    tid, nid = a["nodes_treeids"], a["nodes_nodeids"]
    leaf = a["nodes_modes"] == b"LEAF"
    index = {(t, n): i for i, (t, n) in enumerate(zip(tid, nid))}
    inner, leaves = np.flatnonzero(~leaf), np.flatnonzero(leaf)
    inner_no, leaf_no = np.full(len(tid), -1), np.full(len(tid), -1)
    inner_no[inner], leaf_no[leaves] = np.arange(len(inner)), np.arange(len(leaves))
    target = np.zeros(len(tid), np.int64)
    rows = a["class_treeids"].reshape(-1, n_classes)[:, 0], a["class_nodeids"].reshape(-1, n_classes)[:, 0]
    target[[index[k] for k in zip(*rows)]] = weights.argmax(axis=1)

    def children(ids):
        g = np.array([index[(tid[i], c)] for i, c in zip(inner, ids[inner])])
        return np.where(leaf[g], leaf_no[g], inner_no[g]).tolist(), leaf[g].astype(int).tolist()

    true_ids, true_leafs = children(a["nodes_truenodeids"])
    false_ids, false_leafs = children(a["nodes_falsenodeids"])
    trees = np.unique(tid)
    ensemble = helper.make_node(
        "TreeEnsemble", ["x"], ["votes"], domain="ai.onnx.ml", aggregate_function=1, post_transform=0,
        n_targets=n_classes, tree_roots=[int(inner_no[index[(t, 0)]]) for t in trees],
        nodes_featureids=a["nodes_featureids"][inner].tolist(),
        nodes_splits=numpy_helper.from_array(a["nodes_values"][inner].astype(np.float32)),
        nodes_modes=numpy_helper.from_array(np.zeros(len(inner), np.uint8)),  # BRANCH_LEQ
        nodes_truenodeids=true_ids, nodes_trueleafs=true_leafs, nodes_falsenodeids=false_ids,
        nodes_falseleafs=false_leafs, leaf_targetids=target[leaves].tolist(),
        leaf_weights=numpy_helper.from_array(np.ones(len(leaves), np.float32)))
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["reflectance"], ["x"], axis=1), ensemble,
         helper.make_node("ArgMax", ["votes"], ["label"], axis=1, keepdims=0)], "forest",
        [helper.make_tensor_value_info("reflectance", TensorProto.FLOAT, ["batch", len(STACK), 1, 1])],
        [helper.make_tensor_value_info("votes", TensorProto.FLOAT, ["batch", n_classes]),
         helper.make_tensor_value_info("label", TensorProto.INT64, ["batch"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 5)],
                              ir_version=9)
    return model.SerializeToString(), len(trees)


class NumpyForest:
    """The ONNX tree arrays renumbered so that each node's two children are adjacent (true child first):
    one step down is child[node] + (x > threshold[node]); a leaf points to itself with an infinite threshold."""

    def __init__(self, a):
        tid, nid, leaf = a["nodes_treeids"], a["nodes_nodeids"], a["nodes_modes"] == b"LEAF"
        n_classes = len(a["classlabels_int64s"])
        votes = np.zeros((len(tid), n_classes))
        where = {(t, n): i for i, (t, n) in enumerate(zip(tid, nid))}
        np.add.at(votes, ([where[k] for k in zip(a["class_treeids"], a["class_nodeids"])], a["class_ids"]),
                  a["class_weights"].astype(np.float64))
        self.trees = []
        for t in np.unique(tid):
            sel = np.flatnonzero(tid == t)
            local = {n: i for i, n in enumerate(nid[sel])}
            order, depth, new = [local[0]], {local[0]: 0}, {local[0]: 0}
            for i in order:  # breadth first, grows while it runs
                g = sel[i]
                if not leaf[g]:
                    for c in (a["nodes_truenodeids"][g], a["nodes_falsenodeids"][g]):
                        new[local[c]], depth[local[c]] = len(order), depth[i] + 1
                        order.append(local[c])
            g = sel[order]
            child = np.arange(len(g))
            child[~leaf[g]] = [new[local[a["nodes_truenodeids"][k]]] for k in g[~leaf[g]]]
            threshold = np.where(leaf[g], np.inf, a["nodes_values"][g]).astype(np.float32)
            self.trees.append((child, a["nodes_featureids"][g].astype(np.intp), threshold, max(depth.values()),
                               votes[g]))

    def block(self, X):
        n, f = X.shape
        flat, base = np.ascontiguousarray(X).ravel(), np.arange(n, dtype=np.intp) * f
        proba = np.zeros((n, self.trees[0][4].shape[1]))
        node, idx, nxt = (np.empty(n, np.intp) for _ in range(3))
        value, threshold, right = np.empty(n, np.float32), np.empty(n, np.float32), np.empty(n, bool)
        for child, feature, thresholds, depth, votes in self.trees:
            node[:] = 0
            for _ in range(depth):
                np.take(feature, node, out=idx)
                idx += base
                np.take(flat, idx, out=value)
                np.take(thresholds, node, out=threshold)
                np.greater(value, threshold, out=right)
                np.take(child, node, out=nxt)
                np.add(nxt, right, out=node)
            proba += votes[node]
        return proba


def options(forest, model_path):
    """{name: predict(X) -> (labels, probabilities or None)} for every option measured."""
    from prospectra.core.learning import random_forest as rf
    from prospectra.core.learning.onnx_model import new_session, predict_rows

    model = rf.load_model(model_path)
    classes = forest.classes_
    one_batch = new_session(model_path)  # all cores in one call
    one_node_path = os.path.join(os.path.dirname(model_path), "forest_one_node.onnx")
    write_one_node_model(forest, one_node_path)
    one_node = new_session(one_node_path, threads=1)

    def ort_one_batch(X):
        parts = [one_batch.run(["label", "probabilities"], {"reflectance": X[i:i + BATCH].reshape(-1, len(STACK), 1, 1)})
                 for i in range(0, len(X), BATCH)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    found = {
        "sklearn_chunked": lambda X: (np.concatenate([forest.predict(X[i:i + SKLEARN_CHUNK])
                                                      for i in range(0, len(X), SKLEARN_CHUNK)]), None),
        "prospectra": lambda X: rf.predict_forest(model.session, X),
        "ort_one_batch": ort_one_batch,
        "ort_one_node": lambda X: predict_rows(lambda rows: tuple(one_node.run(["label", "probabilities"], {"x": rows})), X),
    }
    arrays = tree_arrays(one_node_path)
    v5 = opset5_model(arrays)
    if v5 is not None:
        session5, trees = new_session(v5[0], threads=1), v5[1]
        found["ort_opset5"] = lambda X: (lambda votes, label: (classes[label], votes / trees))(*predict_rows(
            lambda rows: tuple(session5.run(None, {"reflectance": rows.reshape(-1, len(STACK), 1, 1)})), X))
    else:
        print("ort_opset5 skipped: some leaves vote for several classes, which opset 5 cannot express per leaf")
    kernel = NumpyForest(arrays)

    def numpy_kernel(X):
        with ThreadPoolExecutor(os.cpu_count()) as pool:
            proba = np.concatenate(list(pool.map(kernel.block, [X[i:i + BATCH] for i in range(0, len(X), BATCH)])))
        return classes[proba.argmax(axis=1)], proba

    found["numpy_kernel"] = numpy_kernel
    return {k: v for k, v in found.items() if k not in ARGS.skip}


def main():
    # not the ratio and SAM benchmarks' scene: bands that vary more
    work, src = bench_scene(ARGS.workdir, ARGS.size, "s2_l2a_varied", noise=0.02, varied_bands=True)
    image, forest = image_and_forest(src)
    X = whole_image(image, work)
    model_path = os.path.join(work, "forest.onnx")
    write_model(forest, model_path)
    runs = options(forest, model_path)
    reference, reference_proba = forest.predict(X[:200_000]), forest.predict_proba(X[:200_000])
    checks, times = {}, {name: [] for name in runs}
    for name, predict in runs.items():  # warm: sessions, caches, the pixels in memory
        labels, proba = predict(X[:200_000])
        checks[name] = [bool(np.array_equal(labels, reference)),
                        None if proba is None else float(np.abs(proba - reference_proba).max())]
    sk_labels = None
    for r in range(ARGS.rounds):  # interleaved, so that a busy moment hits every option alike
        for name, predict in runs.items():
            start = time.perf_counter()
            labels, _ = predict(X)
            times[name].append(time.perf_counter() - start)
            print(f"round {r + 1}: {name} {times[name][-1]:.1f} s", flush=True)
            if name == "sklearn_chunked":
                sk_labels = labels
            elif r == 0:
                checks[name][0] &= bool(np.array_equal(labels, sk_labels if sk_labels is not None else
                                                       forest.predict(X)))
            del labels
    nodes = sum(e.tree_.node_count for e in forest.estimators_)
    print(f"\n{len(X):,} valid pixels x 12 features (12-band {ARGS.size} x {ARGS.size} uint16), forest of {ARGS.trees} "
          f"trees ({nodes:,} nodes) on {ARGS.samples:,} samples; {os.cpu_count()} cores; median of {ARGS.rounds} "
          f"interleaved rounds (min-max) after a warm-up; load average at the end {os.getloadavg()[0]:.1f}")
    base = float(np.median(times["sklearn_chunked"]))
    print(f"{'option':16s} {'median s':>9s} {'min-max s':>13s} {'throughput / sklearn_chunked':>29s}  labels equal  "
          "max |p - p_sklearn|")
    for name, values in times.items():
        med = float(np.median(values))
        diff = "-" if checks[name][1] is None else f"{checks[name][1]:.1e}"
        print(f"{name:16s} {med:9.1f} {min(values):6.1f}-{max(values):6.1f} {base / med:29.2f}  "
              f"{'yes' if checks[name][0] else 'NO':>12s}  {diff}")
    ours = float(np.median(times["prospectra"]))
    print(f"SUMMARY random forest: {base / ours:.2f}x scikit-learn's chunked predict throughput "
          f"({len(X) / 1e6:.0f} M px, {ARGS.trees} trees), labels equal: {'yes' if checks['prospectra'][0] else 'NO'}")
    if not ARGS.workdir:
        shutil.rmtree(work)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=5000)
    ap.add_argument("--samples", type=int, default=5000)
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported")
    ap.add_argument("--skip", default="", help="comma-separated options not to run (e.g. numpy_kernel)")
    ap.add_argument("--workdir")
    ARGS = ap.parse_args()
    ARGS.skip = [s for s in ARGS.skip.split(",") if s]
    main()
