"""docs/ is generated from the code: regenerating it must give the committed files, so the reference cannot drift."""
import os
import sys

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "scripts"))
import make_docs  # noqa: E402


def test_generated_docs_match_the_code(qgis_processing):
    from qgis.core import QgsApplication

    provider = QgsApplication.processingRegistry().providerById("prospectra")
    for name, text in make_docs.pages(provider).items():
        with open(os.path.join(ROOT, "docs", name), encoding="utf-8") as f:
            assert f.read() == text, f"docs/{name} is out of date: run .venv/bin/python scripts/make_docs.py"


def test_every_algorithm_is_documented_with_its_parameters(qgis_processing):
    from qgis.core import QgsApplication

    provider = QgsApplication.processingRegistry().providerById("prospectra")
    with open(os.path.join(ROOT, "docs", "algorithms.md"), encoding="utf-8") as f:
        reference = f.read()
    for alg in provider.algorithms():
        section = reference.split(f"## {alg.displayName()}\n", 1)[1].split("\n## ", 1)[0]
        assert f"`{alg.id()}`" in section
        for p in alg.parameterDefinitions():
            assert f"| `{p.name()}` |" in section, (alg.id(), p.name())


def test_help_html_converts_to_markdown():
    assert make_docs.markdown("<p>A <b>bold</b> and <code>B11</code> &amp; <i>it</i></p><ul><li>one</li>"
                              "<li>two</li></ul>") == "A **bold** and `B11` & *it*\n\n- one\n- two"
