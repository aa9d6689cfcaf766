import csv

from qgis.core import (QgsCoordinateReferenceSystem, QgsCoordinateTransform,
                       QgsProcessingParameterEnum, QgsProcessingParameterFeatureSource, QgsProcessingParameterField,
                       QgsProcessingParameterFile, QgsProcessingParameterFileDestination, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterDestination, QgsProcessingParameterString)

from ..core.blocks import check_outputs
from ..core.errors import InputError
from ..core.spectral_angle_mapper import spectral_angle_mapper
from ..core.spectral_library import (default_endmember_names, endmember_library, library_from_points,
                                     usgs_selection)
from .compat import DOUBLE, INTEGER, POINTS
from .base import ProspectraAlgorithm
from .styles import CLASS_COLOURS, RATIO_RAMP, style_paletted, style_pseudocolor

UNITS = ["auto", "nm", "um"]


def split_names(text):
    return [n.strip() for n in text.replace(";", ",").split(",") if n.strip()]


def parse_class_angles(text):
    """'Calcite=0.08; Alunite=0.12' -> {'Calcite': 0.08, 'Alunite': 0.12}."""
    out = {}
    for item in filter(None, (t.strip() for t in text.replace(";", ",").split(","))):
        name, _, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise InputError("CLASS_ANGLES", f"'{item}' is not name=angle (e.g. Calcite=0.08).") from None
    return out


def class_colours(names):
    """Paper 001's colours for its minerals; distinct colours, none close to one already used, for the rest."""
    known = {e["name"].lower(): e["colour"] for e in usgs_selection()["paper001_endmembers"]}
    out = [known.get(n.lower()) for n in names]

    def rgb(colour):
        return [int(colour[i:i + 2], 16) for i in (1, 3, 5)]

    def far_from_used(colour):
        return all(sum((a - b) ** 2 for a, b in zip(rgb(colour), rgb(u))) > 80 ** 2 for u in filter(None, out))

    for i, colour in enumerate(out):
        if colour is None:
            out[i] = next((c for c in CLASS_COLOURS if far_from_used(c)),
                          CLASS_COLOURS[i % len(CLASS_COLOURS)])
    return out


