#!/usr/bin/env python3
"""Writes the .model3 files of the CLI tests: the chains a user would draw in the graphical modeler.

composite_then_ratio.model3: a Sentinel-2 scene -> 'Band composite' 11-4-12 (Rakhymberdina et al. 2025, Table 1)
-> 'Band ratio' 11/12 computed on the composite itself: the composite's band descriptions (B11, B4, B12) carry
the band names to the next algorithm.
ratio_and_sam.model3: a Sentinel-2 scene -> 'Band ratio' 11/12, and 'Resample spectral library' (default
alteration minerals to Sentinel-2) -> 'Spectral Angle Mapper' with that CSV as its library.
ratio_and_tagging.model3: a Landsat-8 scene -> 'Band ratio' 6/7 and 'Tag minerals' with the bundled model.
krige_train_predict.model3: a GF-2 scene and soil samples -> 'Kriging' onto the scene's grid, and 'Train content
inversion model' -> 'Predict content map' with the trained model.
Run: QT_QPA_PLATFORM=offscreen .venv/bin/python test/cli/make_model.py"""
import os
import sys

os.environ.setdefault("QT_HASH_SEED", "0")  # stable attribute order in the written XML
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
import conftest  # noqa: E402,F401  (makes 'prospectra' importable)
from qgis.core import (QgsApplication, QgsProcessing, QgsProcessingModelAlgorithm,  # noqa: E402
                       QgsProcessingModelChildAlgorithm, QgsProcessingModelChildParameterSource as Source,
                       QgsProcessingModelOutput, QgsProcessingModelParameter, QgsProcessingParameterField,
                       QgsProcessingParameterMultipleLayers, QgsProcessingParameterVectorLayer)
from qgis.PyQt.QtCore import QPointF  # noqa: E402


def new_model(name):
    model = QgsProcessingModelAlgorithm(name, "Prospectra examples")
    model.addModelParameter(QgsProcessingParameterMultipleLayers("scene", "Sentinel-2 scene", QgsProcessing.TypeRaster),
                            QgsProcessingModelParameter("scene"))
    model.parameterComponent("scene").setPosition(QPointF(100, 60))
    return model


def add_child(model, alg_id, child_id, description, position, sources, outputs):
    """sources: {parameter: Source}; outputs: {model output name: (child output, description)}. Every other
    parameter gets its default as a static value, as the modeler's dialog does: without them
    QgsProcessingModelAlgorithm.validate() calls mandatory parameters missing."""
    alg = QgsApplication.processingRegistry().algorithmById(alg_id)
    defaults = {d.name(): Source.fromStaticValue(d.defaultValue()) for d in alg.parameterDefinitions()
                if not d.isDestination() and d.defaultValue() is not None}
    sources = {**defaults, **sources}
    child = QgsProcessingModelChildAlgorithm(alg_id)
    child.setChildId(child_id)
    child.setDescription(description)
    child.setPosition(QPointF(*position))
    for parameter, source in sources.items():
        child.addParameterSources(parameter, [source])
    model_outputs = {}
    for name, (child_output, label) in outputs.items():
        out = QgsProcessingModelOutput(name, label)
        out.setChildOutputName(child_output)
        out.setChildId(child_id)
        model_outputs[name] = out
    child.setModelOutputs(model_outputs)
    model.addChildAlgorithm(child)


def start_qgis():
    """(app, provider, {preset id: enum index}) with the provider registered; keep the references."""
    app = QgsApplication([], False)
    app.initQgis()
    from prospectra.algorithms.provider import ProspectraProvider
    from prospectra.core.bands.presets import composites, ratios

    provider = ProspectraProvider()
    QgsApplication.processingRegistry().addProvider(provider)
    preset = {p.id: i + 1 for i, p in enumerate(composites())}
    preset.update({p.id: i + 1 for i, p in enumerate(ratios())})
    return app, provider, preset


