#!/usr/bin/env python3
"""Train a bundled mineral tagger on SIMULATED patches (simulate_patches.py) and write, into models/:
tagger_<sensor>.onnx (with Prospectra metadata, models/MODEL_SPEC.md), tagger_<sensor>.md (the model card),
tagger_<sensor>.metrics.json, and heldout/tagger_<sensor>_sample.npz (a fixed held-out sample that the test
suite re-measures).

Architecture: the family of Munzareen et al. (2025), Figures 10-11 (Conv2D 32-32-64-128 with max-pooling,
Dense 512, dropout, sigmoid), adapted: input is a 16 x 16 patch of multispectral reflectance instead of a
150 x 150 RGB picture of a SAM map, and the output is one sigmoid per mineral (multi-label) instead of a
single feldspar-or-chalcocite unit. Split 70/15/15 as in the paper.

Needs PyTorch (CPU is enough; a development dependency, not the plugin's) and onnx:
    .venv/bin/pip install -c constraints.txt torch==2.13.0
    .venv/bin/python models/training/train_tagger.py --sensor landsat8_oli
    .venv/bin/python models/training/train_tagger.py --sensor sentinel2a_msi"""
import argparse
import datetime
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from simulate_patches import PATCH, make_patches  # noqa: E402

from prospectra.core.sensors import sensor as get_sensor  # noqa: E402
from prospectra.core.spectral_library import usgs_selection  # noqa: E402

SAMPLE = 300  # held-out patches kept in the repo for the test suite


def build_model(bands, classes, width=1):
    """width multiplies every convolution's channels (1: the bundled taggers)."""
    import torch.nn as nn

    def block(i, o, pool):
        return [nn.Conv2d(i, o, 3, padding=1), nn.ReLU(), pool]

    c = [32 * width, 32 * width, 64 * width, 128 * width]
    return nn.Sequential(*block(bands, c[0], nn.MaxPool2d(2)), *block(c[0], c[1], nn.MaxPool2d(2)),
                         *block(c[1], c[2], nn.MaxPool2d(2)), *block(c[2], c[3], nn.AdaptiveMaxPool2d(1)),
                         nn.Flatten(), nn.Linear(c[3], 512), nn.ReLU(), nn.Dropout(0.5), nn.Linear(512, classes),
                         nn.Sigmoid())