class SpectralAngleMapper(ProspectraAlgorithm):
    group_id = "spectral"

    def name(self):
        return "spectralanglemapper"

    def displayName(self):  # noqa: N802
        return "Spectral Angle Mapper"

    def help_html(self):
        absent = ", ".join(usgs_selection()["absent"])
        return (
            "<p>Maps minerals by the spectral angle between each pixel's reflectance and reference spectra "
            "(Kruse et al. 1993, Remote Sens. Environ. 44, 145-163). The angle ignores brightness, so shading "
            "does not change it. A pixel takes the class with the smallest angle if that angle is within the "
            "class's maximum angle (MAX_ANGLE, default 0.10 rad; per class with CLASS_ANGLES, e.g. "
            "<code>Calcite=0.08; Alunite=0.12</code>); otherwise it stays unclassified (0).</p>"
            "<p><b>Reference spectra</b>, one source at a time:</p><ul>"
            "<li>the bundled USGS Spectral Library Version 7 (Kokaly et al. 2017, USGS Data Series 1035), resampled "
            "to the sensor by its spectral response curves. ENDMEMBERS takes mineral names (<code>Calcite, Alunite, "
            "Kaolinite</code>), sample titles (<code>Kaolinite CM9</code>) or file keys. Empty: the alteration "
            f"minerals of Munzareen et al. (2025) that USGS holds: {', '.join(default_endmember_names())} "
            f"(feldspar = orthoclase, sericite = muscovite). Not in USGS splib07: {absent}.</li>"
            "<li>LIBRARY: a CSV (wavelength + one column per spectrum, nm or um) or an ENVI spectral library "
            "(.sli + .hdr);</li>"
            "<li>POINTS: spectra taken from the image itself, the mean of WINDOW x WINDOW pixels around each "
            "point, averaged per LABEL_FIELD value. Rakhymberdina et al. (2025) note that single-mineral library "
            "spectra are a weak proxy for whole rocks: image spectra of known outcrops often separate rock units "
            "better.</li></ul>"
            "<p>BANDS chooses the bands compared; by default all except those dominated by the atmosphere "
            "(Sentinel-2 B1, B9, B10) or thermal (TM B6).</p>"
            "<p><b>Outputs</b>: class raster (0 unclassified, 255 nodata) styled with mineral names and colours "
            "(feldspar #FE00FE as in Munzareen et al. 2025); rule image, one band of angles (radians) per "
            "endmember, band descriptions = names; CSV summary of pixels, area and percentage per class. Pixels "
            "that are nodata, or zero or negative in every band, are nodata in every output.</p>")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_image_parameters()
        self.addParameter(QgsProcessingParameterString(
            "ENDMEMBERS", "Endmembers, comma separated (empty: default alteration minerals, or all of LIBRARY or "
                          "POINTS)", optional=True))
        self.addParameter(QgsProcessingParameterFile(
            "LIBRARY", "Spectral library file instead of the bundled USGS library (CSV or ENVI .sli)",
            optional=True, fileFilter="Spectral libraries (*.csv *.sli);;All files (*.*)"))
        self.add_advanced(QgsProcessingParameterEnum("WAVELENGTH_UNITS", "Wavelength units of the CSV library",
                                                     UNITS, defaultValue=0))
        self.addParameter(QgsProcessingParameterFeatureSource(
            "POINTS", "Points where the image gives the reference spectra (instead of a library)",
            [POINTS], optional=True))
        self.addParameter(QgsProcessingParameterField(
            "LABEL_FIELD", "Field naming each point's class", parentLayerParameterName="POINTS", optional=True))
        self.add_advanced(QgsProcessingParameterNumber(
            "WINDOW", "Window around each point (pixels, odd)", INTEGER,
            defaultValue=3, minValue=1, maxValue=31))
        self.addParameter(QgsProcessingParameterString(
            "BANDS", "Bands to compare, comma separated (empty: all but atmospheric and thermal bands)",
            optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            "MAX_ANGLE", "Maximum angle (radians)", DOUBLE, defaultValue=0.10))
        self.add_advanced(QgsProcessingParameterString(
            "CLASS_ANGLES", "Maximum angle per class, e.g. Calcite=0.08; Alunite=0.12", optional=True))
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", "Mineral classes"))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT_RULE", "Spectral angles (one band per endmember)", optional=True, createByDefault=True))
        self.addParameter(QgsProcessingParameterFileDestination(
            "OUTPUT_SUMMARY", "Class summary", fileFilter="CSV files (*.csv)", optional=True, createByDefault=True))

    def points_library(self, parameters, context, image, feedback):
        source = self.parameterAsSource(parameters, "POINTS", context)
        if source is None:
            return None
        field = self.parameterAsString(parameters, "LABEL_FIELD", context)
        if not field:
            raise InputError("LABEL_FIELD", "choose the field that names each point's class.")
        transform = QgsCoordinateTransform(source.sourceCrs(), QgsCoordinateReferenceSystem.fromWkt(image.projection),
                                           context.transformContext())
        points = []
        for feature in source.getFeatures():
            geometry = feature.geometry()
            if geometry.isEmpty():
                continue
            geometry.transform(transform)
            for p in geometry.vertices():
                points.append((p.x(), p.y(), feature[field]))
        library = library_from_points(image, points, self.parameterAsInt(parameters, "WINDOW", context))
        feedback.pushInfo(f"{len(points) - library.skipped} points give spectra; {library.skipped} fall outside the "
                          f"image or on nodata and were skipped.")
        return library

    def execute(self, parameters, context, feedback):
        image = self.image(parameters, context)
        library = endmember_library(
            split_names(self.parameterAsString(parameters, "ENDMEMBERS", context)),
            self.parameterAsFile(parameters, "LIBRARY", context) or None,
            UNITS[self.parameterAsEnum(parameters, "WAVELENGTH_UNITS", context)],
            self.points_library(parameters, context, image, feedback))
        bands = split_names(self.parameterAsString(parameters, "BANDS", context)) or image.surface_bands
        bands = image.require(bands, "BANDS")
        matrix = library.resample(image.sensor, bands)
        names = library.names
        output = self.output_path(parameters, "OUTPUT", context)
        rule = self.output_path(parameters, "OUTPUT_RULE", context) or None
        summary_path = self.parameterAsFileOutput(parameters, "OUTPUT_SUMMARY", context) or None
        check_outputs(image.sources, OUTPUT=output, OUTPUT_RULE=rule, OUTPUT_SUMMARY=summary_path)
        feedback.pushInfo(f"{len(names)} endmembers from {library.source}: {', '.join(names)}; bands "
                          f"{', '.join(bands)}; scaling: {image.scaling_source}.")
        summary = spectral_angle_mapper(
            image, names, matrix, bands, self.parameterAsDouble(parameters, "MAX_ANGLE", context),
            parse_class_angles(self.parameterAsString(parameters, "CLASS_ANGLES", context)),
            output, feedback, rule)
        for row in summary["classes"]:
            feedback.pushInfo(f"{row['class']:4d} {row['name']}: {row['pixels']} pixels ({row['percent']:.2f} %)")
        colours = ["#d0d0d0"] + class_colours(names)  # unclassified in light grey
        classes = [(row["class"], row["name"], c) for row, c in zip(summary["classes"], colours)]
        self.load_style_on_completion(context, output, style_paletted(output, classes))
        results = {"OUTPUT": output}
        if rule:  # close matches (small angles) red, up to twice MAX_ANGLE; first endmember shown
            qml = style_pseudocolor(rule, 0.0, 2 * self.parameterAsDouble(parameters, "MAX_ANGLE", context),
                                    RATIO_RAMP[::-1])
            self.load_style_on_completion(context, rule, qml)
            results["OUTPUT_RULE"] = rule
        if summary_path:
            with open(summary_path, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=["class", "name", "pixels", "area", "percent"])
                w.writeheader()
                w.writerows(summary["classes"])
            results["OUTPUT_SUMMARY"] = summary_path
        return results
