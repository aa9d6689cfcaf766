"""Parameters, parsing and help text that more than one algorithm shares (an algorithm never imports another)."""
import os

from qgis.core import QgsProcessingParameterMultipleLayers, QgsProcessingParameterRasterLayer

from .compat import RASTER

UNITS = ["auto", "nm", "um"]


def split_names(text):
    return [n.strip() for n in text.replace(";", ",").split(",") if n.strip()]


RANDOM_FOREST_SOURCES = (
    "<p><b>Sources</b>: Rakhymberdina M. et al. (2025), Remote sensing technologies in the search for rare metal "
    "deposits in Eastern Kazakhstan, ISPRS Archives (Random Forest on the 12 Sentinel-2 bands with class balancing "
    "and tuning; Figure 9's confusion matrix). Breiman L. (2001), Random Forests, Machine Learning 45, 5-32. "
    "Roberts D.R. et al. (2017), Cross-validation strategies for data with temporal, spatial, hierarchical, or "
    "phylogenetic structure, Ecography 40, 913-929. Cohen J. (1960), kappa, Educational and Psychological "
    "Measurement 20, 37-46.</p>")


def items(value):
    """The items of a layer parameter's value: a list's, or the value alone."""
    return list(value) if isinstance(value, (list, tuple)) else [value]


def is_file(item):
    """Whether an item of a layer parameter's value is the path of a file (opened by the algorithm's own check)."""
    return isinstance(item, str) and os.path.isfile(item)


def names_a_file(item):
    """Whether an item is the path of a file, or one with QGIS layer options after '|' (which the check refuses)."""
    return is_file(item) or (isinstance(item, str) and is_file(item.split("|")[0]))


class _NotLoadedToCheck:
    """A raster parameter that QGIS checks without loading a file as a layer. Loaded to be checked, a layer
    computes statistics for its stretch, which GDAL writes into a VRT input itself (its own metadata store) or
    beside any other raster (.aux.xml) when the dataset closes. qgis_process checks every parameter this way
    before anything else runs; the algorithm's own check opens each file instead (and names what is wrong)."""

    def checkValueIsAcceptable(self, value, context=None):  # noqa: N802
        values = items(value)
        others = [v for v in values if not names_a_file(v)]
        if len(others) == len(values):
            return super().checkValueIsAcceptable(value, context)
        # files unloaded; the other items of a list (a missing file, a layer id) as QGIS checks them
        return super().checkValueIsAcceptable(value, None) and (
            not others or super().checkValueIsAcceptable(others, context))

    def clone(self):
        copy = type(self)(self.name(), self.description(), self.defaultValue())
        copy.setFlags(self.flags())
        copy.setHelp(self.help())
        copy.setMetadata(self.metadata())
        return copy


class RasterInput(_NotLoadedToCheck, QgsProcessingParameterRasterLayer):
    pass


class RasterInputs(_NotLoadedToCheck, QgsProcessingParameterMultipleLayers):
    def __init__(self, name, description, defaultValue=None, optional=False):  # noqa: N803
        super().__init__(name, description, RASTER, defaultValue, optional)


def extra_features_parameter():
    return RasterInputs(
        "EXTRA_FEATURES", "Extra feature rasters on the image's grid (e.g. band ratios), values as stored",
        optional=True)


def extra_feature_paths(algorithm, parameters, context):
    return algorithm.raster_files(parameters, "EXTRA_FEATURES", context)
