"""Independent references for the Random Forest tests: training pixels found by GDAL's whole-layer
rasterisation and by plain geotransform arithmetic (not Prospectra's per-feature code), whole images read
with GDAL, and scikit-learn called directly."""
import math
import os

import numpy as np
from osgeo import gdal, ogr, osr

HERE = os.path.dirname(os.path.abspath(__file__))
S2_L2A = os.path.join(HERE, "sen2_rstoolbox_12band.tif")
POLYGONS = os.path.join(HERE, "training_polygons_sen2.geojson")
SIMULATED = os.path.join(HERE, "simulated_lithology")
SIM_SCENE = os.path.join(SIMULATED, "scene_s2.tif")
SIM_TRUTH = os.path.join(SIMULATED, "truth.tif")
SIM_POINTS = os.path.join(SIMULATED, "training_points.geojson")


def _transform_to(raster, layer):
    dst = osr.SpatialReference(wkt=raster.GetProjection())
    src = layer.GetSpatialRef().Clone()
    for s in (src, dst):
        s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return osr.CoordinateTransformation(src, dst)


def layer_features(vector, field, raster_path):
    """[(WKB in the raster's CRS, label or None)], as the algorithm layer hands them to the core."""
    raster = gdal.Open(raster_path)
    ds = ogr.Open(vector)
    layer = ds.GetLayer()
    ct = _transform_to(raster, layer)
    out = []
    for f in layer:
        g = f.GetGeometryRef().Clone()
        g.Transform(ct)
        out.append((g.ExportToWkb(), f[field] if f.IsFieldSetAndNotNull(field) else None))
    return out


def class_codes(labels):
    """Text labels -> 1..K in alphabetical order; integer codes stay."""
    names = sorted(set(labels))
    if all(isinstance(v, (int, np.integer)) for v in names):
        return {v: int(v) for v in names}
    return {n: i + 1 for i, n in enumerate(names)}


def polygon_samples(raster_path, vector, field):
    """(X, labels, rows, cols) of every pixel whose centre lies in a polygon, in row-major order, by
    rasterising the whole layer at once with GDAL."""
    raster = gdal.Open(raster_path)
    ds = ogr.Open(vector)
    src = ds.GetLayer()
    mem_vec = ogr.GetDriverByName("Memory").CreateDataSource("")
    srs = osr.SpatialReference(wkt=raster.GetProjection())
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    layer = mem_vec.CreateLayer("p", srs=srs, geom_type=ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("idx", ogr.OFTInteger))
    ct = _transform_to(raster, src)
    labels = []
    for i, f in enumerate(src):
        g = f.GetGeometryRef().Clone()
        g.Transform(ct)
        out = ogr.Feature(layer.GetLayerDefn())
        out.SetGeometry(g)
        out.SetField("idx", i + 1)
        layer.CreateFeature(out)
        labels.append(f[field])
    burn = gdal.GetDriverByName("MEM").Create("", raster.RasterXSize, raster.RasterYSize, 1, gdal.GDT_Int32)
    burn.SetGeoTransform(raster.GetGeoTransform())
    burn.SetSpatialRef(srs)
    gdal.RasterizeLayer(burn, [1], layer, options=["ATTRIBUTE=idx"])
    idx = burn.ReadAsArray()
    rows, cols = np.nonzero(idx)
    stack = raster.ReadAsArray()
    return stack[:, rows, cols].T, [labels[i - 1] for i in idx[rows, cols]], rows, cols


def point_samples(raster_path, vector, field):
    """(X, labels, rows, cols, skipped) for points: the pixel under each point by the inverse geotransform;
    skipped counts points without class, outside the raster and on nodata."""
    raster = gdal.Open(raster_path)
    gt = raster.GetGeoTransform()
    ds = ogr.Open(vector)
    layer = ds.GetLayer()
    ct = _transform_to(raster, layer)
    stack = raster.ReadAsArray()
    nodata = raster.GetRasterBand(1).GetNoDataValue()
    found, skipped = [], {"no_class": 0, "outside": 0, "on_nodata": 0}
    for i, f in enumerate(layer):
        if not f.IsFieldSetAndNotNull(field):
            skipped["no_class"] += 1
            continue
        x, y, _ = ct.TransformPoint(f.GetGeometryRef().GetX(), f.GetGeometryRef().GetY())
        col, row = math.floor((x - gt[0]) / gt[1]), math.floor((y - gt[3]) / gt[5])
        if not (0 <= col < raster.RasterXSize and 0 <= row < raster.RasterYSize):
            skipped["outside"] += 1
        elif nodata is not None and np.any(stack[:, row, col] == nodata):
            skipped["on_nodata"] += 1
        else:
            found.append((row, col, i, f[field]))
    found.sort(key=lambda t: t[:3])
    rows = np.array([t[0] for t in found])
    cols = np.array([t[1] for t in found])
    return stack[:, rows, cols].T, [t[3] for t in found], rows, cols, skipped


def image_pixels(raster_path):
    """All pixels as (rows x cols, bands) float32 and the mask of pixels valid in every band."""
    raster = gdal.Open(raster_path)
    stack = raster.ReadAsArray().astype(np.float32)
    valid = np.ones(stack.shape[1:], dtype=bool)
    nodata = raster.GetRasterBand(1).GetNoDataValue()
    if nodata is not None:
        valid &= np.all(stack != nodata, axis=0)
    return stack.reshape(len(stack), -1).T, valid


def sklearn_forest(params, balancing, seed):
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(class_weight=None if balancing == "none" else balancing, random_state=seed,
                                  **params)


def assert_same_labels(got, forest, X, tie=1e-9):
    """got equals forest.predict(X) except at exact ties of the vote (top two mean probabilities equal up to
    rounding), where the label depends on each library's summation order."""
    expected = forest.predict(X)
    differ = np.flatnonzero(got != expected)
    if len(differ):
        top = np.sort(forest.predict_proba(X[differ]), axis=1)
        assert np.all(top[:, -1] - top[:, -2] < tie), f"{len(differ)} labels differ away from ties"
        assert len(differ) <= 1e-4 * len(X)
