"""A random 7-band Landsat-like scene for the tagging tests (SIMULATED: uniform 0..1 values, optional nodata)."""
import numpy as np
from osgeo import gdal, osr

OLI = ["B1", "B2", "B3", "B4", "B5", "B6", "B7"]


def scene(tmp_path, rows, cols, nodata_at=()):
    """Write the scene into tmp_path; returns (path, cube (7, rows, cols), valid mask)."""
    cube = np.random.default_rng(rows * 1000 + cols).random((7, rows, cols)).astype(np.float32)
    for r, c in nodata_at:
        cube[:, r, c] = -9999.0
    path = str(tmp_path / f"scene_{rows}x{cols}.tif")
    ds = gdal.GetDriverByName("GTiff").Create(path, cols, rows, 7, gdal.GDT_Float32)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    ds.SetProjection(srs.ExportToWkt())
    ds.SetGeoTransform((500000, 30, 0, 4000000, 0, -30))
    for i, band in enumerate(OLI):
        ds.GetRasterBand(i + 1).WriteArray(cube[i])
        ds.GetRasterBand(i + 1).SetNoDataValue(-9999.0)
        ds.GetRasterBand(i + 1).SetDescription(band)
    ds = None
    return path, cube, (cube != -9999.0).all(axis=0)
