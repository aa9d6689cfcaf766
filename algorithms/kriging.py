from qgis.core import (QgsCoordinateReferenceSystem, QgsProcessingOutputFile,
                       QgsProcessingOutputNumber, QgsProcessingOutputString, QgsProcessingParameterBoolean,
                       QgsProcessingParameterCrs, QgsProcessingParameterEnum, QgsProcessingParameterExtent,
                       QgsProcessingParameterFeatureSource, QgsProcessingParameterField,
                       QgsProcessingParameterFileDestination, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterDestination,
                       QgsProcessingParameterString)

from ..core.io.blocks import check_outputs
from ..core.errors import InputError
from ..core.report.geochem_report import json_path
from ..core.geochem.geochem_samples import numeric_samples
from ..core.geochem.kriging import (DEFAULT_LAGS, DEFAULT_NEIGHBOURS, VARIOGRAM_MODELS, Grid, Variogram, kriging,
                                    parse_variogram_parameters)
from .compat import DOUBLE, INTEGER, NUMERIC_FIELD, POINTS, WKT_GDAL
from .base import ProspectraAlgorithm
from .parameters import RasterInput
from .features import read_points
from .styles import style_pseudocolor

MODEL_CHOICES = ["auto"] + list(VARIOGRAM_MODELS)
# Sequential yellow-green-blue (ColorBrewer YlGnBu) for the variance: darker is less certain.
VARIANCE_RAMP = ["#ffffcc", "#a1dab4", "#41b6c4", "#2c7fb8", "#253494"]


