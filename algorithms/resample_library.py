from qgis.core import (QgsProcessingParameterEnum, QgsProcessingParameterFile, QgsProcessingParameterFileDestination,
                       QgsProcessingParameterString)

from ..core.io.blocks import check_outputs
from ..core.errors import require
from ..core.spectral.library_plot import check_plot_path, plot_resampled
from ..core.spectral.spectral_library import endmember_library, write_resampled_csv
from .base import ProspectraAlgorithm
from .parameters import UNITS, split_names


class ResampleLibrary(ProspectraAlgorithm):
    group_id = "spectral"

    def name(self):
        return "resamplelibrary"

    def displayName(self):  # noqa: N802
        return "Resample spectral library to a sensor"

    def help_html(self):
        return (
            "<p>Shows what the Spectral Angle Mapper compares against: reference spectra convolved with the "
            "sensor's spectral response curves (band value = sum of response x reflectance / sum of response, "
            "after linear interpolation onto the curve's wavelength grid), written as CSV (one row per band, one "
            "column per spectrum; SAM reads it back as LIBRARY) and plotted at full and at sensor resolution.</p>"
            "<p>SPECTRA: mineral names, sample titles or keys of the bundled USGS Spectral Library Version 7 "
            "(Kokaly et al. 2017, USGS Data Series 1035), or names of spectra in LIBRARY (CSV or ENVI .sli). "
            "Empty: the default alteration minerals of the Spectral Angle Mapper. A band the spectrum does not "
            "cover (less than 99 % of its response) is an error naming it.</p>"
            "<p>Response curves: USGS splib07 for Landsat-8/9, Sentinel-2, ASTER and WorldView-3; boxcars from "
            "the band edges for GF-2 (Cheng et al. 2023, Table 2) and Landsat-5 TM.</p>")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_sensor_parameter()
        self.addParameter(QgsProcessingParameterString(
            "SPECTRA", "Spectra: mineral or spectrum names, comma separated (empty: default alteration minerals)",
            optional=True))
        self.addParameter(QgsProcessingParameterFile(
            "LIBRARY", "Spectral library file instead of the bundled USGS library (CSV or ENVI .sli)",
            optional=True, fileFilter="Spectral libraries (*.csv *.sli);;All files (*.*)"))
        self.add_advanced(QgsProcessingParameterEnum("WAVELENGTH_UNITS", "Wavelength units of the CSV library",
                                                     UNITS, defaultValue=0))
        self.addParameter(QgsProcessingParameterFileDestination(
            "OUTPUT", "Resampled spectra", fileFilter="CSV files (*.csv)"))
        self.addParameter(QgsProcessingParameterFileDestination(
            "OUTPUT_PLOT", "Plot", fileFilter="PNG images (*.png)", optional=True, createByDefault=True))

    def execute(self, parameters, context, feedback):
        sensor = self.sensor(parameters, context)
        library_path = self.parameterAsFile(parameters, "LIBRARY", context) or None
        output = self.file_output(parameters, "OUTPUT", context, ".csv")
        plot = self.parameterAsFileOutput(parameters, "OUTPUT_PLOT", context) or None
        check_outputs([library_path], OUTPUT=output, OUTPUT_PLOT=plot)
        if plot:
            require("The spectra plot (OUTPUT_PLOT)", "matplotlib")
            check_plot_path(plot)
        library = endmember_library(split_names(self.parameterAsString(parameters, "SPECTRA", context)), library_path,
                                    UNITS[self.parameterAsEnum(parameters, "WAVELENGTH_UNITS", context)],
                                    parameter="SPECTRA")
        bands = [b.name for b in sensor.bands if not b.thermal]
        matrix = library.resample(sensor, bands, bands_parameter=None)  # every band: none can be left out here
        write_resampled_csv(output, sensor, bands, library.names, matrix)
        feedback.pushInfo(f"{len(library)} spectra from {library.source} resampled to {sensor.name} "
                          f"({', '.join(bands)}).")
        results = {"OUTPUT": output}
        if plot:
            plot_resampled(library, sensor, bands, matrix, plot, f"{library.source} resampled to {sensor.name}")
            results["OUTPUT_PLOT"] = plot
        return results
