import math

from qgis.core import (QgsProcessingOutputFile,
                       QgsProcessingOutputNumber, QgsProcessingOutputString, QgsProcessingParameterFeatureSource,
                       QgsProcessingParameterField, QgsProcessingParameterFileDestination, QgsProcessingParameterNumber,
                       QgsProcessingParameterString)

from ..core.geochem.band_correlation import band_correlation
from ..core.io.blocks import check_outputs
from ..core.errors import InputError
from ..core.report.geochem_report import json_path
from .compat import INTEGER, NUMERIC_FIELD, POINTS
from .base import ProspectraAlgorithm
from .features import image_crs, read_points


class BandCorrelation(ProspectraAlgorithm):
    group_id = "inversion"
    packages = ("scipy",)

    def name(self):
        return "bandcorrelation"

    def displayName(self):  # noqa: N802
        return "Band correlation with sample values"

    def help_html(self):
        return (
            "<p>Correlates a numeric field of sample points (e.g. RE2O3 or La content) with the reflectance of each "
            "band of an image at those points: <b>Spearman's rank correlation</b> (Spearman 1904) and "
            "<b>Pearson's</b> linear correlation, with two-sided p-values (scipy.stats).</p>"
            "<p>Cheng et al. (2023, Frontiers in Earth Science, doi:10.3389/feart.2022.1086325, section 2.5 and "
            "Table 3) use Spearman's coefficient because contents are not normally distributed, and mark significant "
            "bands with * (p &lt; 0.05) and ** (p &lt; 0.01); the report shows the same table. Bands with a "
            "significant correlation are the candidates for an inversion model; the SIGNIFICANT_BANDS output lists "
            "them (Spearman, p &lt; 0.05) for the next step of a model.</p>"
            "<p><b>What the p-values do not cover.</b> They assume independent samples and test each band on its "
            "own. Neighbouring samples of a geochemical survey are alike, and so are neighbouring pixels: with "
            "spatially autocorrelated contents and reflectance, bands unrelated to the content reach p &lt; 0.05 far "
            "more often than 1 time in 20 (Clifford, Richardson and Hemon 1989), and several bands tested at once "
            "add to that. The report gives two corrections of Spearman's p-values beside them. <b>Autocorrelation</b>: "
            "Dutilleul's (1993) modified test counts the samples as the effective number of independent ones, "
            "estimated from the spatial autocorrelation of the content's and the band's ranks (Moran's I in 13 "
            "distance classes of equal width up to the largest distance between samples), never more than the "
            "samples there are. <b>Several bands</b>: Holm's "
            "(1979) procedure corrects for the number of bands tested. The log names the bands whose mark does not "
            "survive either correction (SIGNIFICANT_BANDS keeps the unadjusted marks of Table 3). Take the marks as "
            "a first screen, and judge a band by the inversion model's held-out samples (<i>Train content inversion "
            "model</i>), not by its p-value. The autocorrelation takes time in the square of the samples: about 9 s "
            "for 10,000 samples and 12 bands.</p>"
            "<p>The image is read in reflectance (SCALING, as in every Prospectra algorithm). Each point takes the "
            "pixel under it, or the mean of the valid pixels in a WINDOW x WINDOW square around it. To correlate with "
            "kriged contents instead of point values (the 'surface-to-surface' set of Cheng et al.), krige the "
            "samples onto the image grid first (Kriging algorithm) and sample that raster at the points.</p>"
            "<p>Points outside the image or on nodata are skipped and counted; at least 10 samples on valid pixels "
            "are needed. Outputs: an HTML report (table, bar chart; a JSON of the same name beside it) and a CSV "
            "with one row per band.</p>")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_image_parameters()
        self.addParameter(QgsProcessingParameterFeatureSource(
            "POINTS", "Sample points", [POINTS]))
        self.addParameter(QgsProcessingParameterField(
            "FIELD", "Field to correlate (numeric)", parentLayerParameterName="POINTS",
            type=NUMERIC_FIELD))
        self.addParameter(QgsProcessingParameterString(
            "BANDS", "Bands to correlate, comma separated (empty: all bands)", optional=True))
        self.add_advanced(QgsProcessingParameterNumber(
            "WINDOW", "Window around each point (pixels, odd; 1 = the pixel under the point)",
            INTEGER, defaultValue=1, minValue=1, maxValue=31))
        self.addParameter(QgsProcessingParameterFileDestination(
            "OUTPUT_REPORT", "Correlation report (HTML; a JSON of the same name is written beside it)",
            fileFilter="HTML files (*.html)"))
        self.addParameter(QgsProcessingParameterFileDestination(
            "OUTPUT_TABLE", "Correlation per band (CSV)", fileFilter="CSV files (*.csv)", optional=True,
            createByDefault=True))
        self.addOutput(QgsProcessingOutputFile("OUTPUT_JSON", "Correlation report as JSON"))
        self.addOutput(QgsProcessingOutputString(
            "SIGNIFICANT_BANDS", "Bands with a significant Spearman correlation (p < 0.05), comma separated"))
        self.addOutput(QgsProcessingOutputNumber("SAMPLES", "Samples used"))

    def execute(self, parameters, context, feedback):
        image = self.image(parameters, context, feedback)
        source = self.parameterAsSource(parameters, "POINTS", context)
        field = self.parameterAsString(parameters, "FIELD", context)
        if source is None:
            raise InputError("POINTS", "choose a point layer.")
        x, y, values, no_geometry = read_points(source, field, image_crs(source, image, "POINTS", feedback), context,
                                                "POINTS", "FIELD")
        if no_geometry:
            feedback.pushInfo(f"{no_geometry} features have no geometry (or could not be transformed) and were "
                              f"skipped.")
        bands = [b.strip() for b in self.parameterAsString(parameters, "BANDS", context).replace(";", ",").split(",")
                 if b.strip()]
        report = self.file_output(parameters, "OUTPUT_REPORT", context, ".html", ".htm")
        table = self.file_output(parameters, "OUTPUT_TABLE", context, ".csv")
        inputs = image.sources  # POINTS: checked with every layer parameter (base)
        check_outputs(inputs, OUTPUT_REPORT=report, OUTPUT_TABLE=table)
        result = band_correlation(image, x, y, values, field, bands or None,
                                  self.parameterAsInt(parameters, "WINDOW", context), feedback, report, table)
        s = result["samples"]
        feedback.pushInfo(f"{s['used']} samples used; skipped: {s['without_value']} without a value, "
                          f"{s['outside_image']} outside the image, {s['on_nodata']} on nodata pixels.")
        for r in result["bands"]:
            feedback.pushInfo(f"  {r['band']}: Spearman rho {r['spearman_rho']:.3f}{r['spearman_sig']} "
                              f"(p {r['spearman_p']:.3g}; {r['effective_n']:.0f} effective samples, p "
                              f"{r['spearman_p_dutilleul']:.3g}), Pearson r {r['pearson_r']:.3f}{r['pearson_sig']} "
                              f"(p {r['pearson_p']:.3g})")
        unestimated = [r["band"] for r in result["bands"] if math.isfinite(r["spearman_p"])
                       and not math.isfinite(r["effective_n"])]
        if unestimated:
            feedback.pushWarning(f"{', '.join(unestimated)}: the effective sample size could not be estimated (the "
                                 f"estimated variance of the coefficient is not positive, which happens with few "
                                 f"samples); their p-values are not corrected for spatial autocorrelation.")
        for key, correction, untested in (
                ("significant_bands_dutilleul", "the correction for the spatial autocorrelation of the samples "
                                                "(Dutilleul's effective sample size)", unestimated),
                ("significant_bands_holm", f"Holm's correction for the {result['bands_tested']} bands tested", [])):
            lost = [b for b in result["significant_bands"] if b not in result[key] and b not in untested]
            if lost:
                feedback.pushWarning(f"{', '.join(lost)}: significant at p < 0.05 on {'its' if len(lost) == 1 else 'their'} "
                                     f"own, not after {correction}; a mark that chance alone may give.")
        results = {"OUTPUT_REPORT": report, "OUTPUT_JSON": json_path(report),
                   "SIGNIFICANT_BANDS": ",".join(result["significant_bands"]), "SAMPLES": s["used"]}
        if table:
            results["OUTPUT_TABLE"] = table
        return results
