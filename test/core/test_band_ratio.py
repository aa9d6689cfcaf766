"""Band ratios on real scenes against numpy hand computation."""
import os

import numpy as np
import pytest
from osgeo import gdal

import prospectra.core.io.blocks as blocks
from conftest import DATA, RecordingFeedback
from prospectra.core.bands.band_ratio import RATIO_NODATA, band_ratio
from prospectra.core.errors import Canceled, InputError, NullFeedback
from prospectra.core.io.image import open_image
from test_image import S2_L2A, TM, write_tif

L1C_STACK = os.path.join(DATA, "sentinel2_l1c", "stack_13band.tif")


def read(path):
    ds = gdal.Open(path)
    return ds.GetRasterBand(1).ReadAsArray(), ds.GetRasterBand(1).GetNoDataValue()


def test_sentinel2_l2a_11_over_12(tmp_path):
    out = str(tmp_path / "r.tif")
    result = band_ratio(open_image(S2_L2A, "sentinel2a_msi"), ["B11"], ["B12"], out, NullFeedback())
    stack = gdal.Open(S2_L2A).ReadAsArray().astype(np.float64)
    expected = stack[10] / stack[11]  # band 11 = B11, band 12 = B12 (descriptions of the file)
    got, nodata = read(out)
    assert nodata == RATIO_NODATA
    assert np.allclose(got, expected, rtol=1e-6)
    assert result["valid_pixels"] == expected.size
    assert result["stretch"] == pytest.approx(tuple(np.percentile(expected, [2, 98])), rel=1e-5)


def test_sentinel2_l1c_ratio_is_computed_in_reflectance(tmp_path):
    """(DN - 1000) / 10000 first: a ratio of raw DNs with the 1000 offset would be wrong."""
    out = str(tmp_path / "r.tif")
    band_ratio(open_image(L1C_STACK, "sentinel2a_msi"), ["B3"], ["B8"], out, NullFeedback())
    truth = np.load(os.path.join(DATA, "sentinel2_l1c", "reflectance_13band.npy")).astype(np.float64)
    expected = truth[:, :, 2] / truth[:, :, 7]
    got, _ = read(out)
    assert np.allclose(got, expected, rtol=2e-3)
    dn = gdal.Open(L1C_STACK).ReadAsArray().astype(np.float64)
    assert not np.allclose(got, dn[2] / dn[7], rtol=2e-3)


def test_landsat_tm_sum_ratio_from_single_band_files(tmp_path):
    out = str(tmp_path / "r.tif")
    image = open_image(TM, "landsat5_tm", scaling="custom", scale=1, offset=0)
    band_ratio(image, ["B5", "B7"], ["B4"], out, NullFeedback())
    b = {n: gdal.Open(p).ReadAsArray().astype(np.float64) for n, p in zip(["B1", "B2", "B3", "B4", "B5", "B6", "B7"], TM)}
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.where(b["B4"] > 0, (b["B5"] + b["B7"]) / b["B4"], RATIO_NODATA)
    got, _ = read(out)
    assert np.allclose(got, expected, rtol=1e-6)


def test_nodata_and_zero_denominator_give_nodata_never_inf_or_nan(tmp_path):
    # -0.2: reflectance a little below 0 (dark water after atmospheric correction) is data; -5 is no reflectance
    # (io.image.LOWEST_MEASURED), a fill value the file does not declare
    num = np.array([[1.0, 2.0, -0.2, 3.0, 4.0, -5.0]], np.float32)
    den = np.array([[2.0, 0.0, 1.0, -9999.0, np.nan, 1.0]], np.float32)
    path = write_tif(tmp_path / "in.tif", np.stack([num, den]), nodata=-9999.0, descriptions=["B11", "B12"],
                     gt=(0, 10, 0, 0, 0, -10))
    image = open_image(path, "sentinel2a_msi", band_order=["B11", "B12"])
    out = str(tmp_path / "r.tif")
    band_ratio(image, ["B11"], ["B12"], out, NullFeedback())
    got, _ = read(out)
    assert np.allclose(got, [[0.5, RATIO_NODATA, -0.2, RATIO_NODATA, RATIO_NODATA, RATIO_NODATA]])


def test_all_nodata_input_is_an_error_and_leaves_nothing(tmp_path):
    path = write_tif(tmp_path / "in.tif", np.full((2, 4, 4), -9999.0, np.float32), nodata=-9999.0,
                     descriptions=["B11", "B12"])
    out = tmp_path / "r.tif"
    with pytest.raises(InputError, match="INPUT: no pixel has valid data"):
        band_ratio(open_image(str(path), "sentinel2a_msi"), ["B11"], ["B12"], str(out), NullFeedback())
    assert sorted(os.listdir(tmp_path)) == ["in.tif"]


def test_block_size_does_not_change_the_result(tmp_path, monkeypatch):
    image = open_image(TM, "landsat5_tm", scaling="custom", scale=1, offset=0)
    whole, tiled = str(tmp_path / "whole.tif"), str(tmp_path / "tiled.tif")
    band_ratio(image, ["B5"], ["B7"], whole, NullFeedback())
    monkeypatch.setattr(blocks, "BLOCK_PIXELS", 256 * 256)
    feedback = RecordingFeedback()
    band_ratio(image, ["B5"], ["B7"], tiled, feedback)
    assert np.array_equal(read(whole)[0], read(tiled)[0])
    assert len(feedback.progress) >= 4 and feedback.progress == sorted(feedback.progress)


def test_cancel_midway_leaves_no_output(tmp_path, monkeypatch):
    image = open_image(TM, "landsat5_tm", scaling="custom", scale=1, offset=0)
    monkeypatch.setattr(blocks, "BLOCK_PIXELS", 256 * 256)
    out = tmp_path / "r.tif"
    with pytest.raises(Canceled):
        band_ratio(image, ["B5"], ["B7"], str(out), RecordingFeedback(cancel_after=2))
    assert os.listdir(tmp_path) == []


def test_unknown_and_missing_bands_are_named(tmp_path):
    image = open_image(S2_L2A, "sentinel2a_msi")
    with pytest.raises(InputError, match="NUMERATOR: 'B13' is not a band of Sentinel-2A MSI"):
        band_ratio(image, ["B13"], ["B12"], str(tmp_path / "r.tif"), NullFeedback())
    with pytest.raises(InputError, match="DENOMINATOR: needs band B10, which the input image does not have"):
        band_ratio(image, ["B11"], ["B10"], str(tmp_path / "r.tif"), NullFeedback())
    assert os.listdir(tmp_path) == []
