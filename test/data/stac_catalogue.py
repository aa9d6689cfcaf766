"""A small STAC catalogue made at test time from the real Sentinel-2 and Landsat samples in test/data: each scene's
bands and quality mask as tiled GeoTIFFs (16 px tiles, so that a small extent touches only some of them)
and its items as STAC JSON whose assets point at a local HTTP server.

The pixel values are real (the Slovenian Sentinel-2 stack, the Brazilian Landsat-5 TM bands); the packaging is
SIMULATED: dates, item ids, cloud cover, the clouds themselves (discs painted bright, masked in SCL / QA_PIXEL),
a brightness factor per date (so that a median differs from any one scene), the Landsat Collection 2 Level-2
encoding of TM's 8-bit numbers, and one copy warped into the next UTM zone."""
import json
import os

import numpy as np
from osgeo import gdal, osr

from rasters import write_raster

HERE = os.path.dirname(os.path.abspath(__file__))
S2_STACK = os.path.join(HERE, "sentinel2_l1c", "stack_13band.tif")
TM = os.path.join(HERE, "landsat5_tm", "LT52240631988227CUB02_B{}.TIF")
S2_ASSETS = {"B01": "coastal", "B02": "blue", "B03": "green", "B04": "red", "B05": "rededge1", "B06": "rededge2",
             "B07": "rededge3", "B08": "nir", "B8A": "nir08", "B09": "nir09", "B11": "swir16", "B12": "swir22"}
TM_ASSETS = {1: "blue", 2: "green", 3: "red", 4: "nir08", 5: "swir16", 7: "swir22"}
# id, date, platform, stated cloud %, brightness factor, clouds as (row, col, radius) in 10 m pixels
S2_SCENES = [("S2A_33TVL_20240605_0_L2A", "2024-06-05", "sentinel-2a", 3.0, 1.00, [(30, 30, 10)]),
             ("S2B_33TVL_20240615_0_L2A", "2024-06-15", "sentinel-2b", 12.0, 0.96, [(60, 62, 18)]),
             ("S2A_33TVL_20240625_0_L2A", "2024-06-25", "sentinel-2a", 25.0, 1.05, [(22, 70, 14), (75, 20, 12)]),
             # the clearest of June, from a platform without response curves here: left out
             ("S2C_33TVL_20240610_0_L2A", "2024-06-10", "sentinel-2c", 0.5, 1.00, []),
             ("S2C_33TVL_20241105_0_L2A", "2024-11-05", "sentinel-2c", 0.5, 1.00, []),
             ("S2B_33TVL_20240702_0_L2A", "2024-07-02", "sentinel-2b", 97.0, 1.00, [(48, 48, 200)]),
             # metadata says 20 % for the whole tile; over this extent it is all cloud
             ("S2A_33TVL_20240815_0_L2A", "2024-08-15", "sentinel-2a", 20.0, 1.00, [(48, 48, 200)])]
ZONE34 = ("S2B_34TCR_20240905_0_L2A", "2024-09-05", "sentinel-2b", 1.0, 1.00, [])
NO_SWIR = ("S2A_33TVL_20241005_0_L2A", "2024-10-05", "sentinel-2a", 1.0, 1.00, [])
# A malformed item (the catalogue's fault, not the user's): its eo:cloud_cover is no number; no assets
BAD_CLOUD = ("S2A_33TVL_20241205_0_L2A", "2024-12-05", "sentinel-2a", "cloudy")
# and one that states no cloud cover (valid STAC: it counts as all cloud); no assets
NO_CLOUD = ("S2A_33TVL_20241225_0_L2A", "2024-12-25", "sentinel-2a", None)
TM_SCENES = [("LT05_L2SP_224063_19880814_02_T1", "1988-08-14", "landsat-5", 10.0, 1.00, [(40, 40, 12)]),
             ("LT05_L2SP_224063_19880830_02_T1", "1988-08-30", "landsat-5", 40.0, 0.97, [(150, 150, 40)])]


def _cog(path, array, geotransform, epsg, nodata):
    mem = write_raster("/vsimem/stac_src.tif", array[None], nodata=nodata, crs=epsg, geotransform=geotransform)
    # tiled like a COG, with tiles smaller than the COG driver allows so these small rasters have many of them
    gdal.Translate(path, mem, creationOptions=["TILED=YES", "BLOCKXSIZE=16", "BLOCKYSIZE=16", "COMPRESS=DEFLATE"])
    gdal.Unlink(mem)
    return path


def _discs(shape, clouds, scale=1):
    rows, cols = np.mgrid[:shape[0], :shape[1]]
    out = np.zeros(shape, bool)
    for r, c, radius in clouds:
        out |= (rows * scale - r) ** 2 + (cols * scale - c) ** 2 <= radius ** 2
    return out


def _item(scene_id, date, platform, cloud, collection, epsg, geotransform, shape, assets):
    x0, dx, _, y0, _, dy = geotransform
    xmax, ymin = x0 + dx * shape[1], y0 + dy * shape[0]
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    wgs = osr.SpatialReference()
    wgs.ImportFromEPSG(4326)
    wgs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    w, s, e, n = osr.CoordinateTransformation(srs, wgs).TransformBounds(x0, ymin, xmax, y0, 21)
    return {"type": "Feature", "stac_version": "1.0.0", "id": scene_id, "collection": collection,
            "bbox": [w, s, e, n],
            "geometry": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]},
            "properties": {"datetime": f"{date}T10:00:00Z", "platform": platform, "eo:cloud_cover": cloud,
                           "proj:epsg": epsg, "proj:transform": [dx, 0, x0, 0, dy, y0]},
            "assets": assets, "links": [],
            "stac_extensions": ["https://stac-extensions.github.io/eo/v1.1.0/schema.json",
                                "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
                                "https://stac-extensions.github.io/raster/v1.1.0/schema.json"]}


