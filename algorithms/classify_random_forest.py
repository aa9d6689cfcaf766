import os

from qgis.core import QgsProcessingParameterFile, QgsProcessingParameterRasterDestination

from ..core.report.palettes import PROBABILITY_RAMP, lithology_colours
from ..core.learning.random_forest import (CLASSIFY_PACKAGES, PROBABILITY_NODATA,
                                  classify_random_forest, load_model)
from .base import ProspectraAlgorithm
from .cluster_setting import run_on_cluster
from .styles import style_paletted, style_pseudocolor
from .parameters import RANDOM_FOREST_SOURCES, extra_feature_paths, extra_features_parameter


class ClassifyRandomForest(ProspectraAlgorithm):
    group_id = "classification"
    packages = CLASSIFY_PACKAGES

    def name(self):
        return "classifyrandomforest"

    def displayName(self):  # noqa: N802
        return "Classify with Random Forest model"

    def help_html(self):
        return (
            "<p>Classifies an image with a Random Forest model written by 'Train Random Forest classifier' "
            "(Breiman 2001; Rakhymberdina et al. 2025 map sedimentary rocks, granites and pegmatites this way).</p>"
            "<p>The model is an ONNX file that names its sensor, bands (in order), extra features and classes. "
            "Before any pixel is read the image is checked against it: another sensor, a missing band or different "
            "extra rasters stop the run with both sides named. Pickle files are refused unread, because opening "
            "one can run any code inside it. Bands are read in reflectance (SCALING), as in training.</p>"
            "<p><b>Outputs</b>: OUTPUT, the class raster (class values as in training: integer codes as they were, "
            "text classes numbered alphabetically from 1), styled with one colour and the class name per value; "
            "optionally PROBABILITIES, one band per class (described by the class name) holding the share of "
            f"trees' votes, and CONFIDENCE, the highest of them. Pixels that are nodata in any band the model "
            f"uses are nodata in every output (probabilities: {PROBABILITY_NODATA:g}).</p>"
            "<p>Prediction runs with onnxruntime on all cores, block by block, so memory stays flat on whole "
            "scenes; its labels equal scikit-learn's on the same forest (the training report checks this).</p>"
            + RANDOM_FOREST_SOURCES)

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_image_parameters()
        self.addParameter(QgsProcessingParameterFile(
            "MODEL", "Random Forest model (.onnx from 'Train Random Forest classifier')",
            fileFilter="ONNX models (*.onnx);;All files (*.*)"))
        self.add_advanced(extra_features_parameter())
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", "Classes"))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "PROBABILITIES", "Class probabilities (one band per class)", optional=True, createByDefault=False))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "CONFIDENCE", "Confidence (highest class probability)", optional=True, createByDefault=False))

    def execute(self, parameters, context, feedback):
        model = load_model(self.parameterAsFile(parameters, "MODEL", context))
        image = self.image(parameters, context, feedback)
        stack = model.feature_stack(image, extra_feature_paths(self, parameters, context))
        output = self.output_path(parameters, "OUTPUT", context)
        optional = {name: self.output_path(parameters, name, context) or None
                    for name in ("PROBABILITIES", "CONFIDENCE")}
        feedback.pushInfo(f"Model {os.path.basename(model.path)}: classes {', '.join(model.class_names)}; features "
                          f"{', '.join(model.feature_names)}; image scaling: {image.scaling_source}.")
        files = {"classes": output, "probabilities": optional["PROBABILITIES"], "confidence": optional["CONFIDENCE"]}
        # the tiles cut the image, not extra rasters: with those, the run stays here
        result = None if stack.extras else run_on_cluster("classify", image, files, feedback, model=model.path)
        if result is None:
            result = classify_random_forest(stack, model, output, optional["PROBABILITIES"], optional["CONFIDENCE"],
                                            feedback)
        counts = ", ".join(f"{n} {c}" for n, c in result["pixels"].items())
        feedback.pushInfo(f"{result['valid_pixels']} pixels classified: {counts}.")
        palette = list(zip(model.class_values, model.class_names, lithology_colours(len(model.class_values))))
        self.load_style_on_completion(context, output, style_paletted(output, palette))
        outputs = {"OUTPUT": output}
        if optional["CONFIDENCE"]:
            qml = style_pseudocolor(optional["CONFIDENCE"], 0.0, 1.0, PROBABILITY_RAMP)
            self.load_style_on_completion(context, optional["CONFIDENCE"], qml)
        for name, path in optional.items():
            if path:
                outputs[name] = path
        return outputs
