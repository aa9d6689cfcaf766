import csv

from qgis.core import (QgsProcessingParameterBoolean,
                       QgsProcessingParameterEnum, QgsProcessingParameterFeatureSource, QgsProcessingParameterField,
                       QgsProcessingParameterFile, QgsProcessingParameterFileDestination, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterDestination, QgsProcessingParameterString)

from ..core.io.blocks import check_outputs
from ..core.errors import InputError
from ..core.report.palettes import RATIO_RAMP, UNCLASSIFIED_COLOUR
from ..core.spectral.spectral_angle_mapper import FALLBACK_ANGLE, IDENTIFIED, map_minerals
from ..core.spectral.spectral_library import (default_endmember_names, endmember_library, library_from_points,
                                     usgs_selection)
from .compat import DOUBLE, INTEGER, POINTS
from .base import ProspectraAlgorithm
from .cluster_setting import run_on_cluster
from .features import field_index, image_crs, request_in, require_point_layer
from .parameters import UNITS, split_names
from .styles import style_paletted, style_pseudocolor

IDENTIFIABILITY = "docs/identifiability.md"

def parse_class_angles(text):
    """'Calcite=0.08; Alunite=0.12' -> {'Calcite': 0.08, 'Alunite': 0.12}."""
    out = {}
    for item in filter(None, (t.strip() for t in text.replace(";", ",").split(","))):
        name, _, value = item.partition("=")
        name = name.strip()
        if name.lower() in {n.lower() for n in out}:
            raise InputError("CLASS_ANGLES", f"{name} is given more than one angle; give each class one.")
        try:
            out[name] = float(value)
        except ValueError:
            raise InputError("CLASS_ANGLES", f"'{item}' is not name=angle (e.g. Calcite=0.08).") from None
    return out


