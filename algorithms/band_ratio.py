from qgis.core import QgsProcessingParameterEnum, QgsProcessingParameterRasterDestination, QgsProcessingParameterString

from ..core.bands.band_ratio import band_ratio
from ..core.io.blocks import check_outputs
from ..core.bands.presets import check_family, parse_band_sum, ratios
from .base import ProspectraAlgorithm, citation_list
from .cluster_setting import run_on_cluster
from .styles import style_pseudocolor

CUSTOM = "Custom: NUMERATOR / DENOMINATOR"
DEFAULT_PRESET = "msi_11_12"


class BandRatio(ProspectraAlgorithm):
    group_id = "bands"

    def name(self):
        return "bandratio"

    def displayName(self):  # noqa: N802
        return "Band ratio"

    def help_html(self):
        return (
            "<p>Divides one band (or a sum of bands) by another, in reflectance, to bring out minerals that absorb "
            "in one band and not the other while damping topographic shading (Sabins 1999). The digital "
            "numbers are converted to reflectance first (SCALING): a ratio of raw numbers with an offset, such as "
            "Landsat Collection 2 or Sentinel-2 baseline 04.00, is wrong.</p>"
            "<p>Custom ratios name bands of the chosen sensor: NUMERATOR <code>B11</code>, DENOMINATOR "
            "<code>B12</code>; sums are allowed (<code>B5+B7</code>). Band numbers as in the paper also work "
            "(<code>11</code>, <code>8A</code>).</p>"
            "<p>Output: float32 ratio, nodata (-9999) wherever an input band is nodata or the denominator is zero "
            "or negative; no infinities or NaN are written. Styled with a blue-yellow-red ramp stretched over the "
            "2-98 % cumulative cut (high values red).</p>"
            f"<p><b>Presets</b> (what a high value means)</p><ul>{citation_list(ratios(), lambda p: p.meaning)}</ul>")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_image_parameters()
        labels = [CUSTOM] + [p.label for p in ratios()]
        default = 1 + [p.id for p in ratios()].index(DEFAULT_PRESET)
        self.addParameter(QgsProcessingParameterEnum("PRESET", "Ratio", labels, defaultValue=default))
        self.addParameter(QgsProcessingParameterString(
            "NUMERATOR", "Custom numerator: a band or a sum of bands (e.g. B11 or B5+B7)", optional=True))
        self.addParameter(QgsProcessingParameterString(
            "DENOMINATOR", "Custom denominator: a band or a sum of bands", optional=True))
        self.add_cut_parameters("Style stretch")
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", "Band ratio"))

    def execute(self, parameters, context, feedback):
        image = self.image(parameters, context, feedback)
        preset_index = self.parameterAsEnum(parameters, "PRESET", context)
        if preset_index == 0:
            numerator = parse_band_sum(self.parameterAsString(parameters, "NUMERATOR", context), "NUMERATOR")
            denominator = parse_band_sum(self.parameterAsString(parameters, "DENOMINATOR", context), "DENOMINATOR")
            title = f"({'+'.join(numerator)}) / ({'+'.join(denominator)})"
        else:
            preset = ratios()[preset_index - 1]
            check_family(preset, image.sensor)
            given = [n for n in ("NUMERATOR", "DENOMINATOR") if self.parameterAsString(parameters, n, context).strip()]
            if given:
                feedback.pushWarning(f"{' and '.join(given)} {'are' if len(given) > 1 else 'is'} used only with the "
                                     f"Custom ratio, and ignored: the preset {preset.label} is mapped.")
            numerator, denominator, title = list(preset.numerator), list(preset.denominator), preset.label
        cut = self.cut(parameters, context)
        output = self.output_path(parameters, "OUTPUT", context)
        check_outputs(image.sources, OUTPUT=output)
        feedback.pushInfo(f"{title} on {image.sensor.name}; bands mapped as {', '.join(image.band_names)}; "
                          f"scaling: {image.scaling_source}.")
        result = run_on_cluster("ratio", image, {"ratio": output}, feedback, numerator=numerator,
                                denominator=denominator, description=title, cut=cut)
        if result is None:
            result = band_ratio(image, numerator, denominator, output, feedback, title, cut)
        feedback.pushInfo(f"{result['valid_pixels']} valid pixels, ratio {result['min']:.4f} to {result['max']:.4f}.")
        lo, hi = result["stretch"]
        self.load_style_on_completion(context, output, style_pseudocolor(output, lo, hi))
        return {"OUTPUT": output}
