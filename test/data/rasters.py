"""The one GeoTIFF writer of the tests and their simulated scenes."""
import numpy as np
from osgeo import gdal, gdal_array, osr


def write_raster(path, cube, data_type=None, nodata=None, descriptions=None, crs=None,
                 geotransform=(0, 10, 0, 0, 0, -10), metadata=None):
    """cube (bands, rows, cols) as a GeoTIFF, in the cube's data type unless data_type (a GDT_*) is given.
    crs: an EPSG code, WKT, or None for none; descriptions name the bands. Returns the path as a string."""
    cube = np.asarray(cube)
    bands, rows, cols = cube.shape
    data_type = data_type or gdal_array.NumericTypeCodeToGDALTypeCode(cube.dtype)
    ds = gdal.GetDriverByName("GTiff").Create(str(path), cols, rows, bands, data_type)
    ds.SetGeoTransform(geotransform)
    if isinstance(crs, int):
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(crs)
        crs = srs.ExportToWkt()
    if crs:
        ds.SetProjection(crs)
    if metadata:
        ds.SetMetadata(metadata)
    for i in range(bands):
        band = ds.GetRasterBand(i + 1)
        band.WriteArray(cube[i])
        if nodata is not None:
            band.SetNoDataValue(nodata)
        if descriptions:
            band.SetDescription(descriptions[i])
    ds = None
    return str(path)
