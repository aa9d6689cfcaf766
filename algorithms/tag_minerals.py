import numpy as np
from qgis.core import (QgsCoordinateReferenceSystem, QgsFeature, QgsFields, QgsGeometry,
                       QgsProcessingParameterEnum, QgsProcessingParameterFeatureSink, QgsProcessingParameterFile,
                       QgsProcessingParameterNumber, QgsProcessingParameterRasterDestination,
                       QgsProcessingParameterString, QgsRectangle)

from ..core.io.blocks import check_outputs
from ..core.errors import InputError, ProspectraError
from ..core.report.palettes import PROBABILITY_RAMP, UNCLASSIFIED_COLOUR
from ..core.learning.onnx_model import bundled_choice, bundled_models, load_model
from ..core.learning.patch_tagging import tag_image
from ..core.spectral.spectral_angle_mapper import IDENTIFIED, identifiability
from ..core.spectral.spectral_library import usgs_mineral_names
from .compat import DOUBLE, FAST_INSERT, INTEGER, POLYGONS, POLYGON_WKB, field
from .base import ProspectraAlgorithm
from .cluster_setting import run_on_cluster, scheduler
from .parameters import split_names
from .styles import style_paletted, style_pseudocolor

AUTOMATIC = "Automatic: the bundled model for the image's sensor"
PROBABILITY_UNITS = ["Percent, 0-100 (byte)", "Fraction, 0-1 (float32, four times the size and time)"]
GRID_CELLS = ["Every patch", "Only patches tagged with a mineral"]


