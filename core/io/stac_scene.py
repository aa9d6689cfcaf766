"""A clipped, cloud-masked band stack from a STAC API: search with pystac-client, read only the windows the extent
needs from each scene's cloud-optimised GeoTIFFs over HTTP through GDAL, and write reflectance that every other
algorithm reads directly (band names in the band descriptions, the items and dates in the metadata)."""
import datetime
import math
import re
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from osgeo import gdal, osr

from .blocks import RasterWriter, Subsample, step, windows
from .image import measured_band
from ..errors import InputError, require
from ..sensors import sensor as get_sensor

gdal.UseExceptions()

# name shown -> API root. Each serves both collections under the ids below except where COLLECTION_IDS says not.
CATALOGUES = {
    "Earth Search (Element 84, on AWS)": "https://earth-search.aws.element84.com/v1",
    "Microsoft Planetary Computer": "https://planetarycomputer.microsoft.com/api/stac/v1",
    "Copernicus Data Space Ecosystem": "https://stac.dataspace.copernicus.eu/v1",
}
PLANETARY_COMPUTER = "planetarycomputer.microsoft.com"


@dataclass(frozen=True)
class Collection:
    id: str
    label: str
    resolution_m: float
    mask_keys: tuple  # the asset holding the product's own per-pixel quality
    mask_rule: str  # what is masked, for the log and the metadata
    default_scale: float  # DN x scale + offset = reflectance, where an asset does not state it (raster extension)
    default_offset: float


SENTINEL2 = Collection(
    "sentinel-2-l2a", "Sentinel-2 L2A", 10.0, ("scl", "SCL", "SCL_20m"),
    "Sentinel-2 scene classification (SCL): no data, saturated or defective, cloud shadow, cloud of medium and high "
    "probability, thin cirrus and snow masked", 1e-4, -0.1)
LANDSAT = Collection(
    "landsat-c2-l2", "Landsat Collection 2 Level-2", 30.0, ("qa_pixel", "QA_PIXEL"),
    "Landsat QA_PIXEL: fill, dilated cloud, cirrus, cloud, cloud shadow and snow masked", 2.75e-5, -0.2)
COLLECTIONS = (SENTINEL2, LANDSAT)
SCL_MASKED = (0, 1, 3, 8, 9, 10, 11)
QA_MASKED_BITS = 0b111111  # bits 0-5: fill, dilated cloud, cirrus, cloud, cloud shadow, snow
MAX_ITEMS = 2000  # a province over a season; the search stops there and says so
NODATA = -9999.0

# platform (as items give it, lower case, '-' for '_') -> the sensor whose response curves describe it
PLATFORMS = {"sentinel-2a": "sentinel2a_msi", "sentinel-2b": "sentinel2b_msi", "landsat-8": "landsat8_oli",
             "landsat-9": "landsat9_oli2", "landsat-5": "landsat5_tm", "landsat-4": "landsat5_tm"}
# sensor band -> asset keys used by Earth Search and Planetary Computer (common names) and by the products
# themselves (B02, SR_B2; Copernicus Data Space adds the resolution: B02_10m)
S2_KEYS = {"B1": "coastal B01", "B2": "blue B02", "B3": "green B03", "B4": "red B04", "B5": "rededge1 B05",
           "B6": "rededge2 B06", "B7": "rededge3 B07", "B8": "nir B08", "B8A": "nir08 B8A", "B9": "nir09 B09",
           "B11": "swir16 B11", "B12": "swir22 B12"}
OLI_KEYS = {"B1": "coastal SR_B1", "B2": "blue SR_B2", "B3": "green SR_B3", "B4": "red SR_B4", "B5": "nir08 SR_B5",
            "B6": "swir16 SR_B6", "B7": "swir22 SR_B7"}
TM_KEYS = {"B1": "blue SR_B1", "B2": "green SR_B2", "B3": "red SR_B3", "B4": "nir08 SR_B4", "B5": "swir16 SR_B5",
           "B7": "swir22 SR_B7"}
TRUE_COLOUR = {"landsat5_tm": ("B3", "B2", "B1")}  # red, green, blue; the others: B4, B3, B2
ASSET_KEYS = {"sentinel2a_msi": S2_KEYS, "sentinel2b_msi": S2_KEYS, "landsat8_oli": OLI_KEYS,
              "landsat9_oli2": OLI_KEYS, "landsat5_tm": TM_KEYS}


