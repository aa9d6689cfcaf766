"""all_algorithms.model3 (written by make_all_algorithms_model.py) holds every algorithm of the provider and is valid:
a new algorithm that cannot sit in a model, or a renamed parameter, shows up here."""
import os
from collections import Counter

import pytest

from conftest import ROOT

MODEL3 = os.path.join(ROOT, "test", "cli", "all_algorithms.model3")


def test_model_holds_every_algorithm_once_and_validates(qgis_processing):
    from qgis.core import QgsApplication, QgsProcessingModelAlgorithm

    model = QgsProcessingModelAlgorithm()
    assert model.fromFile(MODEL3), f"could not read {MODEL3}"
    children = model.childAlgorithms()
    missing_alg = [c.algorithmId() for c in children.values() if c.algorithm() is None]
    assert not missing_alg, f"child algorithms not found in the registry: {missing_alg}"
    for child_id in children:
        ok, issues = model.validateChildAlgorithm(child_id)
        assert ok, f"child {child_id}: {issues}"
    ok, issues = model.validate()
    assert ok, f"model does not validate: {issues}"

    provider_ids = sorted(a.id() for a in QgsApplication.processingRegistry().providerById("prospectra").algorithms())
    counts = Counter(c.algorithmId() for c in children.values())
    assert sorted(counts) == provider_ids, \
        f"missing: {sorted(set(provider_ids) - set(counts))}, unknown: {sorted(set(counts) - set(provider_ids))}" \
        " (regenerate with test/cli/make_all_algorithms_model.py)"
    assert all(n == 1 for n in counts.values()), f"algorithms used more than once: {counts}"
    # every child contributes at least one model output, so the model can be run and its results inspected
    assert {c.childId() for c in children.values() if c.modelOutputs()} == set(children)


@pytest.mark.parametrize("name", sorted(f for f in os.listdir(os.path.join(ROOT, "test", "cli")) if f.endswith(".model3")))
def test_every_example_model_validates(qgis_processing, name):
    """As the modeler's Validate button would: every mandatory parameter of every child is set."""
    from qgis.core import QgsProcessingModelAlgorithm

    model = QgsProcessingModelAlgorithm()
    assert model.fromFile(os.path.join(ROOT, "test", "cli", name))
    ok, issues = model.validate()
    assert ok, f"{name}: {issues}"
