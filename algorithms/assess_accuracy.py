import html

from qgis.core import (QgsProcessingOutputFile, QgsProcessingOutputNumber, QgsProcessingParameterFeatureSource,
                       QgsProcessingParameterField, QgsProcessingParameterFileDestination)

from ..core.errors import InputError
from ..core.io.blocks import check_outputs
from ..core.report.geochem_report import json_path
from ..core.report.map_accuracy import REFERENCES, ClassMap, assess_map, assess_map_on_raster, not_estimated
from .base import ProspectraAlgorithm
from .parameters import RasterInput
from .compat import ANY_FIELD, POINTS, POLYGONS
from .features import labelled_features


class AssessAccuracy(ProspectraAlgorithm):
    group_id = "classification"

    def name(self):
        return "assessaccuracy"

    def displayName(self):  # noqa: N802
        return "Assess a class map against reference sites"

    def help_html(self):
        return (
            "<p>Checks a class map (a mineral map from the Spectral Angle Mapper, a lithology map from Random "
            "Forest, mineral tags, or any class raster) against reference sites of known class: field observations, "
            "samples, or a trusted map's classes at points; or, pixel by pixel, against a reference class raster "
            "(such as USGS Tetracorder's mineral map of a scene). A map is only as good as its agreement with ground "
            "it was not made from; use sites that played no part in making it.</p>"
            "<p>Give either <b>REFERENCE</b> (sites, with <b>FIELD</b>) or <b>REFERENCE_RASTER</b>, not both.</p>"
            "<p><b>MAP</b>: band 1 holds the class values; nodata pixels are left out. <b>REFERENCE</b>: points (the "
            "pixel under each) or polygons (every pixel whose centre falls inside), transformed to the map's CRS "
            "(when neither has a CRS, as for an ungeoreferenced scene, the sites are taken on the map's pixel "
            "grid). <b>FIELD</b> holds each site's class: integer codes meet the map's class values; text names "
            "meet the class names the map carries (Prospectra writes them into its class rasters; case does not "
            "matter). A map class that joins several minerals, as the Spectral Angle Mapper names classes the "
            "sensor cannot tell apart ('Alunite / Kaolinite'), agrees with each of them, and those minerals are "
            "assessed as one class, since the map claims no more than the group (so are names that differ only in "
            "case). A map that joins classes therefore scores higher than one that separates them; the report and "
            "the log say which were joined.</p>"
            "<p><b>REFERENCE_RASTER</b>: band 1 holds the reference classes, on the map's grid: the same size, "
            "geotransform and CRS (or neither georeferenced). It is not resampled: another grid is refused, and "
            "should be warped onto the map's first with nearest-neighbour resampling. Every pixel where both hold a "
            "class is compared; nodata in either is left out. Either holding more than 1000 distinct values (a DEM or a "
            "band given by mistake) is refused: no legend has that many classes. Where the reference carries class names (GDAL "
            "categories or an attribute table), they meet the map's class names as FIELD's names do, groups "
            "included; the map must then carry names too. Where it carries none, its values meet the map's class "
            "values, as integer codes in FIELD do (the log warns when the map has names: codes of two legends, "
            "such as Tetracorder's and a SAM map's, rarely mean the same). Reference pixels of a class no map class agrees with count as "
            "disagreement, and the report and the log name the class. The report is the same, counted in pixels, "
            "without the estimate over the whole map: every pixel was compared, so there is nothing to "
            "estimate, but the reference map has errors of its own.</p>"
            "<p><b>REPORT</b>: an HTML page (a JSON of the same name beside it) with the confusion matrix in pixels, "
            "overall accuracy, Cohen's kappa, and per reference class its sites, pixels, precision (user's "
            "accuracy), recall (producer's accuracy) and F1; reference classes no map class agrees with; and "
            "every site skipped, with why (no class, no geometry, outside the map, on nodata), or against "
            "REFERENCE_RASTER the pixels left out as nodata in each raster. Pixels in two sites (overlapping "
            "polygons) count in each, and the log says how many.</p>"
            "<p>Pixels of one polygon are not independent, and sites placed where the ground is easy to recognise "
            "flatter any map: for an unbiased estimate, draw sites at random, stratified by mapped class "
            "('unclassified' too), one point each. For such sites the report also estimates the whole map "
            "(Olofsson et al. 2014): each map class weighs by its share of the map, not by its number of sites, "
            "giving the overall accuracy, user's and producer's accuracy, and each reference class's true area, "
            "with 95 % confidence intervals. It needs at least 2 point sites in every map class, and says which "
            "classes lack them.</p>"
            "<p><b>References</b></p><ul>" + "".join(f"<li>{html.escape(r)}</li>" for r in REFERENCES) + "</ul>")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(RasterInput("MAP", "Class map (band 1: class values)"))
        self.addParameter(QgsProcessingParameterFeatureSource(
            "REFERENCE", "Reference sites (points or polygons; or give REFERENCE_RASTER)", [POINTS, POLYGONS],
            optional=True))
        self.addParameter(QgsProcessingParameterField(
            "FIELD", "Class field of the sites (integer class values, or class names)",
            parentLayerParameterName="REFERENCE", type=ANY_FIELD, optional=True))
        self.addParameter(RasterInput(
            "REFERENCE_RASTER", "Reference class raster on the map's grid (band 1; or give REFERENCE)", optional=True))
        self.addParameter(QgsProcessingParameterFileDestination(
            "REPORT", "Accuracy report (HTML; a JSON of the same name is written beside it)",
            fileFilter="HTML files (*.html)"))
        self.addOutput(QgsProcessingOutputFile("REPORT_JSON", "Accuracy report as JSON"))
        self.addOutput(QgsProcessingOutputNumber("OVERALL_ACCURACY", "Overall accuracy"))
        self.addOutput(QgsProcessingOutputNumber("KAPPA", "Cohen's kappa"))

    def execute(self, parameters, context, feedback):
        maps = self.raster_files(parameters, "MAP", context)
        if not maps:
            raise InputError("MAP", "choose a class raster.")
        class_map = ClassMap(maps[0], "MAP")
        self.warn_named_nodata(class_map, feedback)
        report = self.file_output(parameters, "REPORT", context, ".html", ".htm")
        sites = self.parameterAsSource(parameters, "REFERENCE", context)
        rasters = self.raster_files(parameters, "REFERENCE_RASTER", context)
        if (sites is None) == (not rasters):  # one reference, or which one a figure refers to is unclear
            raise InputError("REFERENCE_RASTER" if rasters else "REFERENCE",
                             "give REFERENCE (sites) or REFERENCE_RASTER (a class raster), not both." if rasters else
                             "give the reference: REFERENCE (sites, with FIELD) or REFERENCE_RASTER (a class raster "
                             "on the map's grid).")
        check_outputs([maps[0], *rasters], REPORT=report)  # REFERENCE: checked with every layer parameter (base)
        if rasters:
            if self.parameterAsString(parameters, "FIELD", context):
                feedback.pushWarning("FIELD is ignored: it names the class field of REFERENCE's sites, and "
                                     "REFERENCE_RASTER holds its classes in band 1.")
            reference = ClassMap(rasters[0], "REFERENCE_RASTER")
            self.warn_named_nodata(reference, feedback)
            if not reference.class_names and class_map.class_names:  # codes of two legends rarely coincide
                first = min(class_map.class_names)
                feedback.pushWarning(f"REFERENCE_RASTER carries no class names, so its values are taken as MAP's "
                                     f"class values ({first} is MAP's '{class_map.label(first)}' ...). If its codes "
                                     f"follow another legend, name its classes (a raster attribute table, or GDAL "
                                     f"category names) to match them by name.")
            result = assess_map_on_raster(class_map, reference, report, feedback)
        else:
            features = labelled_features(sites, self.parameterAsString(parameters, "FIELD", context), class_map,
                                         context, feedback, "REFERENCE", "MAP")
            result = assess_map(class_map, features, report, feedback)
        self.log(result, feedback)
        return {"REPORT": report, "REPORT_JSON": json_path(report), "OVERALL_ACCURACY": result["overall_accuracy"],
                "KAPPA": result["kappa"]}

    @staticmethod
    def warn_named_nodata(class_map, feedback):
        """A warning when the raster's nodata value is one of its named classes: that class's pixels are left out
        as nodata, without a word in the figures."""
        if class_map.nodata is not None and class_map.nodata in class_map.class_names:
            feedback.pushWarning(f"{class_map.parameter}'s nodata value {class_map.nodata:g} is its class "
                                 f"'{class_map.label(class_map.nodata)}': its pixels are left out as nodata, not "
                                 f"scored. If they are a class, give the raster another nodata value (raster "
                                 f"properties, or gdal_edit.py -a_nodata).")

    @staticmethod
    def log(result, feedback):
        """The report's figures and warnings in the log."""
        raster = result["geometry"] == "raster"
        units = "pixels" if raster else "sites"  # a reference raster's sites are its pixels
        for k in result["classes"]:
            counted = f"{k['pixels']} pixels" if raster else f"{k['sites']} sites, {k['pixels']} pixels"
            feedback.pushInfo(f"  {k['class']} ({counted}): precision {k['precision']:.3f}, recall {k['recall']:.3f}, "
                              f"F1 {k['f1']:.3f}; agrees with {', '.join(k['map_classes']) or 'no map class'}")
        if result["unmatched"]:
            pixels = "" if raster else f"({sum(k['pixels'] for k in result['classes'] if not k['map_classes'])} pixels) "
            feedback.pushWarning(f"No class of the map agrees with {', '.join(result['unmatched'])}: their {units} "
                                 f"{pixels}count as disagreement. Check "
                                 f"{'REFERENCE_RASTER' if raster else 'FIELD'} against the map's class names.")
        if result["together"]:
            feedback.pushWarning(f"Assessed together, as the map does not tell them apart (or their names differ "
                                 f"only in case): {'; '.join(result['together'])}.")
        if result["not_assessed"]:
            feedback.pushWarning(f"Not assessed: {', '.join(result['not_assessed'])}: "
                                 + ("all its pixels lie on the map's nodata." if raster else
                                    "no site of it covers a valid pixel of the map."))
        c = result["counts"]
        if raster:
            both = c["map_nodata"] + c["reference_nodata"] + c["compared"] - c["pixels"]
            feedback.pushInfo(f"Left out: {c['map_nodata']} pixels of nodata in MAP, {c['reference_nodata']} in "
                              f"REFERENCE_RASTER ({both} in both); {c['compared']} of {c['pixels']} compared.")
        else:
            skipped = [f"{n} {why}" for why, n in (("without a class", c["no_class"]),
                                                   ("without a geometry (or not transformable)", c["no_geometry"]),
                                                   ("outside the map", c["outside"]),
                                                   ("too small to hold a pixel centre", c["no_pixel_centre"]),
                                                   ("only on nodata pixels", c["on_nodata"])) if n]
            if skipped:  # the report lists them too; a user reading only the log would not know
                feedback.pushWarning(f"Sites skipped: {'; '.join(skipped)}.")
            if c["pixels_in_several_features"]:
                feedback.pushWarning(f"{c['pixels_in_several_features']} pixels lie in two or more sites (overlapping "
                                     f"polygons, or points in one pixel) and are counted in each.")
        feedback.pushInfo(f"Overall accuracy {result['overall_accuracy']:.3f}, Cohen's kappa {result['kappa']:.3f}, "
                          f"over {result['pixels']} pixels" + ("." if raster else f" of {result['sites']} sites."))
        whole = result["area_weighted"]
        if whole is None:
            feedback.pushInfo(not_estimated(result))
        else:
            feedback.pushInfo(f"Over the whole map, if the sites are a random sample stratified by map class: overall "
                              f"accuracy {whole['overall_accuracy']:.3f} +/- {1.96 * whole['overall_se']:.3f} (95 %).")