class Kriging(ProspectraAlgorithm):
    group_id = "inversion"
    packages = ("pykrige.ok", "scipy", "numba")

    def name(self):
        return "kriging"

    def displayName(self):  # noqa: N802
        return "Kriging (ordinary) of point samples"

    def help_html(self):
        return (
            "<p>Interpolates a numeric field of a point layer (e.g. element contents of soil or till samples) onto a "
            "raster grid by <b>ordinary Kriging</b> (Matheron 1963, Economic Geology 58; Cressie 1993, Statistics "
            "for Spatial Data). The variogram fit, the cross-validation's systems and the predictions with all samples are "
            "<b>pykrige</b>'s (Murphy, Mueller, Yurchak et al., GeoStat-Framework); with a moving neighbourhood, a "
            "compiled kernel solves pykrige's own system once for each set of neighbours that pixels share (the "
            "tests hold it equal to pykrige to 1e-6 relative; where a pixel is equally far from its N-th and "
            "N+1-th nearest samples, either set is a nearest set, and the two may pick differently). QGIS itself "
            "has no Kriging.</p>"
            "<p>This is the first step of the 'surface-to-surface' sample set of Cheng et al. (2023, Frontiers in "
            "Earth Science, doi:10.3389/feart.2022.1086325, section 2.4): sample contents kriged onto the image grid "
            "so that content and pixel spectra refer to the same area.</p>"
            "<p><b>Grid</b>: the grid of REFERENCE (e.g. the image), or EXTENT with PIXEL_SIZE in CRS (empty: the "
            "extent's CRS, else the point layer's). The CRS must be projected (distances in metres). Points outside "
            "the grid are used: they inform the prediction near its edges; the log and report say how many.</p>"
            "<p><b>Variogram</b> (VARIOGRAM_MODEL): linear, power, gaussian, spherical or exponential, fitted by "
            "pykrige's least squares on NLAGS distance classes, or <i>automatic</i>: each model is fitted and the one "
            "with the lowest leave-one-out RMSE is used (the log and the VARIOGRAM_MODEL output say which). Fixed "
            "parameters can be given in VARIOGRAM_PARAMETERS, e.g. <code>sill=144, range=36000, nugget=50</code> "
            "(linear: slope, nugget; power: scale, exponent, nugget).</p>"
            "<p><b>Neighbourhood</b> (N_CLOSEST): each pixel is kriged from its N nearest samples (a moving "
            "neighbourhood, default 16), block by block, so memory stays flat however large the grid; 0 uses all "
            "samples (up to 3000).</p>"
            "<p><b>Leave-one-out cross-validation</b>: each sample predicted from its neighbours without itself "
            "(variogram fitted on all samples). The report gives its RMSE, mean error (bias) and mean absolute error "
            "beside the sample standard deviation: an RMSE below the SD means Kriging predicts better than the "
            "mean; when it is not, the log warns.</p>"
            "<p><b>Ill-conditioned systems</b> are refused: where a variogram makes the Kriging systems so nearly "
            "singular (condition number above 1e12 in the leave-one-out systems, the map's own neighbourhoods "
            "around each sample) that their weights keep fewer than 4 significant digits, as a Gaussian variogram "
            "without nugget and with a range far above the sample spacing does, a fixed variogram is refused "
            "naming VARIOGRAM_PARAMETERS and the automatic choice passes the model over.</p>"
            "<p><b>Outputs</b>: the kriged values and the Kriging variance (float32 GeoTIFFs, nodata -9999, styled "
            "with colour ramps), an HTML report (variogram plot, cross-validation table and plot) with a JSON of the "
            "same name beside it.</p>"
            "<p>Bad inputs are refused with a message: a text field, a constant field, fewer than 10 samples, and "
            "samples at the same location (average duplicates first, e.g. with 'Aggregate').</p>")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterFeatureSource(
            "INPUT", "Sample points", [POINTS]))
        self.addParameter(QgsProcessingParameterField(
            "FIELD", "Field to interpolate (numeric)", parentLayerParameterName="INPUT",
            type=NUMERIC_FIELD))
        self.addParameter(RasterInput(
            "REFERENCE", "Reference raster whose grid the output takes (or give EXTENT and PIXEL_SIZE)",
            optional=True))
        self.addParameter(QgsProcessingParameterExtent(
            "EXTENT", "Output extent (when no reference raster is given)", optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            "PIXEL_SIZE", "Output cell size, in units of the output CRS (with EXTENT)",
            DOUBLE, optional=True, minValue=0.0))
        self.addParameter(QgsProcessingParameterCrs(
            "CRS", "Output CRS with EXTENT (empty: the extent's CRS, else the point layer's)", optional=True))
        self.addParameter(QgsProcessingParameterEnum(
            "VARIOGRAM_MODEL", "Variogram model", ["automatic (lowest leave-one-out RMSE)"] + list(VARIOGRAM_MODELS),
            defaultValue=0))
        self.add_advanced(QgsProcessingParameterNumber(
            "N_CLOSEST", "Samples per pixel (moving neighbourhood; 0 = all samples)",
            INTEGER, defaultValue=DEFAULT_NEIGHBOURS, minValue=0))
        self.add_advanced(QgsProcessingParameterNumber(
            "NLAGS", "Distance classes (lags) of the experimental variogram", INTEGER,
            defaultValue=DEFAULT_LAGS, minValue=2, maxValue=200))
        self.add_advanced(QgsProcessingParameterBoolean(
            "WEIGHT", "Weight short lags more in the variogram fit", defaultValue=False))
        self.add_advanced(QgsProcessingParameterString(
            "VARIOGRAM_PARAMETERS", "Fixed variogram parameters instead of a fit, e.g. sill=144, range=36000, "
                                    "nugget=50", optional=True))
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", "Kriged values"))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT_VARIANCE", "Kriging variance", optional=True, createByDefault=True))
        self.addParameter(QgsProcessingParameterFileDestination(
            "OUTPUT_REPORT", "Kriging report (HTML; a JSON of the same name is written beside it)",
            fileFilter="HTML files (*.html)", optional=True, createByDefault=True))
        self.addOutput(QgsProcessingOutputFile("OUTPUT_JSON", "Kriging report as JSON"))
        self.addOutput(QgsProcessingOutputString("VARIOGRAM_MODEL", "Variogram model used"))
        self.addOutput(QgsProcessingOutputNumber("LOO_RMSE", "Leave-one-out RMSE"))
        self.addOutput(QgsProcessingOutputNumber("LOO_MEAN_ERROR", "Leave-one-out mean error"))
        self.addOutput(QgsProcessingOutputNumber("SAMPLE_SD", "Standard deviation of the samples"))
        self.addOutput(QgsProcessingOutputNumber("SAMPLES", "Samples used"))
        self.addOutput(QgsProcessingOutputNumber("SAMPLES_OUTSIDE", "Samples outside the grid (used)"))

    def grid(self, parameters, context, source):
        reference = self.raster_files(parameters, "REFERENCE", context)
        has_extent = parameters.get("EXTENT") not in (None, "")
        if reference and has_extent:
            raise InputError("EXTENT", "give either a REFERENCE raster or an EXTENT with PIXEL_SIZE, not both.")
        if reference:  # its CRS as GDAL reads it
            grid = Grid.of_raster(reference[0], "REFERENCE")
            return grid, QgsCoordinateReferenceSystem.fromWkt(grid.projection)
        if not has_extent:
            raise InputError("REFERENCE", "choose a reference raster for the output grid, or give an EXTENT and "
                                          "PIXEL_SIZE.")
        crs = self.parameterAsCrs(parameters, "CRS", context)
        if not crs.isValid():
            crs = self.parameterAsExtentCrs(parameters, "EXTENT", context)
        if not crs.isValid():
            crs = source.sourceCrs()
        rect = self.parameterAsExtent(parameters, "EXTENT", context, crs)
        pixel = self.optional_number(parameters, "PIXEL_SIZE", context) or 0.0
        wkt = crs.toWkt(WKT_GDAL)
        return Grid.of_extent(rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum(), pixel, wkt), crs

    def execute(self, parameters, context, feedback):
        source = self.parameterAsSource(parameters, "INPUT", context)
        if source is None:
            raise InputError("INPUT", "choose a point layer.")
        grid, crs = self.grid(parameters, context, source)
        field = self.parameterAsString(parameters, "FIELD", context)
        x, y, values, no_geometry = read_points(source, field, crs, context)
        if no_geometry:
            feedback.pushInfo(f"{no_geometry} features have no geometry (or could not be transformed) and were "
                              f"skipped.")
        model = MODEL_CHOICES[self.parameterAsEnum(parameters, "VARIOGRAM_MODEL", context)]
        fixed = parse_variogram_parameters(self.parameterAsString(parameters, "VARIOGRAM_PARAMETERS", context), model)
        output = self.output_path(parameters, "OUTPUT", context)
        variance = self.output_path(parameters, "OUTPUT_VARIANCE", context) or None
        report = self.file_output(parameters, "OUTPUT_REPORT", context, ".html", ".htm")
        inputs = self.raster_files(parameters, "REFERENCE", context)  # INPUT: checked with every layer parameter (base)
        check_outputs(inputs, OUTPUT=output, OUTPUT_VARIANCE=variance, OUTPUT_REPORT=report)
        variogram = Variogram(model, fixed, self.parameterAsInt(parameters, "NLAGS", context),
                              self.parameterAsBool(parameters, "WEIGHT", context))
        summary = kriging(numeric_samples(x, y, values, field), grid, output, feedback, variance, report, variogram,
                          self.parameterAsInt(parameters, "N_CLOSEST", context))
        s, v, cv = summary["samples"], summary["variogram"], summary["cross_validation"]
        feedback.pushInfo(f"{s['used']} samples of '{field}' used ({s['without_value']} without a value skipped); "
                          f"{s['outside_grid']} lie outside the grid and inform the prediction near its edges.")
        feedback.pushInfo(f"Variogram: {v['model']} ({v['chosen_by']}): "
                          + ", ".join(f"{k} {value:.4g}" for k, value in v["parameters"].items()) + ".")
        for m in cv["models"]:
            feedback.pushInfo(f"  leave-one-out RMSE {m['model']}: " +
                              (f"{m['rmse']:.4g}" if m["rmse"] is not None else f"fit failed ({m['error']})"))
        feedback.pushInfo(f"Leave-one-out RMSE {cv['rmse']:.4g}, mean error {cv['mean_error']:.4g}; sample SD "
                          f"{cv['sample_sd']:.4g}.")
        if cv["rmse_over_sd"] >= 1:
            feedback.pushWarning(f"The leave-one-out RMSE is {cv['rmse_over_sd']:.2f} times the samples' SD: this "
                                 f"variogram predicts the samples worse than their mean would. Check the map against "
                                 f"the samples before using it; a fitted variogram or a nugget usually does better.")
        rasters = summary["rasters"]
        self.load_style_on_completion(context, output, style_pseudocolor(output, *_range(rasters["prediction"])))
        results = {"OUTPUT": output, "VARIOGRAM_MODEL": v["model"], "LOO_RMSE": cv["rmse"],
                   "LOO_MEAN_ERROR": cv["mean_error"], "SAMPLE_SD": cv["sample_sd"], "SAMPLES": s["used"],
                   "SAMPLES_OUTSIDE": s["outside_grid"]}
        if variance:
            self.load_style_on_completion(context, variance,
                                          style_pseudocolor(variance, *_range(rasters["variance"]), VARIANCE_RAMP))
            results["OUTPUT_VARIANCE"] = variance
        if report:
            results["OUTPUT_REPORT"] = report
            results["OUTPUT_JSON"] = json_path(report)
        return results


def _range(stats):
    """Colour ramp limits: the 2-98 % cut, widened when the raster is (nearly) constant."""
    lo, hi = stats["stretch"] or (stats["min"], stats["max"])
    if not hi > lo:
        lo, hi = stats["min"], stats["max"]
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    return lo, hi
