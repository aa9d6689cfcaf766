import os

from qgis.core import (QgsProcessingOutputFile, QgsProcessingOutputNumber, QgsProcessingParameterEnum,
                       QgsProcessingParameterFeatureSource, QgsProcessingParameterField,
                       QgsProcessingParameterFileDestination, QgsProcessingParameterNumber, QgsProcessingParameterString)

from ..core.learning.random_forest import BALANCING, MAX_SEARCH_SAMPLES, TRAINING_PACKAGES, VALIDATION, train_random_forest
from ..core.learning.training_samples import FeatureStack, extract_samples
from .compat import ANY_FIELD, INTEGER, POINTS, POLYGONS
from .base import ProspectraAlgorithm
from .features import input_paths, labelled_features
from .parameters import RANDOM_FOREST_SOURCES, extra_feature_paths, extra_features_parameter

class TrainRandomForest(ProspectraAlgorithm):
    group_id = "classification"
    packages = TRAINING_PACKAGES

    def name(self):
        return "trainrandomforest"

    def displayName(self):  # noqa: N802
        return "Train Random Forest classifier"

    def help_html(self):
        balancing = "".join(f"<li>{v}</li>" for v in BALANCING.values())
        validation = "".join(f"<li>{v}</li>" for v in VALIDATION.values())
        return (
            "<p>Trains a Random Forest (Breiman 2001) to map classes such as lithologies from the image's bands, as "
            "Rakhymberdina et al. (2025) separate sedimentary rocks, granites and pegmatites with the 12 Sentinel-2 "
            "bands. Features are the bands in reflectance (SCALING), optionally a subset (BANDS) and extra rasters "
            "on the same grid such as band ratios (EXTRA_FEATURES).</p>"
            "<p><b>Training sites</b> (TRAINING): points (the pixel under each point) or polygons (every pixel whose "
            "centre falls inside). The class FIELD holds integer codes (kept as the class raster's values) or text "
            "names (numbered 1, 2, ... alphabetically, names kept for the legend). The layer is transformed to the "
            "image's CRS; sites outside the image, without a class or on nodata are skipped and counted in the "
            "report. Each class needs at least 2 pixels; a class with sites in a single place cannot be tested "
            "fairly and the report says so.</p>"
            f"<p><b>Class balancing</b> (CLASS_BALANCING), default balanced class weights:</p><ul>{balancing}</ul>"
            "<p><b>Tuning</b>: a randomised search (SEARCH_ITERATIONS candidates, fixed SEED) over the number of "
            "trees (50 to MAX_TREES), depth, features per split and minimum samples per leaf and split, scored "
            f"by balanced accuracy (mean recall per class) with cross-validation. Above {MAX_SEARCH_SAMPLES:,} "
            "samples the search runs on a random subset; the final model is fitted on all samples.</p>"
            f"<p><b>Cross-validation</b> (VALIDATION, FOLDS):</p><ul>{validation}</ul>"
            "<p>Neighbouring pixels are nearly identical, so random folds test a model on the twins of its training "
            "pixels and overstate accuracy; spatial blocks (Roberts et al. 2017) keep each training feature whole "
            "and nearby features together (BLOCK_SIZE in pixels, 0 chooses it from the sites' extent).</p>"
            "<p><b>Outputs</b>: MODEL, an ONNX file (opened without running code, unlike a pickle) carrying the "
            "sensor, band names in input order, the scaling, class names and values; REPORT, an HTML page with "
            "the cross-validated confusion matrix in counts and row percentages (as paper 000's Figure 9, also "
            "as PNG), overall accuracy, Cohen's kappa, per-class precision, recall and F1, the chosen "
            "hyperparameters, permutation importance on held-out folds, sample counts, what was skipped, and a "
            "check that the ONNX model labels pixels exactly as scikit-learn does; the same figures as JSON beside "
            "it.</p>"
            + RANDOM_FOREST_SOURCES)

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_image_parameters()
        self.addParameter(QgsProcessingParameterString(
            "BANDS", "Bands to use as features, comma separated (empty: all bands of the image)", optional=True))
        self.addParameter(QgsProcessingParameterFeatureSource(
            "TRAINING", "Training sites (points or polygons)",
            [POINTS, POLYGONS]))
        self.addParameter(QgsProcessingParameterField(
            "FIELD", "Class field (integer codes or text names)", parentLayerParameterName="TRAINING",
            type=ANY_FIELD))
        self.addParameter(QgsProcessingParameterEnum(
            "CLASS_BALANCING", "Class balancing", list(BALANCING.values()), defaultValue=0))
        self.addParameter(QgsProcessingParameterEnum(
            "VALIDATION", "Cross-validation folds", list(VALIDATION.values()), defaultValue=0))
        self.add_advanced(extra_features_parameter())
        self.add_advanced(QgsProcessingParameterNumber(
            "FOLDS", "Number of cross-validation folds", INTEGER, defaultValue=5,
            minValue=2, maxValue=20))
        self.add_advanced(QgsProcessingParameterNumber(
            "BLOCK_SIZE", "Spatial block edge for cross-validation, in pixels (0: automatic)",
            INTEGER, defaultValue=0, minValue=0))
        self.add_advanced(QgsProcessingParameterNumber(
            "SEARCH_ITERATIONS", "Hyperparameter candidates tried by the randomised search",
            INTEGER, defaultValue=20, minValue=1, maxValue=500))
        self.add_advanced(QgsProcessingParameterNumber(
            "MAX_TREES", "Largest number of trees the search may choose", INTEGER,
            defaultValue=500, minValue=10, maxValue=2000))
        self.add_advanced(QgsProcessingParameterNumber(
            "SEED", "Random seed (same seed and samples: same folds, search and model)",
            INTEGER, defaultValue=42, minValue=0, maxValue=2 ** 31 - 1))  # larger: parameterAsInt says 0
        self.addParameter(QgsProcessingParameterFileDestination(
            "MODEL", "Random Forest model (ONNX)", "ONNX models (*.onnx)"))
        self.addParameter(QgsProcessingParameterFileDestination(
            "REPORT", "Training report (HTML; JSON and PNG figures beside it)", "HTML files (*.html)"))
        self.addOutput(QgsProcessingOutputFile("REPORT_JSON", "Training report (JSON)"))
        self.addOutput(QgsProcessingOutputNumber("OVERALL_ACCURACY", "Cross-validated overall accuracy"))
        self.addOutput(QgsProcessingOutputNumber("KAPPA", "Cross-validated Cohen's kappa"))

    def execute(self, parameters, context, feedback):
        image = self.image(parameters, context, feedback)
        bands = [b.strip() for b in self.parameterAsString(parameters, "BANDS", context).replace(";", ",").split(",")
                 if b.strip()]
        stack = FeatureStack(image, bands or None, extra_feature_paths(self, parameters, context))
        model_path = self.file_output(parameters, "MODEL", context, ".onnx")
        report_path = self.file_output(parameters, "REPORT", context, ".html", ".htm")
        features = labelled_features(self.parameterAsSource(parameters, "TRAINING", context),
                                     self.parameterAsString(parameters, "FIELD", context), image, context, feedback,
                                     "TRAINING")
        validation = list(VALIDATION)[self.parameterAsEnum(parameters, "VALIDATION", context)]
        if validation != "spatial" and self.parameterAsInt(parameters, "BLOCK_SIZE", context):
            feedback.pushWarning(f"BLOCK_SIZE is used only with spatially blocked folds, and ignored: "
                                 f"{VALIDATION[validation]}.")
        samples = extract_samples(stack, features)
        small = samples.counts.get("no_pixel_centre", 0)
        if small:  # a polygon smaller than a pixel holds no pixel centre, so it gives no training pixel
            feedback.pushWarning(f"{small} of {len(features)} training polygons are too small to contain a "
                                 f"pixel centre and were skipped; draw them larger than a pixel or use points.")
        feedback.pushInfo(f"{len(samples)} training pixels from {samples.counts['features_used']} of "
                          f"{len(features)} features; features {', '.join(stack.names)}; scaling: "
                          f"{image.scaling_source}.")
        description = {"image": ", ".join(os.path.basename(p) for p in image.sources),
                       "training layer": self.parameterAsSource(parameters, "TRAINING", context).sourceName(),
                       "class field": self.parameterAsString(parameters, "FIELD", context)}
        result = train_random_forest(
            stack, samples, model_path, report_path,
            balancing=list(BALANCING)[self.parameterAsEnum(parameters, "CLASS_BALANCING", context)],
            validation=validation,
            folds=self.parameterAsInt(parameters, "FOLDS", context),
            block_pixels=self.parameterAsInt(parameters, "BLOCK_SIZE", context),
            iterations=self.parameterAsInt(parameters, "SEARCH_ITERATIONS", context),
            max_trees=self.parameterAsInt(parameters, "MAX_TREES", context),
            seed=self.parameterAsInt(parameters, "SEED", context),
            description=description, feedback=feedback, inputs=input_paths(context, parameters.get("TRAINING")))
        m = result.metrics
        feedback.pushInfo(f"Overall accuracy {m['overall_accuracy']:.3f}, kappa {m['kappa']:.3f} "
                          f"({result.folds.description}); ONNX labels equal scikit-learn's on "
                          f"{result.agreement['agree']} of {result.agreement['rows']} pixels.")
        return {"MODEL": model_path, "REPORT": report_path, "REPORT_JSON": result.json_path,
                "OVERALL_ACCURACY": m["overall_accuracy"], "KAPPA": m["kappa"]}
