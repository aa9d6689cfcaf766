"""Content maps from a pixel regression model (models/MODEL_SPEC.md, patch size 1), block by block, and
anomaly zones: connected areas at or above a threshold, as polygons with their area and mean content
(Cheng et al. 2023 name their two high-anomaly areas I and II this way)."""
import os
import tempfile

import numpy as np
from osgeo import gdal, ogr, osr

from ..io.blocks import RasterWriter, bounded_cache, windows
from ..errors import InputError

CONTENT_NODATA = -9999.0


def require_content_model(model):
    """An error naming the model's parameter unless it is a regression model of single pixels."""
    if model.task != "regression" or model.patch_size != 1:
        raise InputError(model.parameter, f"'{model.name}' is a {model.task} model with {model.patch_size}-pixel "
                                          f"patches; content maps need a regression model of single pixels.")


def predict_content(image, model, output, feedback):
    """Write the content raster; returns running statistics of the predicted values."""
    require_content_model(model)
    model.check_image(image)
    total, total_sq, count, lo, hi = 0.0, 0.0, 0, np.inf, -np.inf
    non_finite = 0  # pixels the model gave NaN, infinity or -9999 for: nodata in the map, counted in the summary
    below = above = 0  # pixels predicted beyond the contents the model learnt from (model.target_range)
    target = f"{model.meta.get('target', 'content')} ({model.meta.get('unit', '')})"
    with bounded_cache(), RasterWriter(output, image.width, image.height, 1, np.float32, image.geotransform,
                                       image.projection, CONTENT_NODATA, [target]) as w:
        for win, stack, valid in image.blocks(model.bands, feedback):
            out = np.full(valid.shape, CONTENT_NODATA, np.float32)
            pixels = stack[:, valid].T  # (n, bands)
            if len(pixels):
                values = model.predict(pixels[:, :, None, None])  # in batches (onnx_model.predict_rows)
                model.refuse_wrong_width(values)
                values = values[:, 0]
                # NaN, infinity, or the map's own nodata value, which as data would vanish from the map unsaid
                stored = values.astype(np.float32)  # as the map holds it
                bad = ~np.isfinite(stored) | (stored == CONTENT_NODATA)
                non_finite += int(bad.sum())
                values[bad] = CONTENT_NODATA
                out[valid] = values
                good = values[values != CONTENT_NODATA].astype(np.float64)
                if good.size:
                    total += good.sum()
                    total_sq += (good ** 2).sum()
                    count += good.size
                    lo, hi = min(lo, good.min()), max(hi, good.max())
                    if model.target_range:
                        below += int(np.count_nonzero(good < model.target_range[0]))
                        above += int(np.count_nonzero(good > model.target_range[1]))
            w.write(0, win[0], win[1], out)
        if count == 0 and non_finite:
            raise InputError(model.parameter, f"'{model.name}' returned NaN, infinity or {CONTENT_NODATA:g} (the map's nodata "
                                              f"value) for every one of the "
                                              f"{non_finite} valid pixels: no content could be mapped.")
        if count == 0:
            raise InputError("INPUT", f"no pixel has valid data in bands {', '.join(model.bands)}.")
        w.set_metadata({"PROSPECTRA_MODEL": model.name, "PROSPECTRA_TARGET": model.meta.get("target", ""),
                        "PROSPECTRA_UNIT": model.meta.get("unit", ""), "PROSPECTRA_SCALING": image.scaling_source})
    feedback.setProgress(100)
    return content_statistics(count, total, total_sq, lo, hi, non_finite, below, above)


def content_statistics(count, total, total_sq, lo, hi, non_finite, below, above):
    """The summary of the predicted values from their running sums and counts (a cluster run adds up its tiles')."""
    mean = total / count
    return {"pixels": count, "mean": float(mean), "sd": float(np.sqrt(max(total_sq / count - mean ** 2, 0.0))),
            "min": float(lo), "max": float(hi), "sum": float(total), "sum_sq": float(total_sq),
            "non_finite": non_finite, "below_training": below, "above_training": above}


def anomaly_zones(content_path, threshold, min_pixels=1):
    """Polygons of 8-connected pixels >= threshold: [(wkb, area, pixels, mean, max)], largest mean first.

    Streams: the mask and the zone ids go through temporary tiled rasters, never whole arrays."""
    src = gdal.Open(content_path)
    band = src.GetRasterBand(1)
    nodata = band.GetNoDataValue()
    width, height = src.RasterXSize, src.RasterYSize
    tmp = tempfile.mkdtemp(prefix="prospectra-zones-")
    try:
        opts = ["TILED=YES", "COMPRESS=DEFLATE"]
        mask_ds = gdal.GetDriverByName("GTiff").Create(os.path.join(tmp, "mask.tif"), width, height, 1, gdal.GDT_Byte, opts)
        mask_ds.SetGeoTransform(src.GetGeoTransform())
        mask_ds.SetProjection(src.GetProjection())
        mask_band = mask_ds.GetRasterBand(1)
        for x, y, w, h in windows(width, height):
            a = band.ReadAsArray(x, y, w, h)
            mask_band.WriteArray(((a >= threshold) & (a != nodata)).astype(np.uint8), x, y)
        memory = ogr.GetDriverByName("Memory").CreateDataSource("zones")
        srs = osr.SpatialReference(wkt=src.GetProjection()) if src.GetProjection() else None
        layer = memory.CreateLayer("zones", srs=srs, geom_type=ogr.wkbPolygon)
        layer.CreateField(ogr.FieldDefn("value", ogr.OFTInteger))
        layer.CreateField(ogr.FieldDefn("zone", ogr.OFTInteger))
        gdal.Polygonize(mask_band, mask_band, layer, 0, ["8CONNECTED=8"])
        ids = gdal.GetDriverByName("GTiff").Create(os.path.join(tmp, "ids.tif"), width, height, 1, gdal.GDT_UInt32, opts)
        ids.SetGeoTransform(src.GetGeoTransform())
        ids.SetProjection(src.GetProjection())
        n = 0
        for i, feature in enumerate(layer):
            feature.SetField("zone", i + 1)
            layer.SetFeature(feature)
            n = i + 1
        if n == 0:
            return []
        gdal.RasterizeLayer(ids, [1], layer, options=["ATTRIBUTE=zone"])
        id_band = ids.GetRasterBand(1)
        sums, counts, maxima = np.zeros(n + 1), np.zeros(n + 1, np.int64), np.full(n + 1, -np.inf)
        for x, y, w, h in windows(width, height):
            zone = id_band.ReadAsArray(x, y, w, h).ravel()
            value = band.ReadAsArray(x, y, w, h).ravel().astype(np.float64)
            inside = zone > 0
            sums += np.bincount(zone[inside], weights=value[inside], minlength=n + 1)
            counts += np.bincount(zone[inside], minlength=n + 1)
            np.maximum.at(maxima, zone[inside], value[inside])
        out = []
        layer.ResetReading()
        for feature in layer:
            z = feature.GetField("zone")
            if counts[z] >= min_pixels:
                geometry = feature.GetGeometryRef()
                out.append((bytes(geometry.ExportToWkb()), float(geometry.GetArea()), int(counts[z]), float(sums[z] / counts[z]),
                            float(maxima[z])))
        return sorted(out, key=lambda r: -r[3])
    finally:
        mask_ds = ids = None  # noqa: F841 (close before deleting)
        for fn in os.listdir(tmp):
            os.remove(os.path.join(tmp, fn))
        os.rmdir(tmp)
