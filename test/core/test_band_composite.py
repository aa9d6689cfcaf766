import numpy as np
import pytest
from osgeo import gdal

from prospectra.core.bands.band_composite import COMPOSITE_NODATA, band_composite
from prospectra.core.errors import NullFeedback
from prospectra.core.io.image import open_image
from test_image import S2_L2A, write_tif


def test_sentinel2_8_12_3_values_and_stretch(tmp_path):
    out, out8 = str(tmp_path / "c.tif"), str(tmp_path / "c8.tif")
    result = band_composite(open_image(S2_L2A, "sentinel2a_msi"), ["B8", "B12", "B3"], out, NullFeedback(),
                            (2.0, 98.0), out8)
    stack = gdal.Open(S2_L2A).ReadAsArray()
    expected = stack[[7, 11, 2]]  # B8, B12, B3 by the file's band descriptions
    ds, ds8 = gdal.Open(out), gdal.Open(out8)  # keep datasets alive while their bands are used
    assert np.array_equal(ds.ReadAsArray(), expected)
    assert [ds.GetRasterBand(i).GetDescription() for i in (1, 2, 3)] == ["B8", "B12", "B3"]
    for k in range(3):
        lo, hi = np.percentile(expected[k], [2, 98])
        assert result["stretch"][k] == pytest.approx((lo, hi), rel=1e-6)
        byte = np.clip((expected[k] - lo) * (254.0 / (hi - lo)) + 1.0, 1, 255).astype(np.uint8)
        assert np.abs(ds8.GetRasterBand(k + 1).ReadAsArray().astype(int) - byte).max() <= 1


def test_a_pixel_missing_in_one_band_is_nodata_in_all(tmp_path):
    data = np.ones((3, 2, 2), np.float32) * np.array([0.1, 0.2, 0.3], np.float32)[:, None, None]
    data[1, 0, 0] = -9999.0
    path = write_tif(tmp_path / "in.tif", data, nodata=-9999.0, descriptions=["B4", "B3", "B2"])
    out = str(tmp_path / "c.tif")
    band_composite(open_image(path, "sentinel2a_msi"), ["B4", "B3", "B2"], out, NullFeedback())
    got = gdal.Open(out).ReadAsArray()
    assert (got[:, 0, 0] == COMPOSITE_NODATA).all()
    assert np.allclose(got[:, 1, 1], [0.1, 0.2, 0.3])