def collection(collection_id):
    for c in COLLECTIONS:
        if c.id == collection_id:
            return c
    raise InputError("COLLECTION", f"unknown collection '{collection_id}'; choose "
                                   f"{' or '.join(c.id for c in COLLECTIONS)}.")


def parse_date(text, parameter):
    try:
        return datetime.date.fromisoformat(str(text).strip())
    except ValueError:
        raise InputError(parameter, f"'{text}' is not a date; write it as YYYY-MM-DD.") from None


@contextmanager
def http_settings(timeout):
    """GDAL's HTTP settings for reading COG windows: a timeout, two retries, and no listing of the remote folder."""
    settings = {"GDAL_HTTP_TIMEOUT": str(int(timeout)), "GDAL_HTTP_CONNECTTIMEOUT": str(int(timeout)),
                "GDAL_HTTP_MAX_RETRY": "2", "GDAL_HTTP_RETRY_DELAY": "1", "VSI_CACHE": "TRUE",
                "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR"}
    # On this thread only, where the reads happen: QGIS keeps opening other rasters on its other threads.
    before = {k: gdal.GetThreadLocalConfigOption(k, None) for k in settings}
    for k, v in settings.items():
        gdal.SetThreadLocalConfigOption(k, v)
    try:
        yield
    finally:
        for k, v in before.items():
            gdal.SetThreadLocalConfigOption(k, v)


def search(url, spec, bbox, start, end, max_cloud, timeout=30):
    """The items of spec's collection over bbox (lon/lat) between the dates, at most max_cloud % cloudy."""
    require("Loading scenes from a STAC API", "pystac_client")
    import requests
    from pystac_client import Client
    from pystac_client.conformance import ConformanceClasses
    from pystac_client.exceptions import APIError
    from pystac_client.stac_api_io import StacApiIO

    if end < start:
        raise InputError("END_DATE", f"{end} is before START_DATE {start}.")
    stac_io = StacApiIO(timeout=timeout, max_retries=2)
    try:
        client = Client.open(url, stac_io=stac_io, timeout=timeout)  # open() sets the timeout again
        query = {"eo:cloud_cover": {"lte": max_cloud}} if client.conforms_to(ConformanceClasses.QUERY) else None
        found = client.search(collections=[spec.id], bbox=list(bbox), max_items=MAX_ITEMS, query=query,
                              datetime=f"{start.isoformat()}T00:00:00Z/{end.isoformat()}T23:59:59Z")
        items = list(found.items_as_dicts())
    except Exception as e:  # noqa: BLE001 (what the network, pystac and pystac-client raise is a bad catalogue)
        ours = type(e).__module__.split(".")[0] in ("pystac", "pystac_client", "requests", "urllib3", "json")
        if not (ours or isinstance(e, (APIError, ValueError, TypeError, KeyError, OSError))):
            raise
        if isinstance(e, requests.exceptions.Timeout) or "timed out" in str(e):  # also after pystac-client's retries
            raise InputError("CATALOGUE", f"{url} did not answer within {timeout} s; try again later or another "
                                          "catalogue.") from None
        text = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
        refused = re.search(r"\[Errno -?\d+\] [^'\")]+", text)  # the operating system's reason, not urllib3's chain
        raise InputError("CATALOGUE", f"the STAC API at {url} could not be searched "
                                      f"({refused.group(0) if refused else text}). Check the address (a STAC API "
                                      "with item search, not a static catalogue) and the network.") from None
    finally:
        stac_io.session.close()
    if not items:
        raise InputError("EXTENT", f"no {spec.label} scene of {url} covers the extent between {start} and {end}; "
                                   "widen the dates or check the extent.")
    # a scene that does not state its cloud cover counts as all cloud: kept only when any cover is accepted
    unstated = 0
    for i in items:
        cover = stated_cloud_cover(url, i)
        unstated += cover is None
        i["properties"]["eo:cloud_cover"] = 100.0 if cover is None else cover
    kept = [i for i in items if i["properties"]["eo:cloud_cover"] <= max_cloud]
    if not kept and unstated == len(items):  # not 'the clearest: 100 %', which no scene said
        raise InputError("MAX_CLOUD", f"none of the {len(items)} scenes found between {start} and {end} states its "
                                      f"cloud cover (eo:cloud_cover), and a scene that does not counts as all cloud; "
                                      f"set MAX_CLOUD to 100 to take them all the same.")
    if not kept:
        raise InputError("MAX_CLOUD", f"all {len(items)} scenes found between {start} and {end} are more than "
                                      f"{max_cloud:g} % cloudy (the clearest: "
                                      f"{min(i['properties']['eo:cloud_cover'] for i in items):g} %).")
    return kept, len(items) >= MAX_ITEMS


