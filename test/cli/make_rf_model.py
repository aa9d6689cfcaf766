#!/usr/bin/env python3
"""Writes train_then_classify.model3: the chain a user would draw in the graphical modeler for paper 000's
Random Forest (Rakhymberdina et al. 2025): a scene and labelled sites -> 'Train Random Forest classifier'
-> 'Classify with Random Forest model' using the model file the first step wrote.

Model inputs: scene (raster), sites (points or polygons), class_field (field of sites), iterations and
max_trees (search effort, defaults as the algorithm's). Outputs: train:model, train:report, classify:classes.
Run: QT_QPA_PLATFORM=offscreen .venv/bin/python test/cli/make_rf_model.py"""
import os
import sys

os.environ.setdefault("QT_HASH_SEED", "0")  # stable attribute order in the written XML
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)
import conftest  # noqa: E402,F401  (makes 'prospectra' importable)
from qgis.core import (QgsProcessing, QgsProcessingModelAlgorithm,  # noqa: E402
                       QgsProcessingModelChildParameterSource as Source, QgsProcessingModelParameter,
                       QgsProcessingParameterFeatureSource, QgsProcessingParameterField,
                       QgsProcessingParameterMultipleLayers, QgsProcessingParameterNumber)
from qgis.PyQt.QtCore import QPointF  # noqa: E402

from make_model import add_child, start_qgis  # noqa: E402

PATH = os.path.join(HERE, "train_then_classify.model3")


def add_input(model, parameter, position):
    model.addModelParameter(parameter, QgsProcessingModelParameter(parameter.name()))
    model.parameterComponent(parameter.name()).setPosition(QPointF(*position))


def main():
    app, provider, _ = start_qgis()
    model = QgsProcessingModelAlgorithm("Train then classify (Random Forest)", "Prospectra examples")
    add_input(model, QgsProcessingParameterMultipleLayers("scene", "Scene", QgsProcessing.TypeRaster), (100, 60))
    add_input(model, QgsProcessingParameterFeatureSource(
        "sites", "Training sites", [QgsProcessing.TypeVectorPoint, QgsProcessing.TypeVectorPolygon]), (100, 140))
    add_input(model, QgsProcessingParameterField("class_field", "Class field", parentLayerParameterName="sites"),
              (100, 220))
    add_input(model, QgsProcessingParameterNumber("iterations", "Search iterations",
                                                  QgsProcessingParameterNumber.Integer, 20, minValue=1), (100, 300))
    add_input(model, QgsProcessingParameterNumber("max_trees", "Largest number of trees",
                                                  QgsProcessingParameterNumber.Integer, 500, minValue=10), (100, 380))
    scene = Source.fromModelParameter("scene")
    add_child(model, "prospectra:trainrandomforest", "train", "Train Random Forest", (350, 200),
              {"INPUT": scene, "TRAINING": Source.fromModelParameter("sites"),
               "FIELD": Source.fromModelParameter("class_field"),
               "SEARCH_ITERATIONS": Source.fromModelParameter("iterations"),
               "MAX_TREES": Source.fromModelParameter("max_trees")},
              {"model": ("MODEL", "Random Forest model"), "report": ("REPORT", "Training report")})
    add_child(model, "prospectra:classifyrandomforest", "classify", "Classify with the model", (600, 200),
              {"INPUT": scene, "MODEL": Source.fromChildOutput("train", "MODEL")},
              {"classes": ("OUTPUT", "Classes")})
    assert model.toFile(PATH), "could not write the model"
    print(PATH)


if __name__ == "__main__":
    main()
