#!/usr/bin/env python3
"""Writes composite_then_ratio.model3: the chain a user would draw in the graphical modeler.

A Sentinel-2 scene -> 'Band composite' with the 11-4-12 preset (Rakhymberdina et al. 2025, Table 1) -> 'Band
ratio' 11/12 computed on the composite itself: the composite's band descriptions (B11, B4, B12) carry the band
names to the next algorithm. Run: QT_QPA_PLATFORM=offscreen .venv/bin/python test/cli/make_model.py"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
import conftest  # noqa: E402,F401  (makes 'prospectra' importable)
from qgis.core import (QgsApplication, QgsProcessingModelAlgorithm, QgsProcessingModelChildAlgorithm,  # noqa: E402
                       QgsProcessingModelChildParameterSource as Source, QgsProcessingModelOutput,
                       QgsProcessingModelParameter, QgsProcessingParameterMultipleLayers, QgsProcessing)
from qgis.PyQt.QtCore import QPointF  # noqa: E402


def main():
    app = QgsApplication([], False)
    app.initQgis()
    from prospectra.algorithms.provider import ProspectraProvider
    from prospectra.core.presets import composites, ratios

    provider = ProspectraProvider()
    QgsApplication.processingRegistry().addProvider(provider)
    model = QgsProcessingModelAlgorithm("Composite then ratio", "Prospectra examples")
    model.addModelParameter(QgsProcessingParameterMultipleLayers("scene", "Sentinel-2 scene", QgsProcessing.TypeRaster),
                            QgsProcessingModelParameter("scene"))
    model.parameterComponent("scene").setPosition(QPointF(100, 60))

    composite = QgsProcessingModelChildAlgorithm("prospectra:bandcomposite")
    composite.setChildId("composite")
    composite.setDescription("Band composite 11-4-12")
    composite.setPosition(QPointF(300, 160))
    composite.addParameterSources("INPUT", [Source.fromModelParameter("scene")])
    composite.addParameterSources("PRESET", [Source.fromStaticValue(1 + [p.id for p in composites()].index("msi_11_4_12"))])
    out = QgsProcessingModelOutput("composite", "Composite 11-4-12")
    out.setChildOutputName("OUTPUT")
    out.setChildId("composite")
    composite.setModelOutputs({"composite": out})
    model.addChildAlgorithm(composite)

    ratio = QgsProcessingModelChildAlgorithm("prospectra:bandratio")
    ratio.setChildId("ratio")
    ratio.setDescription("Band ratio 11/12 of the composite")
    ratio.setPosition(QPointF(500, 260))
    ratio.addParameterSources("INPUT", [Source.fromChildOutput("composite", "OUTPUT")])
    ratio.addParameterSources("PRESET", [Source.fromStaticValue(1 + [p.id for p in ratios()].index("msi_11_12"))])
    ratio_out = QgsProcessingModelOutput("ratio", "Ratio 11/12")
    ratio_out.setChildOutputName("OUTPUT")
    ratio_out.setChildId("ratio")
    ratio.setModelOutputs({"ratio": ratio_out})
    model.addChildAlgorithm(ratio)

    path = os.path.join(HERE, "composite_then_ratio.model3")
    assert model.toFile(path), "could not write the model"
    print(path)


if __name__ == "__main__":
    main()
