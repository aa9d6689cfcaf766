from qgis.core import (QgsProcessingParameterEnum, QgsProcessingParameterRasterDestination,
                       QgsProcessingParameterString)

from ..core.bands.band_composite import band_composite
from ..core.io.blocks import check_outputs
from ..core.errors import InputError
from ..core.bands.presets import check_family, composites
from .base import ProspectraAlgorithm, citation_list
from .cluster_setting import run_on_cluster
from .styles import style_multiband

CUSTOM = "Custom: the bands named in BANDS"
DEFAULT_PRESET = "msi_8_12_3"


class BandComposite(ProspectraAlgorithm):
    group_id = "bands"

    def name(self):
        return "bandcomposite"

    def displayName(self):  # noqa: N802
        return "Band composite (false colour)"

    def help_html(self):
        return (
            "<p>Stacks three bands of a scene as red, green and blue, in surface (or top-of-atmosphere) "
            "reflectance, and styles the result with a cumulative-cut stretch (2-98 % by default). "
            "Literature presets pick the bands by name for each sensor; a preset is only valid for the "
            "sensor it was written for. Choose <i>Custom</i> to give any three band names in BANDS "
            "(e.g. <code>B12,B8A,B4</code>).</p>"
            "<p>The input is one multiband raster, or several single-band rasters (e.g. Landsat "
            "<code>*_SR_B4.TIF</code> or Sentinel-2 <code>*_B12_20m.jp2</code>). Band names come from "
            "BAND_ORDER, band descriptions, file names or the sensor's standard stack, in that order; "
            "anything ambiguous stops with an error rather than guess. Digital numbers are turned into "
            "reflectance first (SCALING).</p>"
            "<p>The output is a float32 GeoTIFF (nodata -9999 where any of the three bands is nodata) with a "
            ".qml style beside it; optionally an 8-bit copy stretched 1-255 (0 = nodata) for export.</p>"
            f"<p><b>Presets</b></p><ul>{citation_list(composites(), lambda p: p.meaning)}</ul>"
            "<p>Rakhymberdina et al. (2025), Remote sensing technologies in the search for rare metal deposits in "
            "Eastern Kazakhstan, ISPRS Archives, Table 1.</p>")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_image_parameters()
        labels = [CUSTOM] + [p.label for p in composites()]
        default = 1 + [p.id for p in composites()].index(DEFAULT_PRESET)
        self.addParameter(QgsProcessingParameterEnum("PRESET", "Band combination", labels, defaultValue=default))
        self.addParameter(QgsProcessingParameterString(
            "BANDS", "Custom bands as R,G,B (used when the combination is Custom)", optional=True))
        self.add_cut_parameters()
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", "Composite (reflectance)"))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT_8BIT", "Stretched 8-bit copy for export", optional=True, createByDefault=False))

    def execute(self, parameters, context, feedback):
        image = self.image(parameters, context, feedback)
        preset_index = self.parameterAsEnum(parameters, "PRESET", context)
        if preset_index == 0:
            text = self.parameterAsString(parameters, "BANDS", context)
            rgb = [b.strip() for b in text.replace(";", ",").split(",") if b.strip()]
            if len(rgb) != 3:
                raise InputError("BANDS", f"'{text}' does not name three bands; give them as R,G,B, e.g. B12,B8A,B4.")
            title = "Custom " + "-".join(rgb)
        else:
            preset = composites()[preset_index - 1]
            check_family(preset, image.sensor)
            if self.parameterAsString(parameters, "BANDS", context).strip():
                feedback.pushWarning(f"BANDS is used only with the Custom combination, and is ignored: the preset "
                                     f"{preset.label} is mapped.")
            rgb, title = list(preset.bands), preset.label
        cut = self.cut(parameters, context)
        output = self.output_path(parameters, "OUTPUT", context)
        output_byte = self.output_path(parameters, "OUTPUT_8BIT", context) or None
        check_outputs(image.sources, OUTPUT=output, OUTPUT_8BIT=output_byte)
        feedback.pushInfo(f"{title}: bands {', '.join(rgb)} of {image.sensor.name}; "
                          f"bands mapped as {', '.join(image.band_names)}; scaling: {image.scaling_source}.")
        result = run_on_cluster("composite", image, {"composite": output, "composite_8bit": output_byte}, feedback,
                                bands=rgb, cut=cut)
        if result is None:
            result = band_composite(image, rgb, output, feedback, cut, output_byte)
        stretch = result["stretch"]
        feedback.pushInfo("Stretch (reflectance): " + "; ".join(
            f"{b} {lo:.4f}-{hi:.4f}" for b, (lo, hi) in zip(rgb, stretch)))
        self.load_style_on_completion(context, output, style_multiband(output, stretch, cut))
        outputs = {"OUTPUT": output}
        if output_byte:
            self.load_style_on_completion(context, output_byte,
                                          style_multiband(output_byte, [(1, 255)] * 3, (0.0, 100.0)))
            outputs["OUTPUT_8BIT"] = output_byte
        return outputs