def scores(y_true, y_prob, names, threshold=0.5):
    from sklearn.metrics import f1_score, precision_score, recall_score

    y_pred = (y_prob >= threshold).astype(int)
    per = {n: {"precision": float(precision_score(y_true[:, j], y_pred[:, j], zero_division=0)),
               "recall": float(recall_score(y_true[:, j], y_pred[:, j], zero_division=0)),
               "f1": float(f1_score(y_true[:, j], y_pred[:, j], zero_division=0)),
               "support": int(y_true[:, j].sum())} for j, n in enumerate(names)}
    out = {"per_mineral": per, "threshold": threshold, "patches": int(len(y_true))}
    for avg in ("micro", "macro"):
        out[avg] = {"precision": float(precision_score(y_true, y_pred, average=avg, zero_division=0)),
                    "recall": float(recall_score(y_true, y_pred, average=avg, zero_division=0)),
                    "f1": float(f1_score(y_true, y_pred, average=avg, zero_division=0))}
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sensor", required=True)
    ap.add_argument("--shared", default=os.path.join(MODELS, "..", "..", "shared", "data"))
    ap.add_argument("--patches", type=int, default=16000)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import onnx
    import torch

    torch.manual_seed(args.seed)
    torch.set_num_threads(os.cpu_count() or 1)
    sensor = get_sensor(args.sensor)
    entries = usgs_selection()["paper001_endmembers"]
    minerals = [e["name"] for e in entries]
    x, y, bands = make_patches(args.patches, args.sensor, args.shared, minerals, seed=args.seed)
    n_train, n_val = int(0.70 * len(x)), int(0.15 * len(x))
    train, val, test = slice(0, n_train), slice(n_train, n_train + n_val), slice(n_train + n_val, None)
    mean = x[train].mean(axis=(0, 2, 3))
    std = x[train].std(axis=(0, 2, 3))

    def tensor(a):
        return torch.from_numpy(((a - mean[None, :, None, None]) / std[None, :, None, None]).astype(np.float32))

    model = build_model(len(bands), len(minerals))
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.BCELoss()
    xt, yt = tensor(x[train]), torch.from_numpy(y[train].astype(np.float32))
    xv, yv = tensor(x[val]), torch.from_numpy(y[val].astype(np.float32))
    best, best_state, history = np.inf, None, []
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(xt))
        for b in range(0, len(xt), 128):
            idx = order[b:b + 128]
            optimiser.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            optimiser.step()
        model.eval()
        with torch.no_grad():
            val_loss = float(loss_fn(model(xv), yv))
        history.append(val_loss)
        print(f"epoch {epoch + 1}: validation loss {val_loss:.4f}", flush=True)
        if val_loss < best:
            best, best_state = val_loss, {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    model.eval()

    name = f"tagger_{sensor.family}"
    path = os.path.join(MODELS, f"{name}.onnx")
    torch.onnx.export(model, torch.zeros(1, len(bands), PATCH, PATCH), path, input_names=["patches"],
                      output_names=["probabilities"], dynamic_axes={"patches": {0: "batch"},
                                                                    "probabilities": {0: "batch"}},
                      opset_version=17, dynamo=False)
    onnx_model = onnx.load(path)
    meta = {"prospectra_spec": "1", "task": "tagging", "sensor": args.sensor, "bands": ",".join(bands),
            "patch_size": str(PATCH), "stride": str(PATCH // 2),
            "normalisation": json.dumps({"mean": mean.round(6).tolist(), "std": std.round(6).tolist()}),
            "classes": json.dumps(minerals), "colours": json.dumps([e["colour"] for e in entries]),
            "multi_label": "true", "threshold": "0.5", "version": "1.0.0", "licence": "GPL-3.0-or-later",
            "training_data": f"SIMULATED: {len(minerals)} USGS splib07 alteration minerals mixed into real "
                             f"Sentinel-2 background pixels in blobs, veins and halos; not field-validated",
            "description": f"Tags {PATCH} x {PATCH}-pixel patches of {sensor.name} reflectance with alteration "
                           f"minerals (Munzareen et al. 2025 architecture family)"}
    for key, value in meta.items():
        entry = onnx_model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(onnx_model, path)

    # Measure through Prospectra's own runtime, on data the model never saw.
    sys.path.insert(0, os.path.join(MODELS, "..", "build", "plugins"))
    from prospectra.core.onnx_model import load_model

    runtime = load_model(path)
    test_metrics = scores(y[test], runtime.predict(x[test]), minerals)
    sample_x = x[test][:SAMPLE].astype(np.float16)
    sample_y = y[test][:SAMPLE]
    sample_metrics = scores(sample_y, runtime.predict(sample_x.astype(np.float32)), minerals)
    os.makedirs(os.path.join(MODELS, "heldout"), exist_ok=True)
    np.savez_compressed(os.path.join(MODELS, "heldout", f"{name}_sample.npz"), patches=sample_x, labels=sample_y)
    metrics = {"model": name, "sensor": args.sensor, "bands": bands, "patches": {
        "train": n_train, "validation": n_val, "test": len(x) - n_train - n_val}, "seed": args.seed,
        "epochs_run": args.epochs, "best_validation_loss": best, "test": test_metrics, "repo_sample": sample_metrics,
        "trained": datetime.date.today().isoformat(), "size_bytes": os.path.getsize(path)}
    with open(os.path.join(MODELS, f"{name}.metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
    write_card(name, sensor, bands, minerals, metrics, args)
    print(json.dumps({k: test_metrics[k] for k in ("micro", "macro")}, indent=1))


def write_card(name, sensor, bands, minerals, m, args):
    t = m["test"]
    rows = "\n".join(f"| {n} | {v['support']} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} |"
                     for n, v in t["per_mineral"].items())
    s = m["repo_sample"]
    text = f"""# Model card: `{name}.onnx`

**What it does.** Tags {PATCH} x {PATCH}-pixel patches of {sensor.name} surface reflectance (bands
{', '.join(bands)}) with the alteration minerals of Munzareen et al. (2025) that the USGS Spectral Library
Version 7 holds: {', '.join(minerals)} (feldspar = orthoclase, sericite = muscovite; chalcocite is not in
USGS splib07). Multi-label: one probability per mineral; a mineral is tagged at probability >= 0.5.

**Data: simulated, not field-validated.** Every patch was generated by `models/training/simulate_patches.py`:
real Sentinel-2 background pixels (RStoolbox L2A scene, Brazil; eo-learn L1C scenes, Slovenia; for Landsat-8
converted to OLI bands through the response curves), into which 0-3 USGS mineral spectra were mixed linearly
in blobs, veins or halos (peak abundance 0.4-0.9), with a brightness factor 0.75-1.25 and noise of
0.004 reflectance. A mineral counts as present when at least 4 pixels hold 25 % of it or more. The model
has never seen a real outcrop: treat its tags as hypotheses to check, and retrain on labelled patches of
your own area for real use. The training data are not stored; the script regenerates them exactly from
`../shared/data` with seed {m['seed']}.

**Architecture.** Conv 3x3 32 - maxpool - Conv 32 - maxpool - Conv 64 - maxpool - Conv 128 - global maxpool -
Dense 512 - Dropout 0.5 - Dense {len(minerals)} - sigmoid: the Conv2D 32-32-64-128 / Dense 512 / dropout /
sigmoid family of Munzareen et al. (2025, Figures 10-11), adapted to {len(bands)}-band {PATCH} x {PATCH}
reflectance patches (instead of 150 x 150 RGB images of a SAM map) and to multi-label output (instead of one
feldspar-or-chalcocite unit). Normalisation per band (mean, std of the training patches) is in the metadata.
File size {m['size_bytes'] / 1024:.0f} KB.

**Split.** {m['patches']['train']} training, {m['patches']['validation']} validation (best epoch by
validation loss of {m['epochs_run']}), {m['patches']['test']} test patches (70/15/15, as in the paper).

**Held-out test set ({t['patches']} patches, never seen in training or model selection).**

| mineral | patches with it | precision | recall | F1 |
|---|---|---|---|---|
{rows}
| **micro average** | | {t['micro']['precision']:.3f} | {t['micro']['recall']:.3f} | {t['micro']['f1']:.3f} |
| **macro average** | | {t['macro']['precision']:.3f} | {t['macro']['recall']:.3f} | {t['macro']['f1']:.3f} |

**Repo sample.** The first {s['patches']} test patches are kept in `models/heldout/{name}_sample.npz`
(float16); on them the model scores micro F1 {s['micro']['f1']:.3f} and macro F1 {s['macro']['f1']:.3f}.
`test/core/test_bundled_taggers.py` re-measures these and fails below them.

**Reproduce.** `.venv/bin/pip install -c constraints.txt torch==2.13.0`, then
`.venv/bin/python models/training/train_tagger.py --sensor {args.sensor} --patches {args.patches} --epochs {args.epochs} --seed {args.seed}`
(trained {m['trained']} on 2 CPU cores).

Licence GPL-3.0-or-later. Spectra: USGS splib07 (public domain); backgrounds: Copernicus Sentinel-2 data.
"""
    with open(os.path.join(MODELS, f"{name}.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