class TagMinerals(ProspectraAlgorithm):
    group_id = "spectral"
    packages = ("onnxruntime",)

    def name(self):
        return "tagminerals"

    def displayName(self):  # noqa: N802
        return "Tag minerals in image patches (CNN)"

    def help_html(self):
        return (
            "<p>Runs a convolutional neural network over the image patch by patch and tags each patch with the "
            "minerals it probably holds, after Munzareen et al. (2025), who tagged Landsat-8 patches as feldspar or "
            "chalcocite with a Conv2D 32-32-64-128 / Dense 512 network.</p>"
            "<p><b>Models</b> are ONNX files that describe themselves (sensor, bands, patch size, normalisation, "
            "minerals; see models/MODEL_SPEC.md). Bundled: one for Landsat-8/9 OLI and one for Sentinel-2, trained "
            "on <b>simulated</b> patches (USGS splib07 minerals mixed into real Sentinel-2 backgrounds); their model "
            "cards in models/ give the held-out precision, recall and F1 per mineral. Treat their tags as hypotheses "
            "and retrain on patches of your own area for real use. Any ONNX model with Prospectra metadata works in "
            "MODEL_FILE; one without it runs if MODEL_BANDS and MODEL_PATCH_SIZE declare its input.</p>"
            "<p>Patches start every STRIDE pixels (default: the model's, half a patch) plus one flush with the "
            "image's edge, so the outputs cover the whole extent; each pixel's probability is the mean over all "
            "patches covering it, so there are no seams. Patches holding nodata are skipped; an image smaller than "
            "a patch is padded by repeating its edge.</p>"
            "<p><b>Outputs</b>: tag raster (the most probable mineral where its probability reaches THRESHOLD, "
            "0 = none, named and coloured), probability raster (one band per mineral, band descriptions = names; "
            "whole percent by default, or fractions 0-1 under PROBABILITY_UNIT), "
            "and a grid of patch cells with a <code>tags</code> field (minerals at or above THRESHOLD, comma "
            "separated), the top mineral and one probability field per mineral, to filter and label on the map. "
            "A scene has hundreds of thousands of patches: GRID_CELLS keeps only the tagged ones, for a smaller "
            "and faster grid (the probability fields of untagged patches are then not in it).</p>")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_image_parameters()
        self.addParameter(QgsProcessingParameterEnum("MODEL", "Bundled model",
                                                     [AUTOMATIC] + list(bundled_models("tagging")), defaultValue=0))
        self.addParameter(QgsProcessingParameterFile(
            "MODEL_FILE", "Model file instead of a bundled model (ONNX)", optional=True,
            fileFilter="ONNX models (*.onnx)"))
        self.add_advanced(QgsProcessingParameterString(
            "MODEL_BANDS", "For a model without Prospectra metadata: its input bands, comma separated", optional=True))
        self.add_advanced(QgsProcessingParameterNumber(
            "MODEL_PATCH_SIZE", "For a model without Prospectra metadata: its patch size (pixels)",
            INTEGER, defaultValue=0, minValue=0))
        self.addParameter(QgsProcessingParameterNumber(
            "THRESHOLD", "Probability threshold (empty: the model's)", DOUBLE,
            optional=True, minValue=0.0, maxValue=1.0))
        self.addParameter(QgsProcessingParameterNumber(
            "STRIDE", "Stride between patches in pixels (0: the model's)", INTEGER,
            defaultValue=0, minValue=0))
        self.add_advanced(QgsProcessingParameterEnum("PROBABILITY_UNIT", "Probabilities as", PROBABILITY_UNITS,
                                                     defaultValue=0))
        self.add_advanced(QgsProcessingParameterEnum("GRID_CELLS", "Patch grid cells", GRID_CELLS, defaultValue=0))
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", "Mineral tags"))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT_PROBABILITIES", "Mineral probabilities", optional=True, createByDefault=True))
        self.addParameter(QgsProcessingParameterFeatureSink(
            "OUTPUT_GRID", "Patch grid with tags", POLYGONS, optional=True,
            createByDefault=True))

    def model(self, parameters, context, image, feedback):
        path = self.parameterAsFile(parameters, "MODEL_FILE", context)
        parameter = "MODEL_FILE"
        if path and self.parameterAsEnum(parameters, "MODEL", context):
            feedback.pushWarning("MODEL is ignored: the model of MODEL_FILE tags the patches.")
        if not path:
            parameter = "MODEL"
            path = bundled_choice(self.parameterAsEnum(parameters, "MODEL", context), image.sensor, "tagging")
            if not path:
                raise InputError("MODEL", f"no bundled model is for {image.sensor.name}; give one in MODEL_FILE.")
        declared = self.declared_shape(parameters, context)
        model = load_model(path, parameter, *declared)
        given = [n for n, v in zip(("MODEL_BANDS", "MODEL_PATCH_SIZE"), declared) if v]
        if given and not model.declared:  # the model's own metadata wins over what the user declared
            feedback.pushWarning(f"{' and '.join(given)} {'are' if len(given) > 1 else 'is'} used only for a model "
                                 f"without Prospectra metadata, and ignored: '{model.name}' declares its own input "
                                 f"(bands {', '.join(model.bands)}; patch {model.patch_size} px).")
        model.check_image(image, parameter)
        return model

    def declared_shape(self, parameters, context):
        """(bands, patch size) the user declared for a model without Prospectra's metadata, None where not given."""
        return (split_names(self.parameterAsString(parameters, "MODEL_BANDS", context)) or None,
                self.parameterAsInt(parameters, "MODEL_PATCH_SIZE", context) or None)

    @staticmethod
    def warn_unidentifiable(model, sensor, feedback):
        """A warning naming the model's minerals that the sensor cannot tell apart from the model's others (the
        leave-one-sample-out measure of docs/identifiability.md); classes USGS does not hold are not judged."""
        known = [c for c in model.classes if c.lower() in usgs_mineral_names()]
        if len(known) < 2 or model.meta.get("training_data", "").startswith("REAL ground"):
            return  # a model learnt from labelled real ground is judged by its card, not by library samples
        try:
            _, rows = identifiability(sensor, known)
        except ProspectraError:  # e.g. no USGS sample of a class covers the bands: nothing to judge it by
            return
        weak = [f"{name} ({share:.0%}" + (f", mistaken for {confusions[0][1]}" if confusions else "") + ")"
                for name, _, share, confusions, _ in rows if share < IDENTIFIED]
        if weak:
            feedback.pushWarning(f"'{model.name}' tags minerals that {sensor.name} cannot identify reliably "
                                 f"among its classes (unseen USGS samples identified, docs/identifiability.md): "
                                 f"{'; '.join(weak)}. Treat those tags as guesses.")

    def execute(self, parameters, context, feedback):
        image = self.image(parameters, context, feedback)
        model = self.model(parameters, context, image, feedback)
        if model.task != "tagging":
            raise InputError(model.parameter, f"'{model.name}' is a {model.task} model; this algorithm runs tagging "
                                              f"models.")
        self.warn_unidentifiable(model, image.sensor, feedback)
        output = self.output_path(parameters, "OUTPUT", context)
        probabilities = self.output_path(parameters, "OUTPUT_PROBABILITIES", context) or None
        check_outputs(image.sources + [model.path], OUTPUT=output, OUTPUT_PROBABILITIES=probabilities,
                      OUTPUT_GRID=self.sink_file(parameters, "OUTPUT_GRID", context))
        threshold = self.optional_number(parameters, "THRESHOLD", context)
        threshold = model.threshold if threshold is None else threshold
        percent = self.parameterAsEnum(parameters, "PROBABILITY_UNIT", context) == 0
        fields = QgsFields()
        fields.append(field("tags", "string"))
        fields.append(field("top", "string"))
        for c in model.classes:
            fields.append(field(c, "double"))
        sink, grid_id = self.sink(parameters, "OUTPUT_GRID", context, fields, POLYGON_WKB,
                                  QgsCoordinateReferenceSystem.fromWkt(image.projection))
        x0, dx, _, y0, _, dy = image.geotransform

        classes = np.array(model.classes)
        feature = QgsFeature(fields)  # one feature refilled per cell: the sink stores a copy
        tagged_only = self.parameterAsEnum(parameters, "GRID_CELLS", context) == 1

        def add_patches(cells, probs):
            tagged = probs >= threshold
            if tagged_only:
                keep = tagged.any(axis=1)
                cells, probs, tagged = cells[keep], probs[keep], tagged[keep]
            # Attributes are prepared for the whole strip at once: a 5000 x 5000 scene has 389,376 cells at
            # stride 8, and a per-cell Python loop over the minerals took longer than the tagging itself. The
            # minerals tagged in a cell are the bits of one integer: few distinct sets, each named once.
            sets, which = np.unique(tagged @ (1 << np.arange(len(classes))), return_inverse=True)
            names = [", ".join(classes[(s >> np.arange(len(classes))) & 1 == 1]) for s in sets]
            tops = classes[probs.argmax(axis=1)].tolist()
            xs, ys = (x0 + cells[:, [0, 2]] * dx).tolist(), (y0 + cells[:, [3, 1]] * dy).tolist()
            for (xmin, xmax), (ymin, ymax), tag, top, values in zip(xs, ys, which.ravel(), tops,
                                                                   probs.astype(float).tolist()):
                feature.setGeometry(QgsGeometry.fromRect(QgsRectangle(xmin, ymin, xmax, ymax)))
                feature.setAttributes([names[tag], top] + values)
                if not sink.addFeature(feature, FAST_INSERT):
                    raise InputError("OUTPUT_GRID", f"a patch cell could not be written: {sink.lastError()}")

        feedback.pushInfo(f"Model '{model.name}' ({model.meta.get('training_data', 'declared by the user')}); "
                          f"bands {', '.join(model.bands)}; patch {model.patch_size} px; scaling: {image.scaling_source}.")
        feedback.pushInfo(model.runs_on())
        stride = self.parameterAsInt(parameters, "STRIDE", context) or None
        summary = None
        if sink is None:
            bands, patch = self.declared_shape(parameters, context)
            summary = run_on_cluster("tag", image, {"tags": output, "probabilities": probabilities}, feedback,
                                     model=model.path, model_bands=bands, model_patch=patch, stride=stride,
                                     threshold=threshold, percent=percent)
        elif scheduler(feedback):
            feedback.pushInfo("The patch grid (OUTPUT_GRID) is written through QGIS on this machine, so the tagging "
                              "runs here; leave OUTPUT_GRID empty to send the tiles to the Dask scheduler.")
        if summary is None:
            summary = tag_image(image, model, output, feedback, probabilities, stride, threshold,
                                add_patches if sink is not None else None, percent=percent)
        if summary["padded"]:
            feedback.pushWarning(f"The image is smaller than one {model.patch_size}-pixel patch: it was padded by "
                                 f"repeating its edge pixels.")
        patches = "" if summary["patches"] is None else f"{summary['patches']} patches, "
        feedback.pushInfo(f"{patches}stride {summary['stride']}, threshold {summary['threshold']}.")
        for name, count in summary["pixels_per_tag"].items():
            feedback.pushInfo(f"  {name}: {count} pixels")
        colours = model.class_colours()
        classes = [(0, "none", UNCLASSIFIED_COLOUR)] + [(i + 1, c, colour) for i, (c, colour) in
                                              enumerate(zip(model.classes, colours))]
        self.load_style_on_completion(context, output, style_paletted(output, classes))
        results = {"OUTPUT": output}
        if probabilities:  # the first mineral's band shown; Layer Properties picks another
            qml = style_pseudocolor(probabilities, 0.0, 100.0 if percent else 1.0, PROBABILITY_RAMP)
            self.load_style_on_completion(context, probabilities, qml)
            results["OUTPUT_PROBABILITIES"] = probabilities
        if sink is not None:
            results["OUTPUT_GRID"] = grid_id
        return results

