#!/usr/bin/env python3
"""Train the bundled GF-2 PMS RE2O3 inversion model on SIMULATED data and write, into models/:
inversion_gf2_pms.onnx, inversion_gf2_pms.md (the model card), inversion_gf2_pms.metrics.json and
heldout/inversion_gf2_pms_sample.npz (pixels of an independent simulated scene with their true content, which
the test suite re-measures).

The pipeline is the plugin's own (prospectra:traininversion, through the same engine function): a simulated GF-2
scene and 374 soil samples (test/data/simulated_ree.py), a third of the samples held out in whole spatial blocks,
the training samples alone kriged onto the scene (surface-to-surface set), all five models fitted and the best
chosen by cross-validated RMSE on the training part, then judged on the held-out samples' measured values.
Then the chosen model maps a second, independent simulated scene (another seed), and is scored against that
scene's true content.

    .venv/bin/python models/training/train_inversion.py"""
import datetime
import json
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.dirname(HERE)
ROOT = os.path.dirname(MODELS)
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import plugin_path  # noqa: E402,F401  (makes 'prospectra' importable)
sys.path.insert(0, os.path.join(ROOT, "test"))
from data.simulated_ree import ORIGIN, PIXEL, make_ree_scene, write_samples  # noqa: E402

from prospectra.core.errors import NullFeedback  # noqa: E402
from prospectra.core.io.image import open_image  # noqa: E402
from prospectra.core.geochem.inversion import MODEL_NAMES, rating, regression_metrics  # noqa: E402
from prospectra.core.geochem.inversion_samples import MAX_SURFACE_SAMPLES  # noqa: E402
from prospectra.core.geochem.inversion_training import train_inversion  # noqa: E402
from prospectra.core.learning.onnx_model import load_model  # noqa: E402

TRAIN_SEED, TEST_SEED, SAMPLE = 11, 12, 3000