def make_catalogue(folder, base_url):
    """Writes the COGs and folder/items.json (a FeatureCollection); returns {item id: {asset key: DN array}} of
    what was written, the tests' reference."""
    os.makedirs(folder, exist_ok=True)
    truth, items = {}, []
    ds = gdal.Open(S2_STACK)
    s2_dn = ds.ReadAsArray()  # 13 bands, DN = reflectance x 10000 + 1000
    s2_names = [ds.GetRasterBand(i + 1).GetDescription() for i in range(ds.RasterCount)]
    s2_gt = ds.GetGeoTransform()
    for scene in S2_SCENES + [ZONE34, NO_SWIR]:
        scene_id, date, platform, cloud, factor, clouds = scene
        cloudy = _discs(s2_dn.shape[1:], clouds)
        scl = np.where(_discs((48, 48), clouds, 2), 9, 4).astype(np.uint8)  # 20 m: cloud (9) or vegetation (4)
        scl[np.roll(_discs((48, 48), clouds, 2), 3, axis=1) & (scl == 4)] = 3  # its shadow beside it
        arrays, assets = {}, {}
        for band, key in S2_ASSETS.items():
            if scene is NO_SWIR and key.startswith("swir"):
                continue
            dn = s2_dn[s2_names.index(band.replace("B0", "B"))].astype(np.float64)
            dn = np.clip(np.round((dn - 1000) * factor + 1000), 1, 65535).astype(np.uint16)
            dn[cloudy] = 9000
            arrays[key] = dn
        arrays["scl"] = scl
        gt, epsg = s2_gt, 33
        if scene is ZONE34:  # the same ground as delivered in UTM 34N
            epsg = 34
        for key, array in arrays.items():
            path = os.path.join(folder, f"{scene_id}_{key}.tif")
            grid = gt if key != "scl" else (gt[0], 20.0, 0, gt[3], 0, -20.0)
            _cog(path, array, grid, 32633, 0)
            if epsg == 34:
                warped = gdal.Warp("/vsimem/z34.tif", path, dstSRS="EPSG:32634", xRes=grid[1], yRes=grid[1],
                                   resampleAlg="near")
                array, grid = warped.ReadAsArray(), warped.GetGeoTransform()
                warped = None
                gdal.Unlink("/vsimem/z34.tif")
                _cog(path, array, grid, 32634, 0)
                arrays[key] = array
            raster = {"nodata": 0, "data_type": "uint8" if key == "scl" else "uint16"}
            if key != "scl":
                raster.update(scale=0.0001, offset=-0.1)
            assets[key] = {"href": f"{base_url}/{os.path.basename(path)}", "type": "image/tiff; "
                           "application=geotiff; profile=cloud-optimized", "roles": ["data"],
                           "raster:bands": [raster]}
        shape = arrays["blue"].shape
        items.append(_item(scene_id, date, platform, cloud, "sentinel-2-l2a", 32600 + epsg,
                           gdal.Open(os.path.join(folder, f"{scene_id}_blue.tif")).GetGeoTransform(), shape, assets))
        truth[scene_id] = arrays
    items.append(_item(*BAD_CLOUD, "sentinel-2-l2a", 32633, s2_gt, s2_dn.shape[1:], {}))
    items.append(_item(*NO_CLOUD, "sentinel-2-l2a", 32633, s2_gt, s2_dn.shape[1:], {}))
    del items[-1]["properties"]["eo:cloud_cover"]
    tm_gt = gdal.Open(TM.format(1)).GetGeoTransform()
    for scene_id, date, platform, cloud, factor, clouds in TM_SCENES:
        arrays, assets = {}, {}
        for number, key in TM_ASSETS.items():
            dn8 = gdal.Open(TM.format(number)).ReadAsArray().astype(np.float64)
            # Collection 2 Level-2 encoding: reflectance = DN x 2.75e-5 - 0.2; here DN = TM's 8-bit value x 100
            # + 7273, so reflectance = 0.00275 x the 8-bit value (simulated, see the module's note)
            dn = np.round(dn8 * 100 * factor + 7273).astype(np.uint16)
            arrays[key] = dn
        cloudy = _discs(dn.shape, clouds)
        for key in TM_ASSETS.values():
            arrays[key][cloudy] = 40000
        qa = np.full(dn.shape, 21824, np.uint16)  # clear land, low confidences
        qa[cloudy] |= 1 << 3
        arrays["qa_pixel"] = qa
        for key, array in arrays.items():
            path = _cog(os.path.join(folder, f"{scene_id}_{key}.tif"), array, tm_gt, 32622, 1 if key == "qa_pixel"
                        else 0)
            raster = {"nodata": 1 if key == "qa_pixel" else 0, "data_type": "uint16"}
            if key != "qa_pixel":
                raster.update(scale=2.75e-5, offset=-0.2)
            assets[key] = {"href": f"{base_url}/{os.path.basename(path)}", "roles": ["data"],
                           "raster:bands": [raster]}
        items.append(_item(scene_id, date, platform, cloud, "landsat-c2-l2", 32622, tm_gt, dn.shape, assets))
        truth[scene_id] = arrays
    with open(os.path.join(folder, "items.json"), "w") as f:
        json.dump({"type": "FeatureCollection", "features": items}, f)
    return truth