def main():
    app, provider, preset = start_qgis()
    from prospectra.core.sensors import sensors

    scene = Source.fromModelParameter("scene")

    model = new_model("Composite then ratio")
    add_child(model, "prospectra:bandcomposite", "composite", "Band composite 11-4-12", (300, 160),
              {"INPUT": scene, "PRESET": Source.fromStaticValue(preset["msi_11_4_12"])},
              {"composite": ("OUTPUT", "Composite 11-4-12")})
    add_child(model, "prospectra:bandratio", "ratio", "Band ratio 11/12 of the composite", (500, 260),
              {"INPUT": Source.fromChildOutput("composite", "OUTPUT"),
               "PRESET": Source.fromStaticValue(preset["msi_11_12"])},
              {"ratio": ("OUTPUT", "Ratio 11/12")})
    assert model.toFile(os.path.join(HERE, "composite_then_ratio.model3"))

    model = new_model("Ratio and spectral angle mapper")
    add_child(model, "prospectra:bandratio", "ratio", "Band ratio 11/12", (300, 160),
              {"INPUT": scene, "PRESET": Source.fromStaticValue(preset["msi_11_12"])},
              {"ratio": ("OUTPUT", "Ratio 11/12")})
    add_child(model, "prospectra:resamplelibrary", "library", "Alteration minerals in Sentinel-2 bands", (300, 300),
              {"SENSOR": Source.fromStaticValue(list(sensors()).index("sentinel2a_msi"))}, {"library": ("OUTPUT", "Resampled library")})
    add_child(model, "prospectra:spectralanglemapper", "sam", "Spectral Angle Mapper", (550, 300),
              {"INPUT": scene, "LIBRARY": Source.fromChildOutput("library", "OUTPUT"),
               "MAX_ANGLE": Source.fromStaticValue(0.25)},
              {"minerals": ("OUTPUT", "Mineral classes"), "angles": ("OUTPUT_RULE", "Spectral angles")})
    assert model.toFile(os.path.join(HERE, "ratio_and_sam.model3"))

    model = new_model("Ratio and mineral tagging")
    landsat = Source.fromStaticValue(list(sensors()).index("landsat8_oli"))
    add_child(model, "prospectra:bandratio", "ratio", "Band ratio 6/7", (300, 160),
              {"INPUT": scene, "SENSOR": landsat, "PRESET": Source.fromStaticValue(preset["oli_6_7"])},
              {"ratio": ("OUTPUT", "Ratio 6/7")})
    add_child(model, "prospectra:tagminerals", "tagging", "Tag minerals", (300, 300),
              {"INPUT": scene, "SENSOR": landsat},
              {"tags": ("OUTPUT", "Mineral tags"), "grid": ("OUTPUT_GRID", "Patch grid")})
    assert model.toFile(os.path.join(HERE, "ratio_and_tagging.model3"))

    model = new_model("Krige, train and predict content")
    model.addModelParameter(QgsProcessingParameterVectorLayer("samples", "Soil samples", [QgsProcessing.TypeVectorPoint]),
                            QgsProcessingModelParameter("samples"))
    model.addModelParameter(QgsProcessingParameterField("field", "Content field", parentLayerParameterName="samples",
                                                        type=QgsProcessingParameterField.Numeric),
                            QgsProcessingModelParameter("field"))
    gf2 = Source.fromStaticValue(list(sensors()).index("gf2_pms"))
    samples, field = Source.fromModelParameter("samples"), Source.fromModelParameter("field")
    add_child(model, "prospectra:kriging", "kriging", "Kriging onto the scene's grid", (300, 120),
              {"INPUT": samples, "FIELD": field, "REFERENCE": scene}, {"kriged": ("OUTPUT", "Kriged content")})
    add_child(model, "prospectra:traininversion", "train", "Train content inversion model", (300, 260),
              {"INPUT": scene, "SENSOR": gf2, "POINTS": samples, "FIELD": field,
               "MODELS": Source.fromStaticValue([0, 1]), "MAX_SAMPLES": Source.fromStaticValue(3000)},
              {"model": ("OUTPUT_MODEL", "Inversion model"), "report": ("OUTPUT_REPORT", "Model comparison")})
    add_child(model, "prospectra:predictcontent", "predict", "Predict content map", (550, 260),
              {"INPUT": scene, "SENSOR": gf2, "MODEL_FILE": Source.fromChildOutput("train", "OUTPUT_MODEL"),
               "ANOMALY": Source.fromStaticValue(2)},
              {"content": ("OUTPUT", "Content map"), "zones": ("OUTPUT_ZONES", "Anomaly zones")})
    assert model.toFile(os.path.join(HERE, "krige_train_predict.model3"))


if __name__ == "__main__":
    main()
