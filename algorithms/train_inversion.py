from qgis.core import (QgsProcessingOutputString,
                       QgsProcessingParameterEnum, QgsProcessingParameterFeatureSource, QgsProcessingParameterField,
                       QgsProcessingParameterFileDestination, QgsProcessingParameterNumber,
                       QgsProcessingParameterString)

from ..core.errors import InputError
from ..core.io.blocks import check_outputs
from ..core.geochem.inversion import MODEL_NAMES
from ..core.geochem.inversion_samples import MAX_SURFACE_SAMPLES
from ..core.geochem.inversion_training import train_inversion
from .compat import DOUBLE, INTEGER, NUMERIC_FIELD, POINTS
from .base import ProspectraAlgorithm
from .features import image_crs, read_points

SAMPLE_SETS = ["Surface-to-surface: samples kriged onto the image grid (Cheng et al. 2023)",
               "Point-to-pixel: the pixel under each sample"]
SPLITS = ["Whole spatial blocks (honest for neighbouring pixels)", "Random samples (as most papers do)"]


class TrainInversion(ProspectraAlgorithm):
    group_id = "inversion"
    packages = ("sklearn", "skl2onnx", "onnx", "onnxruntime", "scipy")

    def name(self):
        return "traininversion"

    def displayName(self):  # noqa: N802
        return "Train content inversion model"

    def help_html(self):
        return (
            "<p>Fits models that predict a measured content (e.g. RE2O3 %) from pixel reflectance, compares them on "
            "the same split, and saves the best as an ONNX model for <i>Predict content map</i>. After Cheng et al. "
            "(2023, Front. Earth Sci., doi:10.3389/feart.2022.1086325), who kriged 374 soil samples onto a GF-2 "
            "image ('surface-to-surface' sample set), split it 2:1, and fitted a small CNN on the four bands copied "
            "into a 4 x 4 matrix; they judged it by R2, RMSE and RPD (R2 >= 0.9 and RPD >= 3: excellent) and compared "
            "no other method.</p>"
            "<p>Prospectra fits that CNN (4 x 4 band matrix, 2 x 2 convolution, max-pooling, dense layer, dropout "
            "keeping 70 %, learning rate 0.001; written in numpy, so it needs nothing beyond QGIS; the report states "
            "the network as built and where it departs from the paper) beside multiple linear regression, partial "
            "least squares, Random Forest "
            "and a multilayer perceptron (scikit-learn). The <b>samples</b> are split, by default in whole spatial "
            "blocks of BLOCK_SIZE pixels (neighbouring ground is alike, and a random split would flatter every "
            "model; Roberts et al. 2017). The held-out samples are measurements no model sees: each is judged by its "
            "own pixel against its measured content, so R2, RMSE and RPD on the held-out part include the kriging "
            "error. The model with the lowest cross-validated RMSE on the training part (up to 5 folds, of the same "
            "blocks) is chosen; the held-out part only reports.</p>"
            "<p>The surface-to-surface set is Prospectra's reading of the paper's: the training samples alone are "
            "kriged onto the image (ordinary Kriging, variogram chosen by leave-one-out RMSE, as the <i>Kriging</i> "
            "algorithm does), and the pixels within twice their median spacing, none within that reach of a held-out "
            f"sample, at most {MAX_SURFACE_SAMPLES} drawn at random, pair reflectance with kriged content. With the "
            "spatial split, blocks are at least twice that reach wide, whatever BLOCK_SIZE says, so that the kriged "
            "values of neighbouring blocks come mostly from different samples; the log says when they were "
            "widened.</p>"
            "<p>Outputs: the chosen model (ONNX with target, unit, bands, sensor and scaling in its metadata) and an "
            "HTML report with every model's R2, RMSE and RPD on both parts and predicted-against-measured plots, "
            "with a JSON beside it.</p>")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_image_parameters()
        self.addParameter(QgsProcessingParameterFeatureSource("POINTS", "Sample points",
                                                              [POINTS]))
        self.addParameter(QgsProcessingParameterField("FIELD", "Measured content (numeric field)",
                                                      parentLayerParameterName="POINTS",
                                                      type=NUMERIC_FIELD))
        self.addParameter(QgsProcessingParameterString("UNIT", "Unit of the content", defaultValue="%"))
        self.addParameter(QgsProcessingParameterEnum("SAMPLE_SET", "Sample set", SAMPLE_SETS, defaultValue=0))
        self.addParameter(QgsProcessingParameterEnum("MODELS", "Models to fit", list(MODEL_NAMES.values()),
                                                     allowMultiple=True, defaultValue=list(range(len(MODEL_NAMES)))))
        self.add_advanced(QgsProcessingParameterNumber(
            "TEST_FRACTION", "Held-out fraction (1/3: the paper's 2:1 split)", DOUBLE,
            defaultValue=1 / 3, minValue=0.1, maxValue=0.5))
        self.add_advanced(QgsProcessingParameterEnum("SPLIT", "Split", SPLITS, defaultValue=0))
        self.add_advanced(QgsProcessingParameterNumber("BLOCK_SIZE", "Spatial block size (pixels)",
                                                       INTEGER, defaultValue=16,
                                                       minValue=1))
        self.add_advanced(QgsProcessingParameterNumber("MAX_SAMPLES", "Most pixels in the surface sample set",
                                                       INTEGER,
                                                       defaultValue=MAX_SURFACE_SAMPLES, minValue=100))
        self.add_advanced(QgsProcessingParameterNumber("SEED", "Random seed", INTEGER,
                                                       defaultValue=0, minValue=0, maxValue=2 ** 31 - 1))
        self.addParameter(QgsProcessingParameterFileDestination("OUTPUT_MODEL", "Chosen model (ONNX)",
                                                                fileFilter="ONNX models (*.onnx)"))
        self.addParameter(QgsProcessingParameterFileDestination("OUTPUT_REPORT", "Model comparison report",
                                                                fileFilter="HTML files (*.html)"))
        self.addOutput(QgsProcessingOutputString("CHOSEN_MODEL", "The chosen model"))

    def execute(self, parameters, context, feedback):
        image = self.image(parameters, context, feedback)
        field = self.parameterAsString(parameters, "FIELD", context)
        source = self.parameterAsSource(parameters, "POINTS", context)
        if source is None:
            raise InputError("POINTS", "choose a point layer.")
        x, y, values, no_geometry = read_points(source, field, image_crs(source, image, "POINTS", feedback), context,
                                                "POINTS")
        if no_geometry:
            feedback.pushInfo(f"{no_geometry} features have no geometry (or none in the area the image's CRS covers) "
                              f"and were skipped.")
        model_path = self.file_output(parameters, "OUTPUT_MODEL", context, ".onnx")
        report = self.file_output(parameters, "OUTPUT_REPORT", context, ".html", ".htm")
        inputs = image.sources  # POINTS: checked with every layer parameter (base)
        check_outputs(inputs, OUTPUT_MODEL=model_path, OUTPUT_REPORT=report)
        keys = [list(MODEL_NAMES)[i] for i in self.parameterAsEnums(parameters, "MODELS", context)]
        fits, chosen = train_inversion(
            image, x, y, values, field, self.parameterAsString(parameters, "UNIT", context), keys,
            surface=self.parameterAsEnum(parameters, "SAMPLE_SET", context) == 0,
            max_samples=self.parameterAsInt(parameters, "MAX_SAMPLES", context),
            spatial=self.parameterAsEnum(parameters, "SPLIT", context) == 0,
            block=self.parameterAsInt(parameters, "BLOCK_SIZE", context),
            fraction=self.parameterAsDouble(parameters, "TEST_FRACTION", context),
            seed=self.parameterAsInt(parameters, "SEED", context), model_path=model_path, report_path=report,
            feedback=feedback)
        feedback.pushInfo(f"Chosen: {chosen.name}.")
        return {"OUTPUT_MODEL": model_path, "OUTPUT_REPORT": report, "CHOSEN_MODEL": chosen.key}