class SpectralAngleMapper(ProspectraAlgorithm):
    group_id = "spectral"
    packages = ("numba",)

    def name(self):
        return "spectralanglemapper"

    def displayName(self):  # noqa: N802
        return "Spectral Angle Mapper"

    def help_html(self):
        absent = ", ".join(usgs_selection()["absent"])
        return (
            "<p>Maps minerals by the spectral angle between each pixel's reflectance and reference spectra "
            "(Kruse et al. 1993, Remote Sens. Environ. 44, 145-163). The angle ignores brightness, so shading "
            "does not change it.</p>"
            "<p><b>A mineral, not a sample.</b> A mineral name stands for every reflectance sample USGS holds of "
            "it (those that cover the bands used); a pixel's angle to the mineral is its smallest angle to any of "
            "them, and the summary names the sample that matched most pixels. A sample title or file key "
            "(<code>Kaolinite CM9</code>) still selects that one sample.</p>"
            "<p><b>What the sensor can tell apart, measured.</b> Before mapping, each sample is left out of the "
            "library in turn, made into noisy pixels at the image's own noise level (estimated from differences of "
            "neighbouring pixels; for a band stored finer than it was measured, whose neighbours repeat, of pixels "
            "as far apart as its repeated blocks, and the log says which) and brightness, and matched with the "
            "rest by the rule the map uses (below). A "
            f"mineral whose unseen samples are mapped to it less than {IDENTIFIED:.0%} of the time is joined with "
            "the class it is most confused with (mapped to, or left within the margin of), until every mineral "
            "passes: the map then shows the group (e.g. <code>Alunite / Kaolinite</code>) instead of guessing "
            "between its members. When every mineral joins one group, the sensor can tell none of them apart "
            "and the algorithm stops, naming ENDMEMBERS. KEEP_APART keeps them apart, with a warning. A pixel "
            "whose best class beats the best class of another group by no more than the margin stays "
            "unclassified; the margin is measured in the same trials (how far the noise moves the difference "
            "between a pixel's two nearest classes, 95th percentile). The log lists how well each mineral was "
            f"identified and what it was confused with; <code>{IDENTIFIABILITY}</code> in the plugin's repository "
            "tabulates this for every sensor.</p>"
            "<p><b>Maximum angle.</b> By default each class's own: the 95th percentile of the angles between its "
            "unseen samples (with noise) and the rest of its samples, so an unseen sample of the mineral is accepted "
            "19 times in 20; for a group, the largest such angle of its minerals, so each of them is (a group's "
            "many samples of one mineral would otherwise set the angle for all); "
            f"{FALLBACK_ANGLE:g} rad for a class given by a single spectrum. A 95th percentile needs 19 samples: "
            "the log says where a mineral has fewer (n), and that an unseen sample of it then falls beyond the "
            "limit about 1 time in n + 1. MAX_ANGLE sets one "
            "angle for all classes; CLASS_ANGLES per class (<code>Calcite=0.08; Alunite=0.12</code>).</p>"
            "<p><b>On real ground</b> (the USGS Tetracorder map of Cuprite, Nevada, with Landsat TM bands; "
            "<code>docs/validation.md</code>): six TM bands cannot tell the seven minerals Tetracorder maps there "
            "apart, and SAM says so instead of mapping them. Library spectra of pure minerals match few real, mixed "
            "pixels; spectra taken from the image at known outcrops (POINTS) map far more, and a band ratio (TM "
            "5/7) maps the Al-OH alteration they share. Treat a library SAM map as a list of the purest exposures, "
            "not as a complete map.</p>"
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
            "<p><b>Outputs</b>: class raster (0 unclassified, 255 nodata) with mineral names and colours in the "
            "GeoTIFF itself (category names and colour table, for any GIS) and in its style (feldspar #FE00FE as in "
            "Munzareen et al. 2025); rule image, one band of angles (radians) per class, band descriptions = names; "
            "CSV summary of pixels, area, percentage and best-matching sample per class. Pixels "
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
            "MAX_ANGLE", "Maximum angle for every class (radians; empty: each class's own, measured)", DOUBLE,
            optional=True))
        self.add_advanced(QgsProcessingParameterBoolean(
            "KEEP_APART", "Keep minerals the sensor cannot tell apart as separate classes (with a warning)",
            defaultValue=False, optional=True))  # optional: models saved before it existed still run
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
        require_point_layer(source, "POINTS")
        field = self.parameterAsString(parameters, "LABEL_FIELD", context)
        index = field_index(source, field, "LABEL_FIELD", "POINTS", "each point's class")
        request = request_in(source, image_crs(source, image, "POINTS", feedback), context)
        points, unlabelled, unplaced = [], 0, 0
        for feature in source.getFeatures(request):
            geometry, label = feature.geometry(), feature.attribute(index)
            if label is None or (hasattr(label, "isNull") and label.isNull()) or not str(label).strip():
                unlabelled += 1  # a NULL or empty label names no class
                continue
            if geometry.isEmpty():
                unplaced += 1  # none, or outside the area the image's CRS covers
                continue
            for p in geometry.vertices():
                points.append((p.x(), p.y(), str(label).strip()))
        library = library_from_points(image, points, self.parameterAsInt(parameters, "WINDOW", context))
        feedback.pushInfo(f"{len(points) - library.skipped} points give spectra; {library.skipped} fall outside the "
                          f"image or on nodata and were skipped; {unlabelled} have no {field} and {unplaced} no geometry "
                          f"or none in the area the image's CRS covers: skipped too.")
        return library

    def execute(self, parameters, context, feedback):
        image = self.image(parameters, context, feedback)
        library_path = self.parameterAsFile(parameters, "LIBRARY", context) or None
        library = endmember_library(
            split_names(self.parameterAsString(parameters, "ENDMEMBERS", context)), library_path,
            UNITS[self.parameterAsEnum(parameters, "WAVELENGTH_UNITS", context)],
            self.points_library(parameters, context, image, feedback), all_samples=True)
        bands = split_names(self.parameterAsString(parameters, "BANDS", context)) or image.surface_bands
        bands = image.require(bands, "BANDS")
        output = self.output_path(parameters, "OUTPUT", context)
        rule = self.output_path(parameters, "OUTPUT_RULE", context) or None
        summary_path = self.file_output(parameters, "OUTPUT_SUMMARY", context, ".csv")
        check_outputs(image.sources + ([library_path] if library_path else []),
                      OUTPUT=output, OUTPUT_RULE=rule, OUTPUT_SUMMARY=summary_path)
        keep_apart = self.parameterAsBoolean(parameters, "KEEP_APART", context)
        max_angle = self.optional_number(parameters, "MAX_ANGLE", context)
        class_angles = parse_class_angles(self.parameterAsString(parameters, "CLASS_ANGLES", context))
        summary = run_on_cluster("sam", image, {"classes": output, "angles": rule}, feedback, library=library,
                                 bands=bands, max_angle=max_angle, class_angles=class_angles, keep_apart=keep_apart)
        if summary is None:
            summary = map_minerals(image, library, bands, output, feedback, rule, max_angle, class_angles, keep_apart)
        dropped = summary["dropped"]
        feedback.pushInfo(f"{len(summary['endmembers'].groups)} classes from {summary['source']}, {summary['spectra']} "
                          f"spectra{f' ({len(dropped)} samples left out: they miss a band)' if dropped else ''}; bands "
                          f"{', '.join(bands)}; scaling: {image.scaling_source}.")
        feedback.pushInfo(f"noise per band ({summary['noise_source']}): "
                          f"{', '.join(f'{v:.4f}' for v in summary['noise'])}; {summary['noise_note']}")
        for line in summary["separability"]:
            feedback.pushInfo(line)
        for g in summary["joined"]:
            if keep_apart:
                feedback.pushWarning(f"The sensor cannot reliably tell {', '.join(g)} apart; they are kept "
                                     f"apart as asked (KEEP_APART), so expect them to be confused.")
            else:
                feedback.pushInfo(f"joined into one class, the sensor cannot tell them apart: {' / '.join(g)}")
        for n, a, h in zip(summary["endmembers"].names, summary["max_angles"].values(), summary["limit_sources"]):
            feedback.pushInfo(f"maximum angle {n}: {a:.3f} rad ({h})")
        for row in summary["classes"]:
            best = f", best sample {row['best_sample']}" if row["best_sample"] else ""
            feedback.pushInfo(f"{row['class']:4d} {row['name']}: {row['pixels']} pixels ({row['percent']:.2f} %){best}")
        if not image.projection:
            feedback.pushInfo("The image has no georeference (no coordinate system): outputs are on its pixel grid "
                              "and areas are in pixels.")
        colours = [UNCLASSIFIED_COLOUR] + summary["colours"]
        classes = [(row["class"], row["name"], c) for row, c in zip(summary["classes"], colours)]
        self.load_style_on_completion(context, output, style_paletted(output, classes))
        results = {"OUTPUT": output}
        if rule:  # close matches (small angles) red, up to twice the widest limit; first class shown
            qml = style_pseudocolor(rule, 0.0, 2 * max(summary["max_angles"].values()), RATIO_RAMP[::-1])
            self.load_style_on_completion(context, rule, qml)
            results["OUTPUT_RULE"] = rule
        if summary_path:
            with open(summary_path, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=["class", "name", "pixels", "area", "percent", "best_sample"])
                w.writeheader()
                w.writerows(summary["classes"])
            results["OUTPUT_SUMMARY"] = summary_path
        return results
