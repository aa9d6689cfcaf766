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
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from simulate_patches import PATCH, make_patches, model_bands, pure_patches, split_samples  # noqa: E402

from prospectra.core.sensors import sensor as get_sensor  # noqa: E402
from prospectra.core.spectral.spectral_angle_mapper import IDENTIFIED, identifiability  # noqa: E402
from prospectra.core.spectral.spectral_library import usgs_selection  # noqa: E402

SAMPLE = 300  # held-out patches kept in the repo for the test suite
PURE_SAMPLE = 30  # pure patches of held-out samples per mineral kept in the repo


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


def fit(model, xt, yt, xv, yv, epochs, verbose=False):
    """Adam at 0.001 on batches of 128 with a binary cross-entropy, for epochs; the model is left at its best
    epoch by validation loss (eval mode). Returns that loss."""
    import torch

    optimiser, loss_fn = torch.optim.Adam(model.parameters(), lr=1e-3), torch.nn.BCELoss()
    best, best_state = np.inf, None
    for epoch in range(epochs):
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
        if verbose:
            print(f"epoch {epoch + 1}: validation loss {val_loss:.4f}", flush=True)
        if val_loss < best:
            best, best_state = val_loss, {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    model.eval()
    return best


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


def choose_minerals(sensor_id):
    """Paper 001's minerals the sensor can identify: two or more USGS samples (one to hold out) and identified
    among the candidates in at least IDENTIFIED of unseen samples (docs/identifiability.md). Returns (minerals,
    {left-out mineral: why})."""
    sensor = get_sensor(sensor_id)
    entries = usgs_selection()["paper001_endmembers"]
    candidates = [e["name"] for e in entries]
    split = split_samples(candidates, sensor, model_bands(sensor))
    left_out = {m: "a single USGS sample: nothing to hold out, so no claim about unseen samples can be tested"
                for m in candidates if m not in split}
    _, rows = identifiability(sensor, [m for m in candidates if m in split])
    for name, _, share, confusions, _ in rows:
        if share < IDENTIFIED:
            left_out[name] = (f"unseen samples identified {share:.0%} by {sensor.name}'s bands"
                              + (f" (mistaken for {confusions[0][1]} {confusions[0][0]:.0%})" if confusions else ""))
    return [m for m in candidates if m not in left_out], left_out


def choose_distractors(sensor, minerals, confused=0.2):
    """The other minerals Prospectra names (the library's preferred samples), which real ground may hold: mixed in
    unlabelled so that the model does not call them by a name it knows. Left out: those the sensor confuses with
    a tagged mineral, since a patch of them is, for this sensor, that mineral; and the other white micas when
    sericite is tagged, since sericite is fine-grained white mica (muscovite, illite and their kin)."""
    aliases = usgs_selection()["aliases"]
    tagged = {aliases.get(m, m) for m in minerals}
    same_group = {"Illite", "Lepidolite"} if "Sericite" in minerals else set()
    others = [m for m in usgs_selection()["preferred_samples"] if m not in tagged and m not in same_group]
    names = [aliases.get(m, m) for m in minerals] + others
    _, rows = identifiability(sensor, names)
    share = {(r[0], n): s for r in rows for s, n in r[3]}
    return [m for m in others if not any(share.get((m, t), 0) >= confused or share.get((t, m), 0) >= confused
                                         for t in tagged)]


def dominant_accuracy(probabilities, which, minerals):
    """Per mineral: the share of its pure patches whose highest probability is that mineral."""
    top = probabilities.argmax(axis=1)
    return {m: float(np.mean(top[which == k] == k)) for k, m in enumerate(minerals)}


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
    colour_of = {e["name"]: e["colour"] for e in usgs_selection()["paper001_endmembers"]}
    minerals, left_out = choose_minerals(args.sensor)
    print(f"minerals: {', '.join(minerals)}; left out: {', '.join(left_out)}", flush=True)
    distractors = choose_distractors(sensor, minerals)
    print(f"distractors: {', '.join(distractors)}", flush=True)
    x, y, bands = make_patches(args.patches, args.sensor, args.shared, minerals, seed=args.seed, distractors=distractors)
    n_train, n_val = int(0.70 * len(x)), int(0.15 * len(x))
    train, val, test = slice(0, n_train), slice(n_train, n_train + n_val), slice(n_train + n_val, None)
    mean = x[train].mean(axis=(0, 2, 3))
    std = x[train].std(axis=(0, 2, 3))

    def tensor(a):
        return torch.from_numpy(((a - mean[None, :, None, None]) / std[None, :, None, None]).astype(np.float32))

    model = build_model(len(bands), len(minerals))
    xt, yt = tensor(x[train]), torch.from_numpy(y[train].astype(np.float32))
    xv, yv = tensor(x[val]), torch.from_numpy(y[val].astype(np.float32))
    best = fit(model, xt, yt, xv, yv, args.epochs, verbose=True)

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
            "classes": json.dumps(minerals), "colours": json.dumps([colour_of[m] for m in minerals]),
            "multi_label": "true", "threshold": "0.5", "version": "2.0.0", "licence": "GPL-3.0-or-later",
            "training_data": f"SIMULATED: the training samples of {len(minerals)} USGS splib07 minerals (held-out "
                             f"samples kept apart) mixed into real Sentinel-2 background pixels in blobs, veins and "
                             f"halos; not field-validated",
            "description": f"Tags {PATCH} x {PATCH}-pixel patches of {sensor.name} reflectance with the alteration "
                           f"minerals it can identify (Munzareen et al. 2025 architecture family)"}
    for key, value in meta.items():
        entry = onnx_model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(onnx_model, path)

    # Measure through Prospectra's own runtime, on data the model never saw: (1) held-out patches of the
    # training samples, (2) patches made only of held-out samples, mixed and pure, (3) real ground (Landsat).
    from prospectra.core.learning.onnx_model import load_model

    runtime = load_model(path)
    test_metrics = scores(y[test], runtime.predict(x[test]), minerals)
    hx, hy, _ = make_patches(3000, args.sensor, args.shared, minerals, seed=args.seed + 1, part="heldout")
    heldout_metrics = scores(hy, runtime.predict(hx), minerals)
    px, pw = pure_patches(200, args.sensor, minerals, seed=args.seed + 2)
    pure = dominant_accuracy(runtime.predict(px), pw, minerals)
    sample_x = x[test][:SAMPLE].astype(np.float16)
    sample_y = y[test][:SAMPLE]
    sample_metrics = scores(sample_y, runtime.predict(sample_x.astype(np.float32)), minerals)
    keep = np.concatenate([np.flatnonzero(pw == k)[:PURE_SAMPLE] for k in range(len(minerals))])
    pure_sample = dominant_accuracy(runtime.predict(px[keep].astype(np.float16).astype(np.float32)), pw[keep], minerals)
    os.makedirs(os.path.join(MODELS, "heldout"), exist_ok=True)
    np.savez_compressed(os.path.join(MODELS, "heldout", f"{name}_sample.npz"), patches=sample_x, labels=sample_y,
                        pure_patches=px[keep].astype(np.float16), pure_mineral=pw[keep])
    ground = None
    if sensor.family == "landsat_oli":
        sys.path.insert(0, os.path.join(MODELS, "..", "scripts"))
        import tempfile

        import validate_cuprite

        with tempfile.TemporaryDirectory() as work:
            ground = validate_cuprite.tagging(work, path)
    metrics = {"model": name, "sensor": args.sensor, "bands": bands, "minerals": minerals, "left_out": left_out,
               "distractors": distractors,
               "patches": {"train": n_train, "validation": n_val, "test": len(x) - n_train - n_val},
               "seed": args.seed, "epochs_run": args.epochs, "best_validation_loss": best, "test": test_metrics,
               "heldout_samples": heldout_metrics, "pure_heldout": pure, "repo_sample": sample_metrics,
               "repo_pure_sample": pure_sample, "cuprite": ground, "trained": datetime.date.today().isoformat(),
               "size_bytes": os.path.getsize(path)}
    with open(os.path.join(MODELS, f"{name}.metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
    write_card(name, sensor, bands, minerals, metrics, args)
    print(json.dumps({"held-out patches": test_metrics["micro"], "held-out samples": heldout_metrics["micro"],
                      "pure held-out samples": pure}, indent=1))


def write_card(name, sensor, bands, minerals, m, args):
    t, h, s = m["test"], m["heldout_samples"], m["repo_sample"]
    rows = "\n".join(f"| {n} | {v['support']} | {v['f1']:.3f} | {h['per_mineral'][n]['support']} | "
                     f"{h['per_mineral'][n]['precision']:.3f} | {h['per_mineral'][n]['recall']:.3f} | "
                     f"{h['per_mineral'][n]['f1']:.3f} | {m['pure_heldout'][n]:.1%} |" for n, v in t["per_mineral"].items())
    left = "\n".join(f"- **{k}**: {v}." for k, v in m["left_out"].items())
    ground = ""
    if m.get("cuprite"):
        g = m["cuprite"]
        lines = "\n".join(f"| {k} | {v['patches_true']} | {v['patches_tagged']} | {v['precision']:.3f} | "
                           f"{v['recall']:.3f} | {v['f1']:.3f} |" for k, v in g["classes"].items())
        absent = g["tags_of_minerals_absent_here"]
        ground = f"""
**3. Real ground: Cuprite, Nevada** (`scripts/validate_cuprite.py`; AVIRIS 1995 as TM bands 1-5 and 7 standing for
OLI B2-B7, TM1 also for OLI B1; {g['patches']} patches of {g['patch_size']} x {g['patch_size']} pixels; a patch's true
tags are the minerals covering at least 10 % of it in the USGS Tetracorder map; sericite = Tetracorder's white mica).

| mineral | patches with it | patches tagged | precision | recall | F1 |
|---|---|---|---|---|---|
{lines}

Tags of minerals Tetracorder does not map there (false tags): {', '.join(f'{k} {v}' for k, v in absent.items()) or 'none'}.
On real, mixed ground the tagger is far weaker than on its simulation: it finds some alunite and rarely tags
the white mica that Tetracorder maps over half the scene, because in six broad bands fine-grained mica mixed with
clays and carbonate looks like the minerals the model was taught not to tag. It was not tuned to Cuprite.
"""
    curves = "; the Sentinel-2A or 2B response curves at random" if sensor.family == "sentinel2_msi" else ""
    commit = subprocess.run(["git", "-C", os.path.dirname(MODELS), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "unknown"
    text = f"""# Model card: `{name}.onnx`

**What it does.** Tags {PATCH} x {PATCH}-pixel patches of {sensor.name} surface reflectance (bands
{', '.join(bands)}) with the alteration minerals of Munzareen et al. (2025) that {sensor.name} can identify:
{', '.join(minerals)} (sericite = fine-grained white mica, trained on USGS muscovite). Multi-label: one
probability per mineral; a mineral is tagged at probability >= 0.5.

**Minerals not offered, and why.** The paper's other minerals were left out by a rule, before training: a
mineral needs two or more USGS samples (one to hold out) and its unseen samples must be identified in at least
75 % of trials by leaving one sample out ({sensor.name} bands, noise 0.01, `docs/identifiability.md`):
{left}

**Data: simulated, not field-validated.** Every patch was generated by `models/training/simulate_patches.py`:
real Sentinel-2 background pixels (RStoolbox L2A scene, Brazil; eo-learn L1C scenes, Slovenia; for Landsat-8
converted to OLI bands through the response curves), into which 0-3 mineral bodies were mixed linearly in
blobs, veins, halos or whole-patch outcrops (abundance up to 1), each body one USGS sample of its mineral or a
blend of two; 40 % of patches also hold an unlabelled body of another mineral ({len(m['distractors'])}
minerals Prospectra names that the model does not tag, so that it learns not to call them by a name it knows);
brightness 0.6-1.4 with a gentle slope across the patch, noise 0.002-0.01 reflectance{curves}.
A mineral counts as present when at least 4 pixels hold 25 % of it or more. **Each mineral's USGS samples are
split by physical sample: about a third held out and never used in training.** The training data are not
stored; the script regenerates them exactly from `../shared/data` with seed {m['seed']}.

**Architecture.** Conv 3x3 32 - maxpool - Conv 32 - maxpool - Conv 64 - maxpool - Conv 128 - global maxpool -
Dense 512 - Dropout 0.5 - Dense {len(minerals)} - sigmoid: the Conv2D 32-32-64-128 / Dense 512 / dropout /
sigmoid family of Munzareen et al. (2025, Figures 10-11), adapted to {len(bands)}-band {PATCH} x {PATCH}
reflectance patches and to multi-label output. Normalisation per band is in the metadata. File size
{m['size_bytes'] / 1024:.0f} KB. Split of the training-sample patches: {m['patches']['train']} training,
{m['patches']['validation']} validation (best of {m['epochs_run']} epochs by validation loss), {m['patches']['test']} test.

**Measured three ways, on data the model never saw.**
1. Held-out patches of the training samples ({t['patches']} patches): micro F1 {t['micro']['f1']:.3f}.
2. Patches made only of **held-out samples**: {h['patches']} mixed patches (micro F1 {h['micro']['f1']:.3f}) and 200
   pure patches per mineral (one held-out sample filling the patch; "pure, right": the share whose highest
   probability is the right mineral; goal 90 %).

| mineral | held-out patches with it | F1 | patches of held-out samples with it | precision | recall | F1 | pure, right |
|---|---|---|---|---|---|---|---|
{rows}
{ground}
**Repo sample.** {s['patches']} held-out patches and {PURE_SAMPLE} pure held-out-sample patches per mineral are kept in
`models/heldout/{name}_sample.npz` (float16): micro F1 {s['micro']['f1']:.3f}, macro F1 {s['macro']['f1']:.3f};
`test/core/test_bundled_taggers.py` re-measures these and fails below them.

**Reproduce.** `.venv/bin/pip install -c constraints.txt torch==2.13.0`, then
`.venv/bin/python models/training/train_tagger.py --sensor {args.sensor} --patches {args.patches} \\
--epochs {args.epochs} --seed {args.seed}`
(trained {m['trained']} on 2 CPU cores in about a minute) in a checkout at commit {commit}: the script chooses the
minerals and the distractors by the identifiability rule of the checkout it runs in, so another rule trains
another model.

Licence GPL-3.0-or-later. Spectra: USGS splib07 (public domain); backgrounds: Copernicus Sentinel-2 data.
"""
    with open(os.path.join(MODELS, f"{name}.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
