"""Tiny ONNX models built by code, with outputs known in closed form, for testing the runtime and tiling."""
import json

import numpy as np
import onnx
from onnx import TensorProto, helper


def band_mean_model(path, bands, patch, classes=None, sensor="landsat8_oli", metadata=True, extra_meta=None,
                    rank=4):
    """Output j = mean over the patch of input band j % len(bands): a 'probability' when inputs lie in 0..1."""
    classes = classes or [f"mineral {j + 1}" for j in range(len(bands))]
    index = helper.make_tensor("index", TensorProto.INT64, [len(classes)], [j % len(bands) for j in range(len(classes))])
    shape = ["batch", len(bands), patch, patch][:rank]
    nodes = [helper.make_node("ReduceMean", ["x"], ["m"], axes=list(range(2, rank)), keepdims=0),
             helper.make_node("Gather", ["m", "index"], ["y"], axis=1)]
    graph = helper.make_graph(nodes, "band_mean", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", len(classes)])],
                              initializer=[index])
    meta = {}
    if metadata:
        meta = {"prospectra_spec": "1", "task": "tagging", "sensor": sensor, "bands": ",".join(bands),
                "patch_size": str(patch), "stride": str(max(1, patch // 2)), "classes": json.dumps(classes),
                "threshold": "0.5", "version": "0.0.1", "licence": "GPL-3.0-or-later",
                "training_data": "none: a closed-form test model", **(extra_meta or {})}
    return save(graph, meta, path)


def save(graph, meta, path):
    """The graph as a checked ONNX model (opset 13, IR 8) with meta as its metadata_props, at path."""
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return str(path)


def brute_force_probabilities(cube, valid, patch, stride, outputs):
    """Reference: for every pixel, the mean of band_mean_model's outputs over all nodata-free patches
    covering it (patches start every stride pixels plus one flush with the far edge; smaller images are
    edge-padded). cube: (bands, rows, cols). Returns (outputs, rows, cols) with NaN where uncovered."""
    bands, rows, cols = cube.shape
    ph, pw = max(rows, patch), max(cols, patch)
    cube = np.pad(cube, ((0, 0), (0, ph - rows), (0, pw - cols)), mode="edge")
    valid = np.pad(valid, ((0, ph - rows), (0, pw - cols)), mode="edge")
    starts_y = sorted(set(range(0, ph - patch + 1, stride)) | {ph - patch})
    starts_x = sorted(set(range(0, pw - patch + 1, stride)) | {pw - patch})
    total = np.zeros((outputs, ph, pw))
    n = np.zeros((ph, pw))
    for y in starts_y:
        for x in starts_x:
            if not valid[y:y + patch, x:x + patch].all():
                continue
            means = cube[:, y:y + patch, x:x + patch].astype(np.float64).mean(axis=(1, 2))
            total[:, y:y + patch, x:x + patch] += np.array([means[j % bands] for j in range(outputs)])[:, None, None]
            n[y:y + patch, x:x + patch] += 1
    with np.errstate(invalid="ignore"):
        out = total / n
    return out[:, :rows, :cols]


def constant_model(path, values, bands, patch, meta):
    """Outputs the constant vector values for every patch, whatever its pixels (NaN and out-of-range values
    included): for models that break the rules. meta: the Prospectra metadata, written as given."""
    const = helper.make_tensor("c", TensorProto.FLOAT, [len(values)], [float(v) for v in values])
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    zero = helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])
    nodes = [helper.make_node("ReduceMean", ["x"], ["m"], axes=[1, 2, 3], keepdims=0),
             helper.make_node("Unsqueeze", ["m", "axes"], ["m1"]),
             helper.make_node("Mul", ["m1", "zero"], ["z"]),
             helper.make_node("Add", ["z", "c"], ["y"])]
    graph = helper.make_graph(nodes, "constant",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", len(bands), patch, patch])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", len(values)])],
                              initializer=[const, axes, zero])
    return save(graph, meta, path)
