"""The bundled GF-2 inversion model, re-measured on pixels of an independent simulated scene kept in the repo."""
import json
import os

import numpy as np

from conftest import ROOT
from prospectra.core.geochem.inversion import regression_metrics
from prospectra.core.learning.onnx_model import bundled_models, load_model


def test_bundled_inversion_model_meets_its_card():
    path = bundled_models()["inversion_gf2_pms"]
    model = load_model(path)
    assert model.task == "regression" and model.sensor == "gf2_pms" and model.patch_size == 1
    assert model.meta["target"] == "RE2O3" and model.meta["unit"] == "%" and "SIMULATED" in model.meta["training_data"]
    with open(os.path.join(ROOT, "models", "inversion_gf2_pms.metrics.json")) as f:
        card = json.load(f)["repo_sample"]
    sample = np.load(os.path.join(ROOT, "models", "heldout", "inversion_gf2_pms_sample.npz"))
    measured = regression_metrics(sample["content"], model.predict(sample["pixels"][:, :, None, None])[:, 0])
    print(f"inversion_gf2_pms: R2 {measured['r2']:.3f} (card {card['r2']:.3f}), RMSE {measured['rmse']:.3f} % "
          f"(card {card['rmse']:.3f}) on {measured['n']} pixels of an independent simulated scene")
    assert measured["r2"] >= card["r2"] - 1e-6 and measured["rmse"] <= card["rmse"] + 1e-6
    with open(os.path.join(ROOT, "models", "inversion_gf2_pms.md")) as f:
        assert f"R2 {card['r2']:.3f}" in f.read()
