"""The bundled taggers, re-measured on the held-out sample kept in the repo: never below their model cards."""
import json
import os

import numpy as np
import pytest

from conftest import ROOT
from prospectra.core.learning.onnx_model import bundled_models, load_model
from prospectra.core.sensors import sensors

TAGGERS = bundled_models("tagging")
SIMULATED = sorted(n for n in TAGGERS if not n.endswith("_cuprite"))  # trained on simulated patches


def test_a_tagger_for_landsat_and_one_for_sentinel2():
    assert {"tagger_landsat_oli", "tagger_sentinel2_msi"} <= set(TAGGERS)


@pytest.mark.parametrize("name", SIMULATED)
def test_tagger_meets_its_model_card(name):
    from sklearn.metrics import f1_score

    path = TAGGERS[name]
    assert os.path.getsize(path) < 5 * 2 ** 20
    model = load_model(path)
    assert model.task == "tagging" and model.sensor in sensors() and model.mean is not None
    assert "SIMULATED" in model.meta["training_data"]
    with open(os.path.join(ROOT, "models", f"{name}.metrics.json")) as f:
        card = json.load(f)["repo_sample"]
    sample = np.load(os.path.join(ROOT, "models", "heldout", f"{name}_sample.npz"))
    labels = sample["labels"]
    predicted = (model.predict(sample["patches"].astype(np.float32)) >= model.threshold).astype(int)
    micro = f1_score(labels, predicted, average="micro", zero_division=0)
    macro = f1_score(labels, predicted, average="macro", zero_division=0)
    print(f"{name}: micro F1 {micro:.3f} (card {card['micro']['f1']:.3f}), macro F1 {macro:.3f} "
          f"(card {card['macro']['f1']:.3f}) on {len(labels)} held-out patches")
    assert micro >= card["micro"]["f1"] - 1e-6 and macro >= card["macro"]["f1"] - 1e-6
    with open(os.path.join(ROOT, "models", f"{name}.md")) as f:
        text = f.read()
    assert f"micro F1 {card['micro']['f1']:.3f}" in text and "simulated, not field-validated" in text.lower()


@pytest.mark.parametrize("name", SIMULATED)
def test_tagger_names_the_right_mineral_on_samples_it_never_saw(name):
    """Pure patches of USGS samples held out of training (issue 14's goal: at least 90 % per mineral offered)."""
    model = load_model(TAGGERS[name])
    with open(os.path.join(ROOT, "models", f"{name}.metrics.json")) as f:
        metrics = json.load(f)
    sample = np.load(os.path.join(ROOT, "models", "heldout", f"{name}_sample.npz"))
    top = model.predict(sample["pure_patches"].astype(np.float32)).argmax(axis=1)
    for k, mineral in enumerate(model.classes):
        right = float(np.mean(top[sample["pure_mineral"] == k] == k))
        assert right >= metrics["repo_pure_sample"][mineral] - 1e-6 and right >= 0.9, mineral
    assert set(model.classes).isdisjoint(metrics["left_out"])  # what the sensor cannot identify is not offered


def test_the_tagger_trained_on_real_cuprite_ground_meets_its_card_on_held_out_blocks():
    """Re-measured on the held-out blocks of Cuprite kept in the repo: F1 per mineral never below the card."""
    from sklearn.metrics import f1_score

    name = "tagger_landsat_oli_cuprite"
    model = load_model(TAGGERS[name])
    assert model.meta["training_data"].startswith("REAL ground")
    with open(os.path.join(ROOT, "models", f"{name}.metrics.json")) as f:
        metrics = json.load(f)
    sample = np.load(os.path.join(ROOT, "models", "heldout", f"{name}_sample.npz"))
    predicted = model.predict(sample["patches"].astype(np.float32)) >= model.threshold
    for j, mineral in enumerate(model.classes):
        f1 = f1_score(sample["labels"][:, j], predicted[:, j], zero_division=0)
        assert f1 >= metrics["repo_sample"][mineral]["f1"] - 1e-6, mineral
        simulated = metrics["held_out_blocks"]["simulated"].get(mineral)
        assert simulated is None or f1 > simulated["f1"], mineral  # shipped because it beats the simulated tagger
