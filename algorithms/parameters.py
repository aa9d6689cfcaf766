"""Parameters, parsing and help text that more than one algorithm shares (an algorithm never imports another)."""
from qgis.core import QgsProcessingParameterMultipleLayers

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


def extra_features_parameter():
    return QgsProcessingParameterMultipleLayers(
        "EXTRA_FEATURES", "Extra feature rasters on the image's grid (e.g. band ratios), values as stored",
        RASTER, optional=True)


def extra_feature_paths(algorithm, parameters, context):
    return algorithm.raster_files(parameters, "EXTRA_FEATURES", context)
