"""Raster styles written as .qml beside each output: QGIS loads a same-named .qml with the layer."""
import os

from qgis.core import (QgsColorRampShader, QgsContrastEnhancement, QgsGradientColorRamp, QgsGradientStop,
                       QgsMultiBandColorRenderer, QgsPalettedRasterRenderer, QgsRasterLayer, QgsRasterMinMaxOrigin,
                       QgsRasterShader, QgsSingleBandPseudoColorRenderer)
from qgis.PyQt.QtGui import QColor

from .compat import CUMULATIVE_CUT, RAMP_CONTINUOUS, RAMP_LINEAR

from ..core.report.palettes import RATIO_RAMP


def _save(layer, path):
    qml = os.path.splitext(path)[0] + ".qml"
    message, ok = layer.saveNamedStyle(qml)
    if not ok:
        raise RuntimeError(f"could not write the style {qml}: {message}")
    return qml


def style_multiband(path, stretch, cut, bands=(1, 2, 3)):
    """RGB layer of bands (red, green, blue), each stretched min-max over its cumulative cut (lower %, upper %)."""
    layer = QgsRasterLayer(path, "composite", "gdal")
    provider = layer.dataProvider()
    renderer = QgsMultiBandColorRenderer(provider, *bands)
    setters = (renderer.setRedContrastEnhancement, renderer.setGreenContrastEnhancement,
               renderer.setBlueContrastEnhancement)
    for band, setter, (lo, hi) in zip(bands, setters, stretch):
        ce = QgsContrastEnhancement(provider.dataType(band))
        ce.setContrastEnhancementAlgorithm(QgsContrastEnhancement.StretchToMinimumMaximum)
        ce.setMinimumValue(lo)
        ce.setMaximumValue(hi)
        setter(ce)
    origin = QgsRasterMinMaxOrigin()
    origin.setLimits(CUMULATIVE_CUT)
    origin.setCumulativeCutLower(cut[0] / 100.0)
    origin.setCumulativeCutUpper(cut[1] / 100.0)
    renderer.setMinMaxOrigin(origin)
    layer.setRenderer(renderer)
    return _save(layer, path)


def style_pseudocolor(path, lo, hi, colours=RATIO_RAMP):
    """Single band coloured along a continuous ramp from lo to hi."""
    layer = QgsRasterLayer(path, "ratio", "gdal")
    stops = [QgsGradientStop(i / (len(colours) - 1), QColor(c)) for i, c in enumerate(colours[1:-1], start=1)]
    ramp = QgsGradientColorRamp(QColor(colours[0]), QColor(colours[-1]), False, stops)
    shader = QgsColorRampShader(lo, hi, ramp, RAMP_LINEAR)
    shader.setClassificationMode(RAMP_CONTINUOUS)
    shader.classifyColorRamp(len(colours))
    raster_shader = QgsRasterShader(lo, hi)
    raster_shader.setRasterShaderFunction(shader)
    renderer = QgsSingleBandPseudoColorRenderer(layer.dataProvider(), 1, raster_shader)
    renderer.setClassificationMin(lo)
    renderer.setClassificationMax(hi)
    layer.setRenderer(renderer)
    return _save(layer, path)


def style_paletted(path, classes):
    """Classes as (value, label, '#rrggbb'): a paletted layer with names in the legend."""
    layer = QgsRasterLayer(path, "classes", "gdal")
    palette = [QgsPalettedRasterRenderer.Class(value, QColor(colour), label) for value, label, colour in classes]
    layer.setRenderer(QgsPalettedRasterRenderer(layer.dataProvider(), 1, palette))
    return _save(layer, path)
