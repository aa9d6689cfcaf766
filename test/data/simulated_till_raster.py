"""A SIMULATED 4-band GF-2 PMS reflectance raster over part of the GTK till points (EPSG:3067), for the band
correlation tests: there is no real imagery of that area in the test data.

B1 is noise only; B2..B4 fall with the lanthanum content of the nearest till sample (as Cheng et al. 2023 found
RE2O3 to lower GF-2 bands 2-4), plus noise. The raster covers only part of the points (some fall outside) and
has a nodata patch over a few of them."""
import math
import os

import numpy as np
from osgeo import gdal, ogr

from .rasters import write_raster

HERE = os.path.dirname(os.path.abspath(__file__))
TILL = os.path.join(HERE, "IOCG_CLB_Till_Geochem_reg_511p.gpkg")
ORIGIN = (350000.0, 7530000.0)  # x min, y max
PIXEL = 250.0
SIZE = (220, 260)  # columns, rows: x 350-405 km, y 7465-7530 km
NODATA = -9999.0
NODATA_PATCH = (slice(20, 40), slice(30, 50))  # rows, columns


def till_points(field="La_ppm_511"):
    ds = ogr.Open(TILL)
    layer = ds.GetLayer()
    rows = [(f.GetGeometryRef().GetX(), f.GetGeometryRef().GetY(), f[field]) for f in layer]
    return [np.array(c, dtype=np.float64) for c in zip(*rows)]


def make_raster(path, field="La_ppm_511", seed=0):
    from scipy.spatial import cKDTree

    x, y, value = till_points(field)
    cols, rows = SIZE
    cx = ORIGIN[0] + (np.arange(cols) + 0.5) * PIXEL
    cy = ORIGIN[1] - (np.arange(rows) + 0.5) * PIXEL
    gx, gy = np.meshgrid(cx, cy)
    _, nearest = cKDTree(np.column_stack([x, y])).query(np.column_stack([gx.ravel(), gy.ravel()]))
    content = value[nearest].reshape(rows, cols)
    rng = np.random.default_rng(seed)
    cube = np.stack([(base + slope * content + rng.normal(0.0, 0.004, content.shape)).astype(np.float32)
                     for base, slope in ((0.08, 0.0), (0.10, -0.0003), (0.12, -0.0004), (0.25, -0.0003))])
    cube[:, NODATA_PATCH[0], NODATA_PATCH[1]] = NODATA
    write_raster(path, cube, nodata=NODATA, descriptions=["B1", "B2", "B3", "B4"], crs=3067,
                 geotransform=(ORIGIN[0], PIXEL, 0.0, ORIGIN[1], 0.0, -PIXEL),
                 metadata={"PROSPECTRA_NOTE": "SIMULATED reflectance for tests (test/data/simulated_till_raster.py)"})
    return path


def sampled_by_hand(path, x, y, window=1):
    """The test's independent reference: per point, the mean over the window of the pixels valid in all bands
    (read whole with GDAL, indexed by hand), or None; and the status 'ok', 'outside' or 'nodata'."""
    ds = gdal.Open(path)
    data = ds.ReadAsArray().astype(np.float64)
    x0, px, _, y0, _, py = ds.GetGeoTransform()
    valid = (data != NODATA).all(axis=0)
    out, status = [], []
    h = window // 2
    for xi, yi in zip(x, y):
        col, row = math.floor((xi - x0) / px), math.floor((yi - y0) / py)
        if not (0 <= col < ds.RasterXSize and 0 <= row < ds.RasterYSize):
            out.append(None)
            status.append("outside")
            continue
        r0, c0 = max(row - h, 0), max(col - h, 0)
        block, ok = data[:, r0:row + h + 1, c0:col + h + 1], valid[r0:row + h + 1, c0:col + h + 1]
        if not ok.any():
            out.append(None)
            status.append("nodata")
            continue
        out.append(block[:, ok].mean(axis=1))
        status.append("ok")
    return out, status
