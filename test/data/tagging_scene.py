"""A random 7-band Landsat-like scene for the tagging tests (SIMULATED: uniform 0..1 values, optional nodata),
and one tagging run over it with every output read back."""
import numpy as np
from osgeo import gdal

from prospectra.core.errors import NullFeedback
from prospectra.core.learning.patch_tagging import tag_image

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


def run(tmp_path, image, model, name="", **kw):
    """tag_image with probabilities as fractions (compared exactly); (tags, probabilities, one (col0, row0, col1,
    row1, probabilities) record per patch, summary)."""
    out, prob = str(tmp_path / f"tags{name}.tif"), str(tmp_path / f"probabilities{name}.tif")
    records = []

    def on_patches(cells, probs):
        records.extend(zip(*cells.T.tolist(), probs))

    summary = tag_image(image, model, out, NullFeedback(), prob, on_patches=on_patches, **{"percent": False, **kw})
    return gdal.Open(out).ReadAsArray(), gdal.Open(prob).ReadAsArray(), records, summary
