"""bandcomposite and bandratio through processing.run in a real headless QGIS."""
import glob
import os
import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from osgeo import gdal

from conftest import DATA

S2_L2A = os.path.join(DATA, "sen2_rstoolbox_12band.tif")
TM_FILES = sorted(glob.glob(os.path.join(DATA, "landsat5_tm", "*_B?.TIF")))
SENSORS = ["landsat8_oli", "landsat9_oli2", "sentinel2a_msi", "sentinel2b_msi", "aster", "worldview3", "gf2_pms",
           "landsat5_tm"]


def enum_index(processing, alg_id, parameter, text):
    from qgis.core import QgsApplication

    options = QgsApplication.processingRegistry().algorithmById(alg_id).parameterDefinition(parameter).options()
    return next(i for i, o in enumerate(options) if text in o)


@pytest.fixture
def s2(tmp_path):
    """A copy of the real Sentinel-2 L2A scene, so QGIS side files never land in test/data."""
    return shutil.copy(S2_L2A, tmp_path)


def test_provider_lists_both_algorithms(qgis_processing):
    from qgis.core import QgsApplication

    provider = QgsApplication.processingRegistry().providerById("prospectra")
    assert provider is not None and not provider.icon().isNull()
    assert {a.id() for a in provider.algorithms()} >= {"prospectra:bandcomposite", "prospectra:bandratio"}
    for alg in provider.algorithms():
        for p in alg.parameterDefinitions():
            assert p.description(), (alg.id(), p.name())


def test_sensor_choices_follow_the_registry(qgis_processing):
    from qgis.core import QgsApplication

    from prospectra.core.sensors import sensors

    alg = QgsApplication.processingRegistry().algorithmById("prospectra:bandratio")
    assert alg.parameterDefinition("SENSOR").options() == [s.name for s in sensors().values()]
    assert list(sensors()) == SENSORS


def test_composite_default_preset_is_paper000_8_12_3_and_styled(qgis_processing, s2, tmp_path):
    out = str(tmp_path / "composite.tif")
    result = qgis_processing.run("prospectra:bandcomposite", {"INPUT": [s2], "OUTPUT": out})
    assert result["OUTPUT"] == out
    stack = gdal.Open(S2_L2A).ReadAsArray()
    assert np.array_equal(gdal.Open(out).ReadAsArray(), stack[[7, 11, 2]])  # B8, B12, B3
    renderer = ET.parse(str(tmp_path / "composite.qml")).getroot().find("pipe/rasterrenderer")
    assert renderer.get("type") == "multibandcolor"
    assert renderer.find("minMaxOrigin/limits").text == "CumulativeCut"
    red = renderer.find("redContrastEnhancement")
    lo, hi = np.percentile(stack[7], [2, 98])
    assert float(red.find("minValue").text) == pytest.approx(lo, rel=1e-5)
    assert float(red.find("maxValue").text) == pytest.approx(hi, rel=1e-5)


def test_composite_custom_bands_cut_and_8bit_copy(qgis_processing, s2, tmp_path):
    out, out8 = str(tmp_path / "c.tif"), str(tmp_path / "c8.tif")
    qgis_processing.run("prospectra:bandcomposite", {
        "INPUT": [s2], "PRESET": 0, "BANDS": "12, 8a, B4", "CUT_LOWER": 5, "CUT_UPPER": 95,
        "OUTPUT": out, "OUTPUT_8BIT": out8})
    stack = gdal.Open(S2_L2A).ReadAsArray()
    assert np.array_equal(gdal.Open(out).ReadAsArray(), stack[[11, 8, 3]])
    byte = gdal.Open(out8).ReadAsArray()
    assert byte.dtype == np.uint8 and byte.min() == 1 and byte.max() == 255
    lo, hi = np.percentile(stack[11], [5, 95])  # the 5-95 % cut, by hand
    expected = np.clip((stack[11] - lo) * (254.0 / (hi - lo)) + 1.0, 1, 255).astype(np.uint8)
    assert np.abs(byte[0].astype(int) - expected).max() <= 1


def test_ratio_preset_on_single_band_landsat_files(qgis_processing, tmp_path):
    files = [shutil.copy(f, tmp_path) for f in TM_FILES[::-1]]  # reversed: names come from file names
    out = str(tmp_path / "clay.tif")
    qgis_processing.run("prospectra:bandratio", {
        "INPUT": files, "SENSOR": SENSORS.index("landsat5_tm"),
        "PRESET": enum_index(qgis_processing, "prospectra:bandratio", "PRESET", "Clays and carbonates (5/7)"),
        "SCALING": 5, "SCALE": 1, "OFFSET": 0, "OUTPUT": out})
    b5, b7 = (gdal.Open(TM_FILES[i]).ReadAsArray().astype(np.float64) for i in (4, 6))
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.where(b7 > 0, b5 / b7, -9999.0)
    assert np.allclose(gdal.Open(out).ReadAsArray(), expected, rtol=1e-6)
    renderer = ET.parse(str(tmp_path / "clay.qml")).getroot().find("pipe/rasterrenderer")
    assert renderer.get("type") == "singlebandpseudocolor"
    valid = expected[expected != -9999.0]
    assert float(renderer.get("classificationMin")) == pytest.approx(np.percentile(valid, 2), rel=1e-5)
    assert float(renderer.get("classificationMax")) == pytest.approx(np.percentile(valid, 98), rel=1e-5)


def test_custom_ratio_with_paper_band_numbers(qgis_processing, s2, tmp_path):
    out = str(tmp_path / "r.tif")
    qgis_processing.run("prospectra:bandratio", {"INPUT": [s2], "PRESET": 0, "NUMERATOR": "3",
                                                 "DENOMINATOR": "8", "OUTPUT": out})
    stack = gdal.Open(S2_L2A).ReadAsArray().astype(np.float64)
    assert np.allclose(gdal.Open(out).ReadAsArray(), stack[2] / stack[7], rtol=1e-6)


def test_help_cites_every_preset(qgis_processing):
    from qgis.core import QgsApplication

    from prospectra.core.bands.presets import composites, ratios

    for alg_id, presets in (("prospectra:bandcomposite", composites()), ("prospectra:bandratio", ratios())):
        text = QgsApplication.processingRegistry().algorithmById(alg_id).shortHelpString()
        for p in presets:
            assert p.title in text and p.source in text, p.id
