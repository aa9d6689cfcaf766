from qgis.core import (QgsProcessingParameterEnum, QgsProcessingParameterExtent, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterDestination, QgsProcessingParameterString)

from ..core.errors import InputError
from ..core.io.blocks import check_outputs
from ..core.io.stac_scene import CATALOGUES, COLLECTIONS, load_scene, parse_date
from .base import ProspectraAlgorithm
from .compat import DOUBLE, INTEGER, WKT_GDAL
from .styles import style_multiband

CUSTOM = "Another STAC API (CATALOGUE_URL)"
COMPOSITES = {"least-cloudy": "The least cloudy scene",
              "median": "Per-pixel median of the N clearest scenes (N = SCENES)"}


class LoadScene(ProspectraAlgorithm):
    group_id = "scenes"
    packages = ("pystac_client",)

    def name(self):
        return "loadscene"

    def displayName(self):  # noqa: N802
        return "Load a scene from a STAC catalogue"

    def help_html(self):
        return (
            "<p>Finds Sentinel-2 L2A or Landsat Collection 2 Level-2 scenes over an extent in a STAC API, masks "
            "cloud, cloud shadow and snow with each product's own mask, and writes a clipped band stack of surface "
            "reflectance that the other Prospectra algorithms read directly. This is the step paper 000 did in "
            "Google Earth Engine: filter the collection by region and date, take the least cloudy scene (or a "
            "median of the clearest, as Earth Engine users often do), clip it to the area.</p>"
            "<p><b>Only the windows the extent needs are read</b>, straight from each scene's cloud-optimised "
            "GeoTIFFs over HTTP (GDAL /vsicurl/); no scene is downloaded whole.</p>"
            "<ul><li><b>Masks</b>: Sentinel-2 scene classification (SCL) classes 0 no data, 1 saturated or "
            "defective, 3 cloud shadow, 8 and 9 cloud of medium and high probability, 10 thin cirrus, 11 snow "
            "(ESA, Sentinel-2 L2A product specification); Landsat QA_PIXEL bits 0-5: fill, dilated cloud, cirrus, "
            "cloud, cloud shadow, snow (USGS, Landsat 8-9 Collection 2 Level-2 Science Product Guide).</li>"
            "<li><b>Reflectance</b>: DN x scale + offset as each asset states it (STAC raster extension), else "
            "the product's own: Sentinel-2 0.0001 with -0.1 from processing baseline 04.00, Landsat C2 L2 "
            "0.0000275 with -0.2. The output is float32 reflectance, nodata -9999; its band descriptions name the "
            "bands (B2, B11 ...) and its metadata the items, dates, scaling and mask, so choose the sensor the log "
            "names in the next algorithm and leave SCALING on automatic.</li>"
            "<li><b>Grid</b>: the WGS 84 UTM zone of the extent's centre, at 10 m (Sentinel-2) or 30 m (Landsat) "
            "unless RESOLUTION says otherwise, aligned to the clearest scene's pixels when it is in that zone. "
            "Scenes in other zones and extents reaching into the next zone are reprojected into it (nearest "
            "neighbour); extents wider than three zones are refused.</li>"
            "<li><b>Least cloudy</b> ranks acquisitions (one platform on one day: the tiles of one overpass) by "
            "their stated cloud cover and takes the first; its masked pixels stay nodata. <b>Median</b> takes the "
            "N clearest and, per pixel and band, the median of the clear values.</li></ul>"
            "<p><b>Catalogues</b>: Earth Search serves both collections; Landsat assets there point at a "
            "requester-pays bucket (s3://), so reading them needs AWS credentials in GDAL's settings. Planetary "
            "Computer's files are read with the short-lived token its SAS API gives. Copernicus Data Space serves "
            "Sentinel-2 only, and its files need its S3 credentials. Another API works when it uses the collection "
            "ids sentinel-2-l2a or landsat-c2-l2 and common asset names (blue, red, nir08, swir16, scl, qa_pixel) "
            "or band names (B02, SR_B2).</p>")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterEnum("CATALOGUE", "STAC API", list(CATALOGUES) + [CUSTOM],
                                                     defaultValue=0))
        self.addParameter(QgsProcessingParameterString("CATALOGUE_URL", "Address of another STAC API",
                                                       optional=True))
        self.addParameter(QgsProcessingParameterEnum("COLLECTION", "Collection", [c.label for c in COLLECTIONS],
                                                     defaultValue=0))
        self.addParameter(QgsProcessingParameterExtent("EXTENT", "Extent"))
        self.addParameter(QgsProcessingParameterString("START_DATE", "From (YYYY-MM-DD)", defaultValue="2024-06-01"))
        self.addParameter(QgsProcessingParameterString("END_DATE", "To (YYYY-MM-DD)", defaultValue="2024-09-30"))
        self.addParameter(QgsProcessingParameterNumber("MAX_CLOUD", "Largest cloud cover of a scene (%)", DOUBLE,
                                                       defaultValue=30.0, minValue=0.0, maxValue=100.0))
        self.addParameter(QgsProcessingParameterEnum("COMPOSITE", "Composite", list(COMPOSITES.values()),
                                                     defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber("SCENES", "N: scenes in the median", INTEGER, defaultValue=5,
                                                       minValue=1, maxValue=100))
        self.add_advanced(QgsProcessingParameterNumber("RESOLUTION", "Pixel size in metres (empty: the collection's)",
                                                       DOUBLE, optional=True, minValue=0.5, maxValue=10000.0))
        self.add_advanced(QgsProcessingParameterNumber("TIMEOUT", "Network timeout (s)", INTEGER, defaultValue=30,
                                                       minValue=1, maxValue=600))
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", "Scene (surface reflectance)"))

    def execute(self, parameters, context, feedback):
        choice = self.parameterAsEnum(parameters, "CATALOGUE", context)
        if choice < len(CATALOGUES):
            url = list(CATALOGUES.values())[choice]
        else:
            url = self.parameterAsString(parameters, "CATALOGUE_URL", context).strip()
            if not url.startswith(("http://", "https://")):
                raise InputError("CATALOGUE_URL", f"'{url}' is not the http(s) address of a STAC API.")
        extent = self.parameterAsExtent(parameters, "EXTENT", context)
        crs = self.parameterAsExtentCrs(parameters, "EXTENT", context)
        if not crs.isValid():
            raise InputError("EXTENT", "the extent has no coordinate reference system.")
        output = self.output_path(parameters, "OUTPUT", context)
        check_outputs([], OUTPUT=output)  # the folder, before the catalogue is searched
        spec = COLLECTIONS[self.parameterAsEnum(parameters, "COLLECTION", context)]
        feedback.pushInfo(f"Searching {url} for {spec.label}.")
        result = load_scene(
            url, spec.id, (extent.xMinimum(), extent.yMinimum(), extent.xMaximum(), extent.yMaximum()),
            crs.toWkt(WKT_GDAL), parse_date(self.parameterAsString(parameters, "START_DATE", context), "START_DATE"),
            parse_date(self.parameterAsString(parameters, "END_DATE", context), "END_DATE"),
            self.parameterAsDouble(parameters, "MAX_CLOUD", context),
            list(COMPOSITES)[self.parameterAsEnum(parameters, "COMPOSITE", context)],
            self.parameterAsInt(parameters, "SCENES", context), output, feedback,
            resolution=self.optional_number(parameters, "RESOLUTION", context),
            timeout=self.parameterAsInt(parameters, "TIMEOUT", context))
        left_out, platforms = result["left_out"]
        if left_out:
            feedback.pushInfo(f"{left_out} scene(s) from {', '.join(platforms)} left out: no response curves for them "
                              "here.")
        if result["truncated"]:
            feedback.pushInfo("The search stopped at its limit of scenes; narrow the dates to see them all.")
        used = ", ".join(f"{s[0]['id']} ({str(s[0]['properties'].get('datetime', ''))[:10]}, "
                         f"{s[0]['properties']['eo:cloud_cover']:g} % cloud)" + (f" + {len(s) - 1} tile(s)"
                                                                                 if len(s) > 1 else "")
                         for s in result["scenes"])
        feedback.pushInfo(f"{result['found']} scene(s) at most {self.parameterAsDouble(parameters, 'MAX_CLOUD', context):g} "
                          f"% cloudy; used: {used}.")
        feedback.pushInfo(f"{result['width']} x {result['height']} px in EPSG:{result['epsg']}"
                          + (f" (the extent reaches into {result['zones'] - 1} more UTM zone(s): reprojected)"
                             if result["zones"] > 1 else "")
                          + f"; {100 * result['clear_fraction']:.1f} % of the pixels clear. {result['mask']}.")
        feedback.pushInfo(f"Bands {', '.join(result['bands'])}: choose the sensor '{result['sensor'].name}' in the "
                          "next algorithm.")
        self.load_style_on_completion(context, output, style_multiband(output, result["stretch"], (2.0, 98.0),
                                                                       result["true_colour"]))
        return {"OUTPUT": output}
