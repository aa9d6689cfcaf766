"""Training samples for supervised classification: the pixel values under labelled points or polygons,
their classes, and the spatial blocks that keep neighbouring samples in one cross-validation fold.

Geometries arrive as WKB already in the image's CRS (the algorithm layer transforms them); nothing here
knows about QGIS. A polygon contributes every pixel whose centre falls inside it (GDAL's rasterisation
rule), a point the pixel it falls in."""
import math
import os
from dataclasses import dataclass, field

import numpy as np
from osgeo import gdal, ogr, osr

from ..errors import Canceled, InputError
from ..io.image import FILL_VALUES, measured, open_raster
from .onnx_model import MAX_CLASSES

gdal.UseExceptions()
ogr.UseExceptions()

_POINTS = (ogr.wkbPoint, ogr.wkbMultiPoint)
_POLYGONS = (ogr.wkbPolygon, ogr.wkbMultiPolygon, ogr.wkbCurvePolygon, ogr.wkbMultiSurface)


class FeatureStack:
    """The features a model sees, in a fixed order: named bands of an image (in reflectance), then the
    bands of extra rasters on the image's grid (values as stored, e.g. band ratios).

    Extra bands are named 'extra <k>: <band description>' (or 'extra <k>' without a description), so a
    model trained with a ratio raster can check that it gets the same kind of raster, in the same place,
    when it classifies another scene."""

    def __init__(self, image, bands=None, extra_paths=(), parameter="BANDS", extra_parameter="EXTRA_FEATURES"):
        self.image = image
        self.bands = image.require(bands, parameter, distinct=True) if bands else list(image.band_names)
        self.extras = []  # (dataset, band number, nodata, name)
        self._datasets = []
        for path in extra_paths or ():
            ds = _open_on_grid(path, image, extra_parameter)
            self._datasets.append(ds)
            for b in range(1, ds.RasterCount + 1):
                band = ds.GetRasterBand(b)
                k = len(self.extras) + 1
                text = band.GetDescription().strip()
                self.extras.append((ds, b, band.GetNoDataValue(), f"extra {k}: {text}" if text else f"extra {k}"))
        self.names = self.bands + [e[3] for e in self.extras]
        self.sources = list(image.sources) + list(extra_paths or ())  # every file read: none may be overwritten
        self.width, self.height = image.width, image.height
        self.described = f"the image (bands {', '.join(self.names)})"

    def read(self, window):
        """(values float32 of shape (features, rows, cols), mask of pixels valid in every feature)."""
        xoff, yoff, w, h = window
        cube, valid = self.image.read_stack(self.bands, window)
        if not self.extras:
            return cube, valid
        more = np.empty((len(self.extras), h, w), dtype=np.float32)
        for j, (ds, b, nodata, _) in enumerate(self.extras):
            raw = ds.GetRasterBand(b).ReadAsArray(xoff, yoff, w, h)
            if nodata is not None:
                valid &= raw != nodata
            more[j] = raw
            valid &= measured(more[j]) & ~np.isin(more[j], FILL_VALUES)  # no NaN, infinity or fill value
        return np.concatenate([cube, more]), valid

    def sample(self, max_pixels, seed=0, edge=32):
        """Valid pixels (n, features) of random edge x edge windows, about max_pixels in all: a spread of the
        image's pixels that reads a few blocks, not the whole scene."""
        rng = np.random.default_rng(seed)
        w, h = min(edge, self.width), min(edge, self.height)
        parts = []
        for _ in range(max(1, -(-max_pixels // (w * h)))):
            x, y = int(rng.integers(0, self.width - w + 1)), int(rng.integers(0, self.height - h + 1))
            cube, valid = self.read((x, y, w, h))
            parts.append(cube[:, valid].T)
        return np.concatenate(parts)


def _open_on_grid(path, image, parameter):
    name = os.path.basename(path)
    ds = open_raster(path, parameter)
    gt, ref = ds.GetGeoTransform(), image.geotransform
    tol = 1e-6 * max(abs(ref[1]), abs(ref[5]))
    same_grid = (ds.RasterXSize, ds.RasterYSize) == (image.width, image.height) and \
        all(abs(a - b) <= tol for a, b in zip(gt, ref))
    if not same_grid:
        raise InputError(parameter, f"'{name}' is {ds.RasterXSize} x {ds.RasterYSize} px with origin "
                                    f"({gt[0]:.6g}, {gt[3]:.6g}) and pixel size {abs(gt[1]):.6g}, but the image is "
                                    f"{image.width} x {image.height} px with origin ({ref[0]:.6g}, {ref[3]:.6g}) "
                                    f"and pixel size {abs(ref[1]):.6g}; extra features must be on the image's grid "
                                    f"(compute them from the same image, or warp them onto its extent and pixel size).")
    return ds


@dataclass
class Classes:
    """Class values (written in the class raster) and names (shown in the legend), in the same order."""
    values: list
    names: list
    from_text: bool

    def code(self, label):
        return self.values[self.names.index(label)] if self.from_text else int(label)


def fits_class_raster(value):
    """Whether a class code (or each of an array of them) fits a class raster: int32, its smallest value kept for
    nodata."""
    return (np.iinfo(np.int32).min < value) & (value <= np.iinfo(np.int32).max)


def classes_from_labels(labels, parameter="FIELD"):
    """Classes from the non-empty labels of a class field: integer codes are kept as they are (so 1, 2, 3
    stay 1, 2, 3 in the class raster); text names are numbered 1..K in alphabetical order."""
    present = [v for v in labels if v is not None and not (isinstance(v, str) and not v.strip())]
    if not present:
        raise InputError(parameter, "no site has a value in the class field; choose the field "
                                    "that holds the class of each point or polygon, and fill it in.")
    numbers = all(isinstance(v, (int, np.integer, float, np.floating)) and not isinstance(v, bool) for v in present)
    if numbers:
        bad = [v for v in present if not float(v).is_integer()]
        if bad:
            raise InputError(parameter, f"holds decimal numbers (e.g. {bad[0]:g}); a class field holds integer "
                                        "codes (1, 2, 3) or text names (granite, pegmatite, shale).")
        values = sorted({int(v) for v in present})
        wide = [v for v in (values[0], values[-1]) if not fits_class_raster(v)]
        if wide:
            code = wide[0] if abs(wide[0]) < 1e15 else f"{float(wide[0]):.3g}"  # not 1e308 in 309 digits
            raise InputError(parameter, f"holds the class code {code}, beyond what a class raster holds "
                                        f"(-2147483647 to 2147483647); renumber the classes (1, 2, 3 ...).")
        classes = Classes(values, [str(v) for v in values], False)
    else:
        names = sorted({str(v).strip() for v in present})
        classes = Classes(list(range(1, len(names) + 1)), names, True)
    if len(classes.values) > MAX_CLASSES:
        raise InputError(parameter, f"holds {len(classes.values)} classes; a model and its class map hold at most "
                                    f"{MAX_CLASSES}. Merge classes, or choose the field of a coarser legend.")
    return classes


def normalise_label(value, classes):
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return str(value).strip() if classes.from_text else int(value)


@dataclass
class Samples:
    """One row per training pixel, sorted by (row, col, feature): the order does not depend on how the
    pixels were found, so anyone who rasterises the same layer gets the same rows."""
    X: np.ndarray  # (n, features) float32
    y: np.ndarray  # (n,) class values
    rows: np.ndarray
    cols: np.ndarray
    feature: np.ndarray  # index of the training feature each row came from
    feature_names: list
    classes: Classes
    counts: dict = field(default_factory=dict)
    geometry: str = "point"  # 'point', 'polygon' or 'mixed'

    def __len__(self):
        return len(self.y)


def _inverse(gt):
    inv = gdal.InvGeoTransform(gt)
    if inv is None:
        raise InputError("INPUT", "the image's geotransform cannot be inverted; it is not georeferenced.")
    return inv


def _to_pixel(inv, x, y):
    return inv[0] + inv[1] * x + inv[2] * y, inv[3] + inv[4] * x + inv[5] * y


def _polygon_pixels(geom, gt, inv, width, height, srs):
    """(rows, cols) of the pixels whose centres fall inside geom, rasterised in the polygon's own window so
    memory follows the polygon, not the image; None when its envelope misses the image."""
    minx, maxx, miny, maxy = geom.GetEnvelope()
    corners = [_to_pixel(inv, x, y) for x in (minx, maxx) for y in (miny, maxy)]
    c0 = max(0, int(math.floor(min(c for c, _ in corners))))
    c1 = min(width, int(math.ceil(max(c for c, _ in corners))))
    r0 = max(0, int(math.floor(min(r for _, r in corners))))
    r1 = min(height, int(math.ceil(max(r for _, r in corners))))
    if c1 <= c0 or r1 <= r0:
        return None
    w, h = c1 - c0, r1 - r0
    mem = gdal.GetDriverByName("MEM").Create("", w, h, 1, gdal.GDT_Byte)
    mem.SetGeoTransform((gt[0] + c0 * gt[1] + r0 * gt[2], gt[1], gt[2],
                         gt[3] + c0 * gt[4] + r0 * gt[5], gt[4], gt[5]))
    if srs is not None:  # same CRS on both sides: GDAL then neither warns nor transforms
        mem.SetSpatialRef(srs)
    layer_ds = ogr.GetDriverByName("Memory").CreateDataSource("")
    layer = layer_ds.CreateLayer("polygon", srs=srs, geom_type=ogr.wkbUnknown)
    feature = ogr.Feature(layer.GetLayerDefn())
    feature.SetGeometry(geom)
    layer.CreateFeature(feature)
    gdal.PushErrorHandler("CPLQuietErrorHandler")  # a CRS-less image: GDAL warns that it assumes one CRS
    try:
        gdal.RasterizeLayer(mem, [1], layer, burn_values=[1])  # default rule: pixel centre inside
    finally:
        gdal.PopErrorHandler()
    rr, cc = np.nonzero(mem.ReadAsArray())
    return rr + r0, cc + c0


def extract_samples(stack, features, parameter="TRAINING", field_parameter="FIELD", feedback=None, min_classes=2):
    """Samples from training features: a sequence of (WKB geometry in the image's CRS or None, class label).

    Features without a class or geometry, outside the image, too small to cover a pixel centre, or on
    nodata are skipped and counted in Samples.counts (the report lists them). A classifier needs two classes
    (min_classes); checking a map against reference sites needs one."""
    labels = [label for _, label in features]
    classes = classes_from_labels(labels, field_parameter)
    if len(classes.values) < min_classes:
        raise InputError(field_parameter, f"holds a single class ('{classes.names[0]}'); a classifier needs at least "
                                          "two: add training sites of the other classes.")
    gt = stack.image.geotransform
    inv = _inverse(gt)
    srs = None
    if stack.image.projection:
        srs = osr.SpatialReference(wkt=stack.image.projection)
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)  # coordinates come as x=east, y=north
    width, height = stack.width, stack.height
    counts = dict(features=len(features), no_class=0, no_geometry=0, outside=0, no_pixel_centre=0,
                  on_nodata=0, points_outside=0, pixels_nodata=0, pixels_in_several_features=0)
    kinds = set()
    rows, cols, owner = [], [], []
    extent = None
    for i, (wkb, label) in enumerate(features):
        label = normalise_label(label, classes)
        if label is None:
            counts["no_class"] += 1
            continue
        geom = ogr.CreateGeometryFromWkb(bytes(wkb)) if wkb else None
        if geom is None or geom.IsEmpty():
            counts["no_geometry"] += 1
            continue
        env = geom.GetEnvelope()
        extent = env if extent is None else (min(extent[0], env[0]), max(extent[1], env[1]),
                                             min(extent[2], env[2]), max(extent[3], env[3]))
        kind = ogr.GT_Flatten(geom.GetGeometryType())
        if kind in _POINTS:
            kinds.add("point")
            parts = [geom] if kind == ogr.wkbPoint else [geom.GetGeometryRef(k) for k in range(geom.GetGeometryCount())]
            inside = 0
            for p in parts:
                c, r = _to_pixel(inv, p.GetX(), p.GetY())
                c, r = int(math.floor(c)), int(math.floor(r))
                if 0 <= c < width and 0 <= r < height:
                    rows.append(np.array([r]))
                    cols.append(np.array([c]))
                    owner.append(np.array([i]))
                    inside += 1
                else:
                    counts["points_outside"] += 1
            if not inside:
                counts["outside"] += 1
        elif kind in _POLYGONS:
            kinds.add("polygon")
            if kind in (ogr.wkbCurvePolygon, ogr.wkbMultiSurface):
                geom = geom.GetLinearGeometry()
            found = _polygon_pixels(geom, gt, inv, width, height, srs)
            if found is None:
                counts["outside"] += 1
            elif len(found[0]) == 0:
                counts["no_pixel_centre"] += 1
            else:
                rows.append(found[0])
                cols.append(found[1])
                owner.append(np.full(len(found[0]), i))
        else:
            raise InputError(parameter, f"feature {i + 1} is a {ogr.GeometryTypeToName(kind).lower()}; "
                                        "sites must be points or polygons.")
    located = len(features) - counts["no_class"] - counts["no_geometry"]
    if not rows:
        raise InputError(parameter, _nothing_inside_message(located, extent, stack.image))
    rows, cols, owner = np.concatenate(rows), np.concatenate(cols), np.concatenate(owner)
    order = np.lexsort((owner, cols, rows))
    rows, cols, owner = rows[order], cols[order], owner[order]
    pixel_id = rows.astype(np.int64) * width + cols
    counts["pixels_in_several_features"] = int(len(pixel_id) - len(np.unique(pixel_id)))
    X, valid = _values_at(stack, rows, cols, feedback)
    counts["pixels_nodata"] = int(np.count_nonzero(~valid))
    kept_features = set(np.unique(owner[valid]).tolist())
    counts["on_nodata"] = len(set(np.unique(owner).tolist()) - kept_features)
    if not valid.any():
        raise InputError(parameter, f"all {len(valid)} pixels of the sites fall on nodata in {stack.described}; "
                                    f"place the sites on valid pixels.")
    if feedback is not None and feedback.isCanceled():
        raise Canceled("Canceled by the user; no output was written.")
    code = np.zeros(len(features), np.int64)  # each feature's class code, looked up once, not once per pixel
    for i in np.unique(owner[valid]):
        code[i] = classes.code(normalise_label(features[i][1], classes))
    y = code[owner[valid]]
    samples = Samples(X[valid], y, rows[valid], cols[valid], owner[valid], list(stack.names), classes, counts,
                      kinds.pop() if len(kinds) == 1 else "mixed")
    counts["samples"] = len(samples)
    counts["features_used"] = len(kept_features)
    return samples


def _nothing_inside_message(located, extent, image):
    gt = image.geotransform
    xs = [gt[0], gt[0] + image.width * gt[1] + image.height * gt[2]]
    ys = [gt[3], gt[3] + image.width * gt[4] + image.height * gt[5]]
    if extent is None:
        return "no site has both a class and a geometry."
    return (f"none of the {located} sites covers a pixel of the image: the sites span x "
            f"{extent[0]:.6g} to {extent[1]:.6g}, y {extent[2]:.6g} to {extent[3]:.6g}, the image x {min(xs):.6g} to "
            f"{max(xs):.6g}, y {min(ys):.6g} to {max(ys):.6g} (in the image's CRS). Check that the layer and the image "
            "cover the same area and that the layer's CRS is set correctly.")


def _values_at(stack, rows, cols, feedback=None):
    """Feature values at the given pixels, read window by window (only the windows holding samples, and
    only the samples' bounding box in each), so sparse points on a large scene read little."""
    X = np.zeros((len(rows), len(stack.names)), dtype=getattr(stack, "dtype", np.float32))
    valid = np.zeros(len(rows), dtype=bool)
    wins = list(stack.image.windows())
    for k, (xoff, yoff, w, h) in enumerate(wins):
        sel = np.flatnonzero((rows >= yoff) & (rows < yoff + h) & (cols >= xoff) & (cols < xoff + w))
        if feedback is not None and feedback.isCanceled():
            raise Canceled("Canceled by the user; no output was written.")
        if not len(sel):
            continue
        r0, r1 = int(rows[sel].min()), int(rows[sel].max()) + 1
        c0, c1 = int(cols[sel].min()), int(cols[sel].max()) + 1
        cube, ok = stack.read((c0, r0, c1 - c0, r1 - r0))
        rr, cc = rows[sel] - r0, cols[sel] - c0
        X[sel] = cube[:, rr, cc].T
        valid[sel] = ok[rr, cc]
    return X, valid


def spatial_blocks(samples, folds, block_pixels=0):
    """(group of each sample, block edge in pixels): square blocks of block_pixels, each training feature
    assigned whole to the block holding the mean position of its pixels, so a polygon is never split
    between training and test folds (Roberts et al. 2017).

    block_pixels 0 picks an edge that cuts the samples' extent into about 4 x folds blocks, shrunk until at
    least 2 x folds blocks hold samples (or blocks are one pixel)."""
    owners, inverse = np.unique(samples.feature, return_inverse=True)
    anchor_r = np.bincount(inverse, weights=samples.rows) / np.bincount(inverse)
    anchor_c = np.bincount(inverse, weights=samples.cols) / np.bincount(inverse)

    def groups_for(edge):
        block = np.floor(anchor_r / edge).astype(np.int64) * 1_000_003 + np.floor(anchor_c / edge).astype(np.int64)
        return np.unique(block, return_inverse=True)[1]

    if block_pixels and block_pixels > 0:
        edge = int(block_pixels)
    else:
        span = (np.ptp(anchor_r) + 1) * (np.ptp(anchor_c) + 1)
        edge = max(1, int(math.ceil(math.sqrt(span / (4 * folds)))))
        while edge > 1 and len(np.unique(groups_for(edge))) < 2 * folds:
            edge = max(1, edge * 3 // 4)
    return groups_for(edge)[inverse], edge
