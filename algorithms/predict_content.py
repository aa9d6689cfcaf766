from qgis.core import (QgsCoordinateReferenceSystem, QgsFeature, QgsFields, QgsGeometry,
                       QgsProcessingParameterEnum, QgsProcessingParameterFeatureSink,
                       QgsProcessingParameterFile, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterDestination)

from ..core.io.blocks import check_outputs
from ..core.geochem.content_prediction import anomaly_zones, predict_content, require_content_model
from ..core.errors import InputError
from ..core.learning.onnx_model import bundled_choice, bundled_models, load_model
from .compat import DOUBLE, FAST_INSERT, INTEGER, POLYGON_WKB, POLYGONS, field
from .base import ProspectraAlgorithm, file_of
from .cluster_setting import run_on_cluster
from .styles import style_pseudocolor

AUTOMATIC = "Automatic: the bundled inversion model for the image's sensor"
ANOMALY = ["No anomaly zones", "Zones at or above THRESHOLD", "Zones at or above mean + K_SD x SD of the map"]
# Sequential yellow-orange-red (ColorBrewer YlOrRd): high content dark red.
CONTENT_RAMP = ["#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"]
ROMAN = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X"]


class PredictContent(ProspectraAlgorithm):
    group_id = "inversion"
    packages = ("onnxruntime",)

    def name(self):
        return "predictcontent"

    def displayName(self):  # noqa: N802
        return "Predict content map"

    def help_html(self):
        return (
            "<p>Applies a content inversion model (from <i>Train content inversion model</i>, a bundled one, or any "
            "pixel regression ONNX model with Prospectra metadata, models/MODEL_SPEC.md) to every pixel, block by "
            "block: a content raster in the model's unit, styled yellow to red.</p>"
            "<p>Optionally outlines anomaly zones: connected areas (8 neighbours) at or above a threshold, given as a "
            "value or as the map's mean + K_SD standard deviations, as polygons numbered I, II, ... by falling mean "
            "content with their area, pixel count, mean and maximum. Cheng et al. (2023) name their two high-anomaly "
            "areas I (a known mine) and II (a prospect) this way.</p>"
            "<p>The log counts the pixels predicted beyond the contents the model learnt from (the range its "
            "metadata gives, which 'Train content inversion model' writes): there the model extrapolates, and a "
            "content far above every training sample is a hypothesis, not a measurement.</p>"
            "<p>The bundled GF-2 model was trained on <b>simulated</b> data (its model card says how and how well); "
            "it demonstrates the workflow. Retrain on your own samples before drawing conclusions.</p>")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_image_parameters()
        self.addParameter(QgsProcessingParameterEnum("MODEL", "Bundled model",
                                                     [AUTOMATIC] + list(bundled_models("regression")), defaultValue=0))
        self.addParameter(QgsProcessingParameterFile("MODEL_FILE", "Model file instead (ONNX)", optional=True,
                                                     fileFilter="ONNX models (*.onnx)"))
        self.addParameter(QgsProcessingParameterEnum("ANOMALY", "Anomaly zones", ANOMALY, defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber("THRESHOLD", "Threshold content (model's unit)",
                                                       DOUBLE, optional=True))
        self.addParameter(QgsProcessingParameterNumber("K_SD", "K for mean + K x SD", DOUBLE,
                                                       defaultValue=2.0, minValue=0.0))
        self.add_advanced(QgsProcessingParameterNumber("MIN_PIXELS", "Smallest zone (pixels)",
                                                       INTEGER, defaultValue=4, minValue=1))
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", "Content map"))
        self.addParameter(QgsProcessingParameterFeatureSink("OUTPUT_ZONES", "Anomaly zones",
                                                            POLYGONS, optional=True,
                                                            createByDefault=True))

    def execute(self, parameters, context, feedback):
        image = self.image(parameters, context, feedback)
        path = self.parameterAsFile(parameters, "MODEL_FILE", context)
        parameter = "MODEL_FILE" if path else "MODEL"
        if path and self.parameterAsEnum(parameters, "MODEL", context):
            feedback.pushWarning("MODEL is ignored: the model of MODEL_FILE maps the content.")
        if not path:
            path = bundled_choice(self.parameterAsEnum(parameters, "MODEL", context), image.sensor, "regression")
            if not path:
                raise InputError("MODEL", f"no bundled inversion model is for {image.sensor.name}; train one with "
                                          f"'Train content inversion model' and give it in MODEL_FILE.")
        model = load_model(path, parameter, declarable=False)
        require_content_model(model)
        model.check_image(image, parameter)
        mode = self.parameterAsEnum(parameters, "ANOMALY", context)
        if mode == 1 and parameters.get("THRESHOLD") in (None, ""):
            raise InputError("THRESHOLD", "give the content above which a pixel is anomalous.")
        if mode != 1 and parameters.get("THRESHOLD") not in (None, ""):
            feedback.pushWarning(f"THRESHOLD is used only with '{ANOMALY[1]}', and ignored: {ANOMALY[mode]}.")
        # A file named is asked for; a temporary layer is not told apart from the dialog's default, which makes one
        if not mode and file_of(self.parameterAsOutputLayer(parameters, "OUTPUT_ZONES", context)):
            feedback.pushWarning(f"OUTPUT_ZONES is written only with anomaly zones (ANOMALY), and is not written: "
                                 f"{ANOMALY[0]}.")
        output = self.output_path(parameters, "OUTPUT", context)
        check_outputs(image.sources + [path], OUTPUT=output,
                      OUTPUT_ZONES=self.sink_file(parameters, "OUTPUT_ZONES", context) if mode else None)
        unit = model.meta.get("unit", "")
        target = model.meta.get("target", "content")
        feedback.pushInfo(f"Model '{model.name}': {model.meta.get('estimator', '')}, {target} in {unit}; trained on "
                          f"{model.meta.get('training_data', '?')}.")
        feedback.pushInfo(model.runs_on())
        stats = run_on_cluster("content", image, {"content": output}, feedback, model=path)
        if stats is None:
            stats = predict_content(image, model, output, feedback)
        feedback.pushInfo(f"{target}: mean {stats['mean']:.4g}, SD {stats['sd']:.4g}, range {stats['min']:.4g} to "
                          f"{stats['max']:.4g} {unit} over {stats['pixels']} pixels.")
        if stats["non_finite"]:
            feedback.pushWarning(f"The model returned NaN, infinity or -9999 (the map's nodata value) for "
                                 f"{stats['non_finite']} pixels; "
                                 f"they are nodata in the map.")
        if model.target_range is None:
            feedback.pushInfo("The model does not say which contents it learnt from (no target_range in its "
                              "metadata), so pixels where it extrapolates cannot be counted.")
        else:
            beyond = stats["below_training"] + stats["above_training"]
            low, high = model.target_range
            feedback.pushInfo(f"The model learnt from {target} of {low:.4g} to {high:.4g} {unit}.")
            if beyond:
                feedback.pushWarning(f"{beyond} pixels ({beyond / stats['pixels']:.1%}) are predicted beyond that "
                                     f"range ({stats['below_training']} below, {stats['above_training']} above): "
                                     f"there the model extrapolates, and their contents are unreliable.")
        lo, hi = stats["mean"] - 2 * stats["sd"], stats["mean"] + 2 * stats["sd"]
        self.load_style_on_completion(context, output, style_pseudocolor(output, max(lo, stats["min"]),
                                                                         min(hi, stats["max"]), CONTENT_RAMP))
        results = {"OUTPUT": output}
        if mode:
            threshold = float(self.parameterAsDouble(parameters, "THRESHOLD", context) if mode == 1
                              else stats["mean"] + self.parameterAsDouble(parameters, "K_SD", context) * stats["sd"])
            if mode == 2 and stats["max"] <= stats["min"]:  # mean + k SD of a flat map is every pixel
                zones = []
                feedback.pushInfo(f"The map is {stats['min']:.4g} {unit} everywhere (SD 0): no pixel stands above "
                                  f"the rest, so no anomaly zone is outlined.")
            else:
                zones = anomaly_zones(output, threshold, self.parameterAsInt(parameters, "MIN_PIXELS", context))
                feedback.pushInfo(f"{len(zones)} anomaly zones at or above {threshold:.4g} {unit}.")
            fields = QgsFields()
            for name, kind in (("zone", "string"), ("area", "double"), ("pixels", "int"), ("mean", "double"),
                               ("max", "double"), ("threshold", "double")):
                fields.append(field(name, kind))
            sink, sink_id = self.sink(parameters, "OUTPUT_ZONES", context, fields, POLYGON_WKB,
                                      QgsCoordinateReferenceSystem.fromWkt(image.projection))
            if sink is not None:
                for i, (wkb, area, pixels, mean, peak) in enumerate(zones):
                    f = QgsFeature(fields)
                    geometry = QgsGeometry()
                    geometry.fromWkb(wkb)
                    f.setGeometry(geometry)
                    f.setAttributes([ROMAN[i] if i < len(ROMAN) else str(i + 1), area, pixels, mean, peak, threshold])
                    if not sink.addFeature(f, FAST_INSERT):
                        raise InputError("OUTPUT_ZONES", f"zone {ROMAN[i] if i < len(ROMAN) else i + 1} could not be "
                                                         f"written: {sink.lastError()}")
                results["OUTPUT_ZONES"] = sink_id
        return results
