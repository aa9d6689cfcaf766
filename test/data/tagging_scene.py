"""A random 7-band Landsat-like scene for the tagging tests (SIMULATED: uniform 0..1 values, optional nodata)."""
import numpy as np

from .rasters import write_raster

OLI = ["B1", "B2", "B3", "B4", "B5", "B6", "B7"]


def scene(tmp_path, rows, cols, nodata_at=()):
    """Write the scene into tmp_path; returns (path, cube (7, rows, cols), valid mask)."""
    cube = np.random.default_rng(rows * 1000 + cols).random((7, rows, cols)).astype(np.float32)
    for r, c in nodata_at:
        cube[:, r, c] = -9999.0
    path = write_raster(tmp_path / f"scene_{rows}x{cols}.tif", cube, nodata=-9999.0, descriptions=OLI, crs=32633,
                        geotransform=(500000, 30, 0, 4000000, 0, -30))
    return path, cube, (cube != -9999.0).all(axis=0)
