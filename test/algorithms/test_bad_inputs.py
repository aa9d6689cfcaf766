"""Every bad input ends in a QgsProcessingException naming the parameter, with no output left behind."""
import os
import shutil

import numpy as np
import pytest
from osgeo import gdal

from conftest import DATA, cancel_above
from data.rasters import write_raster
from test_band_algorithms import S2_L2A, SENSORS


@pytest.fixture
def s2(tmp_path):
    return shutil.copy(S2_L2A, tmp_path)


def write(path, array, nodata=None):
    return write_raster(path, array, gdal.GDT_Float32, nodata)


def test_wrong_band_count_for_the_sensor(run_fails, tmp_path):
    five = write(tmp_path / "five.tif", np.ones((5, 4, 4), np.float32))
    run_fails("prospectra:bandratio", {"INPUT": [five]}, "BAND_ORDER", "has 5 bands", "12 bands: B1, B2")


def test_band_order_with_too_few_names(run_fails, s2):
    run_fails("prospectra:bandcomposite", {"INPUT": [s2], "BAND_ORDER": "B2,B3,B4,B8"},
              "BAND_ORDER", "lists 4 bands", "the input has 12")


def test_unknown_band_in_custom_ratio(run_fails, s2):
    run_fails("prospectra:bandratio", {"INPUT": [s2], "PRESET": 0, "NUMERATOR": "B11", "DENOMINATOR": "B13"},
              "DENOMINATOR", "'B13' is not a band of Sentinel-2A MSI")


def test_preset_needing_a_band_the_sensor_lacks(run_fails, s2):
    run_fails("prospectra:bandratio", {"INPUT": [s2], "SENSOR": SENSORS.index("landsat8_oli"),
                                       "BAND_ORDER": "B1,B2,B3,B4,B5,B6,B7,B8,B9,B10,B11,B12"},
              "BAND_ORDER", "'B8' is not a band of Landsat-8 OLI")
    seven = write(s2.replace(".tif", "_7.tif"), np.ones((7, 4, 4), np.float32))
    run_fails("prospectra:bandratio", {"INPUT": [seven], "SENSOR": SENSORS.index("landsat8_oli")},
              "PRESET", "defined for Sentinel-2A MSI / Sentinel-2B MSI (bands B11, B12)", "SENSOR is Landsat-8 OLI")


def test_band_missing_from_the_image(run_fails, s2):
    run_fails("prospectra:bandcomposite", {"INPUT": [s2], "PRESET": 0, "BANDS": "B10,B4,B3"},
              "BANDS", "needs band B10, which the input image does not have")


def test_rasters_on_different_grids_without_resampling(run_fails, tmp_path):
    l1c = os.path.join(DATA, "sentinel2_l1c")
    names = ("T33TWM_B04_10m.jp2", "T33TWM_B12_20m.jp2")
    for f in names:
        for suffix in ("", ".aux.xml"):
            shutil.copy(os.path.join(l1c, f + suffix), tmp_path)
    files = [str(tmp_path / f) for f in names]
    run_fails("prospectra:bandratio", {"INPUT": files, "PRESET": 0, "NUMERATOR": "B12", "DENOMINATOR": "B4",
                                       "SCALING": 3}, "RESAMPLING", "different grids")


def test_non_raster_input(run_fails, tmp_path):
    text = tmp_path / "readme.txt"
    text.write_text("no pixels here")
    run_fails("prospectra:bandratio", {"INPUT": [str(text)]}, "INPUT: 'readme.txt' exists but could not be read as a raster")


def test_output_in_a_missing_folder(run_fails, s2, tmp_path):
    run_fails("prospectra:bandratio", {"INPUT": [s2], "OUTPUT": str(tmp_path / "missing" / "r.tif")},
              "OUTPUT", "does not exist")


def test_output_over_the_input_is_refused(run_fails, s2):
    before = os.path.getmtime(s2)
    run_fails("prospectra:bandratio", {"INPUT": [s2], "OUTPUT": s2}, "OUTPUT", "is one of the inputs")
    assert os.path.getmtime(s2) == before


def test_all_nodata_input(run_fails, tmp_path):
    empty = write(tmp_path / "empty.tif", np.full((12, 4, 4), -9999.0, np.float32), nodata=-9999.0)
    run_fails("prospectra:bandratio", {"INPUT": [empty]}, "INPUT", "no pixel has valid data")
    run_fails("prospectra:bandcomposite", {"INPUT": [empty]}, "INPUT", "no pixel has valid data")


def test_integer_input_without_scaling(run_fails, tmp_path):
    src = gdal.Open(os.path.join(DATA, "sentinel2_l1c", "stack_13band.tif"))
    gdal.Translate(str(tmp_path / "dn.tif"), src)  # same DNs, no product metadata beside it
    run_fails("prospectra:bandratio", {"INPUT": [str(tmp_path / "dn.tif")]}, "SCALING", "digital numbers")


@pytest.mark.parametrize("algorithm, parameters", [
    ("prospectra:bandratio", {}),
    ("prospectra:spectralanglemapper", {"ENDMEMBERS": "Calcite, Hematite", "KEEP_APART": True, "OUTPUT_RULE": "a.tif"}),
])
def test_cancel_midway_leaves_no_output(qgis_processing, s2, tmp_path, monkeypatch, algorithm, parameters):
    """Canceled after its first block: SAM's compiled kernel runs on a thread pool, the ratio on numpy."""
    from qgis.core import QgsProcessingException

    import prospectra.core.io.blocks as blocks

    monkeypatch.setattr(blocks, "BLOCK_PIXELS", 1)  # one 256-row strip per block: the scene has one strip...
    monkeypatch.setattr(blocks, "TILE", 64)  # ...so use 64-row strips: four blocks

    before = set(os.listdir(tmp_path))
    outputs = {k: str(tmp_path / v) for k, v in parameters.items() if k.startswith("OUTPUT")}
    with pytest.raises(QgsProcessingException, match="Canceled"):
        qgis_processing.run(algorithm, {**parameters, **outputs, "INPUT": [s2], "OUTPUT": str(tmp_path / "r.tif")},
                            feedback=cancel_above(0))
    assert set(os.listdir(tmp_path)) == before