def stated_cloud_cover(url, item):
    """The cloud cover (%) an item states, None where it states none; an item without properties, or whose
    eo:cloud_cover is no percentage, is the catalogue's fault, not MAX_CLOUD's."""
    properties = item.get("properties") if isinstance(item, dict) else None
    named = f" {item['id']}" if isinstance(item, dict) and item.get("id") else ""
    if not isinstance(properties, dict):
        raise InputError("CATALOGUE", f"{url} returned a malformed item{named}: it has no properties. Try another "
                                      "catalogue, or tell its keepers.")
    cover = properties.get("eo:cloud_cover")
    if cover is None:
        return None
    try:
        value = None if isinstance(cover, bool) else float(cover)
    except (TypeError, ValueError):
        value = None
    if value is None or not 0 <= value <= 100:  # NaN fails the range too
        raise InputError("CATALOGUE", f"{url} returned a malformed item{named}: its eo:cloud_cover is {cover!r}, not "
                                      "a percentage from 0 to 100. Try another catalogue, or tell its keepers.")
    return value


def platform_of(item):
    return str(item["properties"].get("platform", "")).lower().replace("_", "-")


def scenes(items):
    """Items grouped into acquisitions (one platform, one day: the tiles of one overpass), clearest first."""
    groups = {}
    for item in items:
        groups.setdefault((str(item["properties"].get("datetime", ""))[:10], platform_of(item)), []).append(item)
    ranked = sorted(groups.items(), key=lambda kv: (np.mean([i["properties"]["eo:cloud_cover"] for i in kv[1]]),
                                                    kv[0][0], kv[0][1]))
    return [sorted(g, key=lambda i: i["id"]) for _, g in ranked]


def sensor_of(scene):
    return PLATFORMS[platform_of(scene[0])]


def asset(item, keys, parameter, what):
    """(href, raster-extension band dict) of the first asset of item named by keys (or by key + '_<n>m')."""
    assets = item.get("assets", {})
    by_key = {k.lower(): k for k in assets}
    for key in keys:
        found = by_key.get(key.lower())
        if found is None:  # Copernicus Data Space: the band's finest resolution, e.g. B02_10m
            sized = sorted((int(m.group(1)), k) for k in assets for m in [re.fullmatch(rf"{key}_(\d+)m", k, re.I)] if m)
            found = sized[0][1] if sized else None
        if found:
            a = assets[found]
            bands = a.get("raster:bands") or [{}]
            return a["href"], bands[0]
    raise InputError(parameter, f"scene {item['id']} has no {what} asset (looked for {', '.join(keys)}; it has "
                                f"{', '.join(sorted(assets)) or 'none'}).")


def gdal_path(href, sign=None):
    if href.startswith("s3://"):
        return "/vsis3/" + href[5:]
    if href.startswith(("http://", "https://")):
        return "/vsicurl/" + (sign(href) if sign else href)
    return href


def planetary_computer_signer(spec, timeout):
    """Planetary Computer serves its blobs with a short-lived token per collection, fetched from its SAS API."""
    import requests

    try:
        answer = requests.get(f"https://{PLANETARY_COMPUTER}/api/sas/v1/token/{spec.id}", timeout=timeout)
        answer.raise_for_status()
        token = answer.json()["token"]
    except (requests.exceptions.RequestException, KeyError, ValueError) as e:
        raise InputError("CATALOGUE", f"Planetary Computer did not give a token to read {spec.id} ({e}).") from None
    return lambda href: href + ("&" if "?" in href else "?") + token


@dataclass
class Grid:
    wkt: str
    epsg: int
    bounds: tuple  # xmin, ymin, xmax, ymax in the grid's CRS
    resolution: float

    @property
    def size(self):
        xmin, ymin, xmax, ymax = self.bounds
        return round((xmax - xmin) / self.resolution), round((ymax - ymin) / self.resolution)

    @property
    def geotransform(self):
        return self.bounds[0], self.resolution, 0.0, self.bounds[3], 0.0, -self.resolution


