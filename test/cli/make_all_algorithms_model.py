#!/usr/bin/env python3
"""Writes all_algorithms.model3: one model holding every Prospectra algorithm once, chained the way a user would
draw them in the graphical modeler. It exists to prove every algorithm can be placed, wired and saved in a model;
test/cli/test_all_algorithms_model.py checks it stays complete as algorithms are added.

Inputs: scene (Sentinel-2 rasters), samples (points) with a numeric field, sites (points or polygons) with a class
field. Chains: composite 11-4-12 -> ratio 11/12 of the composite; resampled library -> SAM; tagging; Kriging,
band correlation, inversion training -> content prediction with the trained model; RF training -> classification
-> accuracy against the sites;
a scene loaded from a STAC catalogue.
Run: QT_QPA_PLATFORM=offscreen .venv/bin/python test/cli/make_all_algorithms_model.py"""
import os
import sys

os.environ.setdefault("QT_HASH_SEED", "0")  # stable attribute order in the written XML
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)
import conftest  # noqa: E402,F401  (makes 'prospectra' importable)
from qgis.core import (QgsProcessing, QgsProcessingModelAlgorithm,  # noqa: E402
                       QgsProcessingModelChildParameterSource as Source, QgsProcessingParameterFeatureSource,
                       QgsProcessingParameterField, QgsProcessingParameterMultipleLayers)

import make_model  # noqa: E402
from make_rf_model import add_input  # noqa: E402

PATH = os.path.join(HERE, "all_algorithms.model3")


def main():
    app, provider, preset = make_model.start_qgis()

    model = QgsProcessingModelAlgorithm("All Prospectra algorithms", "Prospectra examples")
    add_input(model, QgsProcessingParameterMultipleLayers("scene", "Sentinel-2 scene", QgsProcessing.TypeRaster),
              (100, 60))
    add_input(model, QgsProcessingParameterFeatureSource("samples", "Soil samples", [QgsProcessing.TypeVectorPoint]),
              (100, 560))
    add_input(model, QgsProcessingParameterField("field", "Content field", parentLayerParameterName="samples",
                                                 type=QgsProcessingParameterField.Numeric), (100, 640))
    add_input(model, QgsProcessingParameterFeatureSource(
        "sites", "Training sites", [QgsProcessing.TypeVectorPoint, QgsProcessing.TypeVectorPolygon]), (100, 940))
    add_input(model, QgsProcessingParameterField("class_field", "Class field", parentLayerParameterName="sites"),
              (100, 1020))
    scene = Source.fromModelParameter("scene")
    samples, field = Source.fromModelParameter("samples"), Source.fromModelParameter("field")

    make_model.add_child(model, "prospectra:bandcomposite", "composite", "Band composite 11-4-12", (400, 60),
              {"INPUT": scene, "PRESET": Source.fromStaticValue(preset["msi_11_4_12"])},
              {"composite": ("OUTPUT", "Composite 11-4-12")})
    make_model.add_child(model, "prospectra:bandratio", "ratio", "Band ratio 11/12 of the composite", (850, 60),
              {"INPUT": Source.fromChildOutput("composite", "OUTPUT"),
               "PRESET": Source.fromStaticValue(preset["msi_11_12"])},
              {"ratio": ("OUTPUT", "Ratio 11/12")})
    make_model.add_child(model, "prospectra:resamplelibrary", "library", "Alteration minerals in Sentinel-2 bands", (400, 200),
              {}, {"library": ("OUTPUT", "Resampled library")})
    make_model.add_child(model, "prospectra:spectralanglemapper", "sam", "Spectral Angle Mapper", (850, 200),
              {"INPUT": scene, "LIBRARY": Source.fromChildOutput("library", "OUTPUT")},
              {"minerals": ("OUTPUT", "Mineral classes")})
    make_model.add_child(model, "prospectra:tagminerals", "tagging", "Tag minerals", (400, 340),
              {"INPUT": scene}, {"tags": ("OUTPUT", "Mineral tags")})
    make_model.add_child(model, "prospectra:kriging", "kriging", "Kriging onto the scene's grid", (400, 480),
              {"INPUT": samples, "FIELD": field, "REFERENCE": scene}, {"kriged": ("OUTPUT", "Kriged content")})
    make_model.add_child(model, "prospectra:bandcorrelation", "correlation", "Band correlation with the content", (400, 620),
              {"INPUT": scene, "POINTS": samples, "FIELD": field},
              {"correlation": ("OUTPUT_REPORT", "Band correlation report")})
    make_model.add_child(model, "prospectra:traininversion", "train_inversion", "Train content inversion model", (400, 760),
              {"INPUT": scene, "POINTS": samples, "FIELD": field},
              {"inversion_model": ("OUTPUT_MODEL", "Inversion model"),
               "inversion_report": ("OUTPUT_REPORT", "Model comparison")})
    make_model.add_child(model, "prospectra:predictcontent", "predict", "Predict content map", (850, 760),
              {"INPUT": scene, "MODEL_FILE": Source.fromChildOutput("train_inversion", "OUTPUT_MODEL")},
              {"content": ("OUTPUT", "Content map")})
    make_model.add_child(model, "prospectra:trainrandomforest", "train_rf", "Train Random Forest", (400, 940),
              {"INPUT": scene, "TRAINING": Source.fromModelParameter("sites"),
               "FIELD": Source.fromModelParameter("class_field")},
              {"rf_model": ("MODEL", "Random Forest model"), "rf_report": ("REPORT", "Training report")})
    make_model.add_child(model, "prospectra:classifyrandomforest", "classify", "Classify with the model", (850, 940),
              {"INPUT": scene, "MODEL": Source.fromChildOutput("train_rf", "MODEL")},
              {"classes": ("OUTPUT", "Classes")})
    make_model.add_child(model, "prospectra:assessaccuracy", "accuracy", "Check the classes against the sites", (1300, 940),
              {"MAP": Source.fromChildOutput("classify", "OUTPUT"), "REFERENCE": Source.fromModelParameter("sites"),
               "FIELD": Source.fromModelParameter("class_field")},
              {"accuracy": ("REPORT", "Accuracy report")})
    make_model.add_child(model, "prospectra:loadscene", "load_scene", "Load a scene from a STAC catalogue", (400, 1080),
              {"EXTENT": Source.fromStaticValue("14.50,14.60,45.80,45.90 [EPSG:4326]")},
              {"stac_scene": ("OUTPUT", "Scene from the catalogue")})
    assert model.toFile(PATH), "could not write the model"
    print(PATH)


if __name__ == "__main__":
    main()
