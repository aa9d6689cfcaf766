"""Block-wise raster I/O: aligned windows over a grid, and a GeoTIFF writer that only
appears under its final name when everything was written."""
import os
import uuid

import numpy as np
from osgeo import gdal

from .errors import Canceled, InputError

gdal.UseExceptions()

TILE = 256  # output tile edge; windows are multiples of it so each write fills whole tiles
BLOCK_PIXELS = 2 ** 22  # ~4 Mpixel per window: bounded memory whatever the raster size


def windows(width, height, block_pixels=None):
    """(xoff, yoff, xsize, ysize) windows covering the grid, row-major, tile aligned.

    Full-width strips when a strip of TILE rows fits the budget (sequential reads of
    striped inputs), otherwise TILE-aligned rectangles."""
    block_pixels = block_pixels or BLOCK_PIXELS
    if width * TILE <= block_pixels:
        bw = width
        bh = max(TILE, (block_pixels // width) // TILE * TILE)
    else:
        bh = TILE
        bw = max(TILE, (block_pixels // TILE) // TILE * TILE)
    for y in range(0, height, bh):
        for x in range(0, width, bw):
            yield x, y, min(bw, width - x), min(bh, height - y)


def check_output_path(path, inputs=(), parameter="OUTPUT"):
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InputError(parameter, f"the folder '{folder}' does not exist; choose an existing folder.")
    if not os.access(folder, os.W_OK):
        raise InputError(parameter, f"the folder '{folder}' is not writable.")
    target = os.path.realpath(path)
    for p in inputs:
        if os.path.realpath(p) == target:
            raise InputError(parameter, f"'{path}' is one of the inputs; choose another file name "
                                        f"(inputs are never overwritten).")


class RasterWriter:
    """Tiled, DEFLATE-compressed GeoTIFF written under a temporary name and renamed on success.

    Use as a context manager: on any exception (including Canceled) the temporary file
    is deleted and nothing appears at the output path."""

    def __init__(self, path, width, height, bands, dtype, geotransform, projection, nodata,
                 descriptions=None):
        self.path = path
        self.tmp = os.path.join(os.path.dirname(os.path.abspath(path)),
                                f".{os.path.basename(path)}.{uuid.uuid4().hex[:8]}.part.tif")
        gdal_type = gdal.GetDataTypeByName(np.dtype(dtype).name.replace("uint8", "Byte"))
        opts = ["TILED=YES", f"BLOCKXSIZE={TILE}", f"BLOCKYSIZE={TILE}", "COMPRESS=DEFLATE",
                "BIGTIFF=IF_SAFER", "PREDICTOR=3" if np.dtype(dtype).kind == "f" else "PREDICTOR=2",
                "INTERLEAVE=BAND" if bands > 1 else "INTERLEAVE=PIXEL", "NUM_THREADS=2"]
        self.ds = gdal.GetDriverByName("GTiff").Create(self.tmp, width, height, bands, gdal_type, opts)
        self.ds.SetGeoTransform(geotransform)
        self.ds.SetProjection(projection)
        for i in range(bands):
            band = self.ds.GetRasterBand(i + 1)
            band.SetNoDataValue(nodata)
            if descriptions:
                band.SetDescription(descriptions[i])

    def write(self, band_index, xoff, yoff, array):
        self.ds.GetRasterBand(band_index + 1).WriteArray(array, xoff, yoff)

    def set_metadata(self, items):
        self.ds.SetMetadata({k: str(v) for k, v in items.items()})

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        ds, self.ds = self.ds, None
        if exc_type is None:
            ds.FlushCache()
            ds = None
            os.replace(self.tmp, self.path)
        else:
            ds = None
            for p in (self.tmp, self.tmp + ".aux.xml"):
                if os.path.exists(p):
                    os.remove(p)
        return False


def step(feedback, done, total):
    """Report progress and stop on cancel, once per block."""
    if feedback.isCanceled():
        raise Canceled("Canceled by the user; no output was written.")
    feedback.setProgress(100.0 * done / max(total, 1))


def sample_valid(path, band=1, max_pixels=1_000_000):
    """Valid values of one band of a written raster, from a decimated read of at most max_pixels."""
    ds = gdal.Open(path)
    b = ds.GetRasterBand(band)
    f = max(1.0, (ds.RasterXSize * ds.RasterYSize / max_pixels) ** 0.5)
    a = b.ReadAsArray(buf_xsize=max(1, int(ds.RasterXSize / f)), buf_ysize=max(1, int(ds.RasterYSize / f)))
    nd = b.GetNoDataValue()
    return a[(a != nd) & np.isfinite(a)] if nd is not None else a[np.isfinite(a)]