def _srs(definition):
    srs = osr.SpatialReference()
    srs.SetFromUserInput(definition)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def lonlat_bounds(extent, crs):
    """The extent (xmin, ymin, xmax, ymax in crs, a WKT or 'EPSG:n') as lon/lat bounds, edges densified."""
    xmin, ymin, xmax, ymax = extent
    if not all(math.isfinite(v) for v in extent) or xmax <= xmin or ymax <= ymin:
        raise InputError("EXTENT", f"{extent} is not an area; draw the extent or take it from a layer.")
    try:
        source = _srs(crs)
    except RuntimeError:
        raise InputError("EXTENT", "the extent has no coordinate reference system GDAL knows.") from None
    try:
        west, south, east, north = osr.CoordinateTransformation(source, _srs("EPSG:4326")).TransformBounds(
            xmin, ymin, xmax, ymax, 21)
    except RuntimeError as e:
        raise InputError("EXTENT", f"the extent cannot be placed on the globe ({str(e).strip()[:200]}).") from None
    if not (-180 <= west < east <= 180 and -80 <= south < north <= 84):  # UTM's domain: 80 S to 84 N
        raise InputError("EXTENT", f"the extent reaches longitude {west:g} to {east:g} and latitude {south:g} to "
                                   f"{north:g}; scenes are gridded in UTM, which covers longitudes -180 to 180 and "
                                   f"latitudes 80 S to 84 N. Check the extent and its coordinate system.")
    return west, south, east, north