def main():
    work = tempfile.mkdtemp(prefix="prospectra-inversion-")
    scene = os.path.join(work, "train.tif")
    content = make_ree_scene(scene, seed=TRAIN_SEED)
    rows, cols, measured = write_samples(os.path.join(work, "samples.gpkg"), content, seed=TRAIN_SEED)
    image = open_image(scene, "gf2_pms")
    x = ORIGIN[0] + (cols + 0.5) * PIXEL
    y = ORIGIN[1] - (rows + 0.5) * PIXEL
    path = os.path.join(MODELS, "inversion_gf2_pms.onnx")
    report = os.path.join(work, "report.html")
    fits, chosen = train_inversion(
        image, x, y, list(measured), "RE2O3", "%", list(MODEL_NAMES), surface=True, max_samples=MAX_SURFACE_SAMPLES,
        spatial=True, block=16, fraction=1 / 3, seed=0, model_path=path, report_path=report, feedback=NullFeedback(),
        training_data="SIMULATED: a GF-2 scene mixed from USGS splib07 spectra with 374 simulated soil samples "
                      "(test/data/simulated_ree.py); for demonstration only")
    with open(os.path.splitext(report)[0] + ".json") as f:
        trained = json.load(f)
    info, notes, split = trained["sample_set"], trained["notes"], trained["split"]

    # An independent scene: the chosen model against the true content of every pixel.
    other = os.path.join(work, "independent.tif")
    truth = make_ree_scene(other, seed=TEST_SEED)
    model = load_model(path)
    cube = open_image(other, "gf2_pms").read_stack(model.bands, (0, 0, truth.shape[1], truth.shape[0]))[0]
    pixels = cube.reshape(4, -1).T
    predicted = model.predict(pixels[:, :, None, None])[:, 0]
    independent = regression_metrics(truth.ravel(), predicted)
    low, high = model.target_range
    rich = truth.ravel() > high
    independent_range = {"target_range": [low, high], "predicted_beyond": float(np.mean((predicted < low) | (predicted > high))),
                         "true_above": float(np.mean(rich)), "true_max": float(truth.max()),
                         "rich_true_mean": float(truth.ravel()[rich].mean()),
                         "rich_predicted_mean": float(predicted[rich].mean()), "samples_max": float(max(measured))}
    pick = np.random.default_rng(0).choice(len(pixels), SAMPLE, replace=False)
    sample_metrics = regression_metrics(truth.ravel()[pick], predicted[pick])
    os.makedirs(os.path.join(MODELS, "heldout"), exist_ok=True)
    np.savez_compressed(os.path.join(MODELS, "heldout", "inversion_gf2_pms_sample.npz"),
                        pixels=pixels[pick].astype(np.float32), content=truth.ravel()[pick])
    metrics = {"model": "inversion_gf2_pms", "chosen": chosen.key, "sample_set": info, "notes": notes, "split": split,
               "models": [{"key": f.key, "name": f.name, "cv_rmse": f.cv_rmse, "train": f.train, "test": f.test}
                          for f in fits],
               "independent_scene": independent, "repo_sample": sample_metrics, "extrapolation": independent_range,
               "trained": datetime.date.today().isoformat(), "size_bytes": os.path.getsize(path)}
    with open(os.path.join(MODELS, "inversion_gf2_pms.metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1, default=float)
    write_card(metrics, fits, chosen)
    print(json.dumps({"chosen": chosen.key, "held_out": chosen.test, "independent": independent}, indent=1))


def write_card(m, fits, chosen):
    rows = "\n".join(f"| {f.name}{' (chosen)' if f is chosen else ''} | {f.cv_rmse:.3f} | {f.train['r2']:.3f} | "
                     f"{f.test['r2']:.3f} | {f.test['rmse']:.3f} | {f.test['rpd']:.2f} | {rating(f.test)} |"
                     for f in fits)
    ind, s, x = m["independent_scene"], m["repo_sample"], m["extrapolation"]
    runner = next((f for f in fits if f is not chosen), None)
    won = "" if runner is None else (
        f"**Which won.** {chosen.name}, by cross-validated RMSE: {chosen.cv_rmse:.4f} against {runner.cv_rmse:.4f} "
        f"for the runner-up, {runner.name}. On the held-out samples its RMSE is {chosen.test['rmse']:.4f} against "
        f"{runner.test['rmse']:.4f}, R2 {chosen.test['r2']:.4f} against {runner.test['r2']:.4f}.")
    text = f"""# Model card: `inversion_gf2_pms.onnx`

**What it does.** Predicts RE2O3 content (%) from the four GF-2 PMS multispectral bands (B1-B4, reflectance)
of single pixels, the task of Cheng et al. (2023). Input [n, 4, 1, 1]; output [n, 1] in %.

**Data: simulated, for demonstration only.** Trained on a scene generated by `test/data/simulated_ree.py`
(seed {TRAIN_SEED}): each pixel a linear mixture of USGS splib07 spectra resampled to GF-2 (boxcar responses from
the band edges of Cheng et al. 2023, Table 2) of a weathering crust (kaolinite, halloysite, hematite), a
vegetation cover and an REE ore (monazite, bastnaesite, xenotime), with RE2O3 = ore abundance x the ore's grade.
Contents reach several percent, far above real ion-adsorption ores, so that four broad bands can see them. The
model knows nothing about your area: **retrain it on your own samples with `prospectra:traininversion`**.

**Training.** 374 simulated soil samples (5 % analytical error); held out: {m['split']}
({m['sample_set']['held_out_samples']} samples). The training samples alone are kriged onto the scene
(surface-to-surface set, {m['sample_set']['used']} pixels near them and away from the held-out samples; variogram
{m['sample_set']['variogram']}); five models fitted, the one with the lowest blocked cross-validation RMSE on the
training pixels chosen. "Held out" is each held-out sample's measured content against the prediction at its pixel:

| model | CV RMSE | R2 train | R2 held out | RMSE held out | RPD held out | rating |
|---|---|---|---|---|---|---|
{rows}

{''.join(f'Note: {n} ' for n in m['notes'])}

{won}

**Independent test.** On a second simulated scene (seed {TEST_SEED}) the model maps all {ind['n']} pixels with
R2 {ind['r2']:.3f}, RMSE {ind['rmse']:.3f} % and RPD {ind['rpd']:.2f} against the true content. A sample of
{s['n']} of those pixels is kept in `models/heldout/inversion_gf2_pms_sample.npz`: R2 {s['r2']:.3f}, RMSE
{s['rmse']:.3f} %; `test/core/test_bundled_inversion.py` re-measures it and fails below these figures.

**Where it extrapolates.** The kriged contents it learnt from run from {x['target_range'][0]:.3f} to
{x['target_range'][1]:.3f} % (its `target_range` metadata); `prospectra:predictcontent` counts and warns about the
pixels it predicts beyond them. On the independent scene {x['predicted_beyond']:.2%} of pixels are predicted beyond
that range, while {x['true_above']:.2%} truly lie above it (up to {x['true_max']:.2f} %). No soil sample reached
them (the richest holds {x['samples_max']:.2f} %): there the model predicts {x['rich_predicted_mean']:.2f} % on
average where the truth averages {x['rich_true_mean']:.2f} %. A map's peaks are capped near the richest sample.

**Reproduce.** `.venv/bin/python models/training/train_inversion.py` (the CNN candidate is numpy, nothing to
install; trained {m['trained']}). Licence GPL-3.0-or-later; spectra USGS splib07 (public domain).
"""
    with open(os.path.join(MODELS, "inversion_gf2_pms.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