def utm_grid(bbox, resolution, scene=None):
    """The grid over bbox (lon/lat) in the WGS 84 UTM zone of its centre. An extent that reaches into the next zones
    is reprojected into this one, at most one zone either side (9 degrees from the central meridian: a scale error
    of 1.2 % at the equator, 0.8 % at 45 degrees).
    scene: (EPSG code, (x, y) of a pixel corner) of the clearest scene: when it is in that zone (USGS delivers
    Landsat in the northern zones even south of the equator), the grid takes its CRS and its pixels."""
    west, south, east, north = bbox
    zone = min(60, int((((west + east) / 2) + 180) // 6) + 1)
    zones = int((min(east, 179.999) + 180) // 6) - int((west + 180) // 6) + 1
    if zones > 3:
        raise InputError("EXTENT", f"the extent spans {zones} UTM zones ({east - west:.1f} degrees of longitude); "
                                   "one UTM grid distorts beyond three. Split it into parts of at most three zones.")
    epsg = (32600 if (south + north) / 2 >= 0 else 32700) + zone
    align = None
    if scene and scene[0] in (32600 + zone, 32700 + zone):
        epsg, align = scene
    target = _srs(f"EPSG:{epsg}")
    xmin, ymin, xmax, ymax = osr.CoordinateTransformation(_srs("EPSG:4326"), target).TransformBounds(
        west, south, east, north, 21)
    ax, ay = align or (0.0, 0.0)
    xmin = ax + math.floor((xmin - ax) / resolution) * resolution
    ymin = ay + math.floor((ymin - ay) / resolution) * resolution
    xmax = ax + math.ceil((xmax - ax) / resolution) * resolution
    ymax = ay + math.ceil((ymax - ay) / resolution) * resolution
    return Grid(target.ExportToWkt(), epsg, (xmin, ymin, xmax, ymax), resolution), zones


def scene_grid(scene):
    """(EPSG code, (x, y) of a pixel corner) of the scene's first item (projection extension), or None."""
    p = scene[0]["properties"]
    transform = p.get("proj:transform")
    code = p.get("proj:epsg") or (int(p["proj:code"].split(":")[1]) if str(p.get("proj:code", "")).startswith("EPSG:")
                                  else None)
    if code and transform and len(transform) >= 6:
        return int(code), (float(transform[2]), float(transform[5]))
    return None


class SceneReader:
    """One acquisition on the grid: its tiles' bands and mask as warped VRTs, read a window at a time (GDAL fetches
    only the COG tiles the window touches)."""

    def __init__(self, scene, spec, bands, grid, sign=None):
        self.spec = spec
        keys = ASSET_KEYS[sensor_of(scene)]
        self.tiles = []
        for item in scene:
            mask_href, _ = asset(item, spec.mask_keys, "COLLECTION", "quality mask")
            mask_fill = 0 if spec is SENTINEL2 else 1  # outside a tile: SCL 'no data', QA_PIXEL 'fill'
            layers = {"mask": (self._warp(item, mask_href, grid, mask_fill, sign), 1.0, 0.0, None)}
            for band in bands:
                href, raster = asset(item, keys[band].split(), "COLLECTION", f"band {band}")
                nodata = raster.get("nodata", 0)
                scale, offset = self.scaling(item, raster)
                layers[band] = (self._warp(item, href, grid, nodata, sign), scale, offset, nodata)
            self.tiles.append((item, layers))

    def scaling(self, item, raster):
        scale, offset = raster.get("scale"), raster.get("offset")
        if scale is not None:
            return float(scale), float(offset or 0.0)
        offset = self.spec.default_offset
        baseline = item["properties"].get("s2:processing_baseline")
        if self.spec is SENTINEL2 and baseline is not None and str(baseline) < "04.00":
            offset = 0.0  # ESA added the -1000 DN offset with processing baseline 04.00 (January 2022)
        return self.spec.default_scale, offset

    @staticmethod
    def _warp(item, href, grid, nodata, sign):
        width, height = grid.size
        path = gdal_path(href, sign)
        if path.startswith("/vsicurl/"):  # GDAL remembers a failed request: a run after a network error must retry
            gdal.VSICurlPartialClearCache(path)
        try:
            return gdal.Warp("", path, format="VRT", dstSRS=grid.wkt, outputBounds=grid.bounds, width=width,
                             height=height, resampleAlg="near", srcNodata=nodata, dstNodata=nodata)
        except RuntimeError as e:
            raise InputError("CATALOGUE", f"scene {item['id']}: '{href}' could not be opened "
                                          f"({str(e).strip()[:300]}).") from None

    def read(self, window, bands):
        """({band: reflectance}, clear) over the window: the first clear tile's value where tiles overlap."""
        xoff, yoff, xsize, ysize = window
        values = {b: np.full((ysize, xsize), np.nan, np.float32) for b in bands}
        clear = np.zeros((ysize, xsize), bool)
        for item, layers in self.tiles:
            mask = self._array(item, layers["mask"][0], window)
            if self.spec is SENTINEL2:
                ok = ~np.isin(mask, SCL_MASKED)
            else:
                ok = (mask.astype(np.int64) & QA_MASKED_BITS) == 0
            ok &= ~clear
            arrays = {}
            for b in bands:
                dataset, scale, offset, nodata = layers[b]
                raw = self._array(item, dataset, window)
                if nodata is not None:
                    ok &= raw != nodata
                arrays[b] = raw.astype(np.float32) * np.float32(scale) + np.float32(offset)
                ok &= measured_band(arrays[b])  # the rule of every read: no NaN, infinity or fill value
            for b in bands:
                values[b][ok] = arrays[b][ok]
            clear |= ok
        return values, clear

    @staticmethod
    def _array(item, dataset, window):
        try:
            array = dataset.ReadAsArray(*window)
        except RuntimeError as e:
            array, message = None, str(e)
        else:
            message = gdal.GetLastErrorMsg()
        if array is None:
            raise InputError("CATALOGUE", f"reading scene {item['id']} failed ({message.strip()[:300]}); the server "
                                          "stopped answering or the file is damaged.")
        return array


def load_scene(url, collection_id, extent, crs, start, end, max_cloud, composite, count, output, feedback,
               resolution=None, timeout=30):
    """Search, mask and write the stack. composite: 'least-cloudy' (the clearest acquisition) or 'median' (per pixel,
    the median of the count clearest acquisitions' clear values). Returns a summary for the log."""
    spec = collection(collection_id)
    if composite not in ("least-cloudy", "median"):
        raise InputError("COMPOSITE", f"unknown choice '{composite}'.")
    if resolution is not None and not (math.isfinite(resolution) and resolution > 0):
        raise InputError("RESOLUTION", f"{resolution} is not a pixel size in metres.")
    bbox = lonlat_bounds(extent, crs)
    utm_grid(bbox, resolution or spec.resolution_m)  # an extent no UTM grid can hold is refused before any search
    found, truncated = search(url, spec, bbox, start, end, max_cloud, timeout)
    # Platforms without response curves here (e.g. Sentinel-2C, Landsat 7) are left out, and the log says so.
    items = [i for i in found if platform_of(i) in PLATFORMS]
    unknown = sorted({platform_of(i) or "unknown" for i in found} - set(PLATFORMS))
    if not items:
        raise InputError("COLLECTION", f"the {len(found)} scenes found come from {', '.join(unknown)}, which "
                                       f"Prospectra has no response curves for (it knows {', '.join(PLATFORMS)}).")
    ranked = scenes(items)
    chosen = ranked[:count if composite == "median" else 1]
    sensors = [sensor_of(s) for s in chosen]
    if len({id(ASSET_KEYS[s]) for s in sensors}) > 1:
        raise InputError("COLLECTION", "the clearest scenes come from sensors with different bands ("
                                       f"{', '.join(sorted(set(sensors)))}); narrow the dates to one of them.")
    sensor = get_sensor(max(sorted(set(sensors)), key=sensors.count))
    bands = [b for b in sensor.band_names if b in ASSET_KEYS[sensor.id]]
    grid, zones = utm_grid(bbox, resolution or spec.resolution_m, scene_grid(chosen[0]))
    width, height = grid.size
    sign = planetary_computer_signer(spec, timeout) if PLANETARY_COMPUTER in url else None
    with http_settings(timeout):
        readers = []
        for scene in chosen:  # opening reads each COG's header: the first tenth of the progress
            step(feedback, len(readers), 10 * len(chosen))
            readers.append(SceneReader(scene, spec, bands, grid, sign))
        blocks = list(windows(width, height, 2 ** 20 // len(readers)))  # N scenes' bands per block: memory flat
        clear_pixels = 0
        rgb = TRUE_COLOUR.get(sensor.id, ("B4", "B3", "B2"))
        samples = {b: Subsample(width, height) for b in rgb}
        with RasterWriter(output, width, height, len(bands), np.float32, grid.geotransform, grid.wkt, NODATA,
                          descriptions=bands) as writer:
            for n, window in enumerate(blocks):
                xoff, yoff, xsize, ysize = window
                stack = []
                for reader in readers:
                    done = len(readers) * len(blocks) + 9 * (n * len(readers) + len(stack))  # the other nine tenths
                    step(feedback, done, 10 * len(readers) * len(blocks))
                    stack.append(reader.read(window, bands))
                clear = np.any([c for _, c in stack], axis=0)
                clear_pixels += int(clear.sum())
                for b_index, b in enumerate(bands):
                    if len(stack) == 1:
                        data = stack[0][0][b]
                    else:
                        cube = np.stack([values[b] for values, _ in stack])
                        data = np.full(cube.shape[1:], np.nan, np.float32)
                        data[clear] = np.nanmedian(cube[:, clear], axis=0)
                    writer.write(b_index, xoff, yoff, np.where(clear, data, np.float32(NODATA)))
                    if b in samples:
                        samples[b].add(window, data, clear)
            if clear_pixels == 0:
                raise InputError("MAX_CLOUD", f"every pixel of the extent is masked (cloud, shadow, snow or no data) "
                                              f"in the {len(chosen)} clearest scene(s) "
                                              f"({', '.join(s[0]['id'] for s in chosen)}); widen the dates or choose "
                                              "the median of more scenes.")
            writer.set_metadata(_metadata(url, spec, sensor, chosen, readers, composite, bands))
    feedback.setProgress(100)
    return {"sensor": sensor, "bands": bands, "scenes": chosen, "found": len(found), "truncated": truncated,
            "left_out": (len(found) - len(items), unknown),
            "clear_fraction": clear_pixels / (width * height), "width": width, "height": height,
            "epsg": grid.epsg, "zones": zones, "mask": spec.mask_rule,
            "true_colour": [bands.index(b) + 1 for b in rgb],
            "stretch": [_stretch(samples[b].values()) for b in rgb]}


def _stretch(values):
    """2-98 % of the clear values sampled for the true-colour style (a plain 0-0.3 when the sample caught none)."""
    return tuple(float(v) for v in np.percentile(values, (2, 98))) if values.size else (0.0, 0.3)


def _metadata(url, spec, sensor, chosen, readers, composite, bands):
    scaling = sorted({f"{s:g} x DN + {o:g}" for r in readers for _, layers in r.tiles
                      for b, (_, s, o, _) in layers.items() if b != "mask"})
    return {"PROSPECTRA_SENSOR": sensor.id, "STAC_API": url, "STAC_COLLECTION": spec.id,
            "STAC_ITEMS": " ".join(i["id"] for s in chosen for i in s),
            "STAC_DATES": " ".join(dict.fromkeys(str(s[0]["properties"].get("datetime", ""))[:10] for s in chosen)),
            "COMPOSITE": "least cloudy scene" if composite == "least-cloudy" else
                         f"per-pixel median of the {len(chosen)} clearest scenes",
            "REFLECTANCE": f"applied: reflectance = {'; '.join(scaling)}", "CLOUD_MASK": spec.mask_rule,
            "BANDS": " ".join(bands)}
