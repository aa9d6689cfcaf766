"""The demo's quicklooks and index.html (scripts/demo_report.py) on small rasters styled by the plugin's own
algorithms/styles.py, so the .qml read here is the .qml QGIS writes. No qgis_process: a few seconds."""
import json
import os
import re
import subprocess
import sys
import urllib.parse

import numpy as np
from osgeo import gdal, ogr, osr

from conftest import PLUGINS, ROOT
from data.rasters import write_raster

sys.path.insert(0, os.path.join(ROOT, "scripts"))
import demo_report  # noqa: E402

# Written in a child Python: styles.py makes QGIS layers, and a QGIS set up here without QgsApplication could
# upset the headless QGIS other tests of the same session start.
STYLE = """import json, sys
from prospectra.algorithms import styles
for kind, path, args in json.loads(sys.argv[1]):
    getattr(styles, kind)(path, *args)
"""
CLASSES = [(0, "none", "#d0d0d0"), (1, "granite", "#be0032"), (2, "shale", "#0067a5")]


def raster(path, bands, nodata):
    """A float32 or byte GeoTIFF in UTM 33N with 10 m pixels."""
    bands = np.dstack(bands).transpose(2, 0, 1)
    kind = gdal.GDT_Byte if bands.dtype == np.uint8 else gdal.GDT_Float32
    return write_raster(path, bands, kind, nodata, [f"B{i}" for i in range(1, len(bands) + 1)], 32633,
                        (500000, 10, 0, 5000000, 0, -10))


def zones(path):
    """One square zone 'I' stored in WGS 84, so the overlay must be reprojected onto the UTM rasters."""
    utm, wgs84 = osr.SpatialReference(), osr.SpatialReference()
    utm.ImportFromEPSG(32633)
    wgs84.ImportFromEPSG(4326)
    wgs84.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    square = ogr.CreateGeometryFromWkt("POLYGON ((500800 4999800, 501200 4999800, 501200 4999300, "
                                       "500800 4999300, 500800 4999800))")
    square.AssignSpatialReference(utm)
    square.TransformTo(wgs84)
    source = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = source.CreateLayer("zones", wgs84, ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("zone", ogr.OFTString))
    f = ogr.Feature(layer.GetLayerDefn())
    f["zone"] = "I"
    f.SetGeometry(square)
    layer.CreateFeature(f)
    source = None
    return str(path)


def png_rgba(path):
    ds = gdal.Open(path)
    return ds.ReadAsArray().transpose(1, 2, 0)


def rgb(colour):
    return [int(colour[i:i + 2], 16) for i in (1, 3, 5)]


def test_quicklooks_and_index(tmp_path):
    classes = np.tile(np.repeat(np.arange(3, dtype=np.uint8), 10), (20, 1))  # 30 x 20: thirds of 0, 1, 2
    classes = np.hstack([classes, classes[:, -1:]])  # 31 wide: a width 100 px figures do not divide
    classes[:5, :5] = 255
    ratio = np.tile(np.linspace(0.5, 2.5, 200, dtype=np.float32), (100, 1))
    ratio[0, 0] = -9999
    ramp = np.tile(np.linspace(0, 1, 1000, dtype=np.float32), (500, 1))
    paths = {"classes": raster(tmp_path / "classes.tif", [classes], 255),
             "ratio": raster(tmp_path / "ratio.tif", [ratio], -9999),
             "composite": raster(tmp_path / "composite.tif", [ramp, 1 - ramp, np.full_like(ramp, 0.5)], -9999),
             "grey": raster(tmp_path / "grey.tif", [ratio], -9999),
             "angles": raster(tmp_path / "angles.tif", [ratio, ratio], -9999)}
    jobs = [("style_paletted", paths["classes"], [CLASSES]), ("style_pseudocolor", paths["ratio"], [1.0, 2.0]),
            ("style_multiband", paths["composite"], [[(0.25, 0.75), (0.0, 1.0), (0.0, 1.0)], (2, 98)])]
    subprocess.run([sys.executable, "-c", STYLE, json.dumps(jobs)], check=True, timeout=60,
                   env={**os.environ, "PYTHONPATH": PLUGINS})
    with open(tmp_path / "grey.qml", "w") as f:  # a renderer Prospectra never writes: said, not drawn
        f.write('<qgis><pipe><rasterrenderer type="singlebandgray" grayBand="1"/></pipe></qgis>')
    (tmp_path / "report.html").write_text("<html>report</html>")
    (tmp_path / "report.json").write_text("{}")
    (tmp_path / "report_confusion.png").write_bytes((tmp_path / "report.html").read_bytes())
    (tmp_path / "stray.csv").write_text("a\n1\n")
    sections = [
        dict(title="Lithology map", meaning="granite against shale", files=[paths["classes"], paths["angles"]]),
        dict(title="Clay ratio", meaning="bright = clays", files=[paths["ratio"], zones(tmp_path / "zones.gpkg")]),
        dict(title="SWIR composite", meaning="rock in pink", files=[paths["composite"], paths["grey"]]),
        dict(title="Training report", meaning="trust", files=[str(tmp_path / "report.html")], seconds=1.5),
        dict(title="Broken step", meaning="nothing", files=[str(tmp_path / "gone.tif")], error="it failed"),
    ]
    index = demo_report.write_index(str(tmp_path), sections, "Demo <test>")
    looks = tmp_path / "quicklooks"

    # Small rasters enlarged by whole factors, large ones shrunk to 800 px.
    sizes = {name: gdal.Open(str(looks / f"{name}.png")).RasterXSize for name in ("classes", "ratio", "composite")}
    assert sizes == {"classes": 496, "ratio": 600, "composite": 800}
    assert gdal.Open(str(looks / "classes.png")).RasterYSize == 320
    assert not (looks / "grey.png").exists()

    # Colours as the .qml says: 16 px per pixel for the class map, 3 for the ratio, 0.8 for the composite.
    look = png_rgba(str(looks / "classes.png"))
    assert list(look[200, 16 * 15]) == rgb("#be0032") + [255]  # granite
    assert list(look[200, 16 * 25]) == rgb("#0067a5") + [255]  # shale
    assert look[10, 10, 3] == 0  # nodata is transparent
    palette = np.array([rgb(c) for _, _, c in CLASSES])
    big = np.kron(classes, np.ones((16, 16), np.uint8))
    assert np.array_equal(look[big != 255, :3], palette[big[big != 255]])  # every pixel in its place
    look = png_rgba(str(looks / "ratio.png"))
    assert list(look[150, 10, :3]) == rgb("#2b83ba")  # below the ramp's minimum: its first colour
    assert list(look[150, 590, :3]) == rgb("#d7191c")  # above the maximum: its last colour
    assert look[0, 0, 3] == 0
    assert np.any(np.all(look[..., :3] < 40, axis=-1))  # the zone outline, reprojected from WGS 84, is drawn
    look = png_rgba(str(looks / "composite.png"))
    assert look[200, 100, 0] == 0 and look[200, 700, 0] == 255  # red stretched 0.25 - 0.75
    assert abs(int(look[200, 400, 0]) - 128) <= 2 and abs(int(look[200, 400, 1]) - 127) <= 2

    with open(index, encoding="utf-8") as f:
        page = f.read()
    for title in [s["title"] for s in sections] + ["Demo &lt;test&gt;", "granite", "#be0032", "1.5 s"]:
        assert title in page
    links = [urllib.parse.unquote(h) for h in re.findall(r'(?:href|src)="([^"#]+)"', page)]
    assert links and all(os.path.isfile(tmp_path / h) for h in links), links
    for name in ("classes.tif", "quicklooks/classes.png", "report.json", "report_confusion.png", "zones.gpkg",
                 "stray.csv"):
        assert name in links, name
    report = page.split("<section")[4]  # files written beside a report belong to its step, not to 'Other files'
    assert "Training report" in report and 'src="report_confusion.png"' in report and "report.json" in report
    assert "stray.csv" in page.split("<section")[-1]
    assert re.search(r'class="problem">Missing: gone\.tif', page) and "it failed" in page
    assert "No quicklook of grey.tif" in page and "2 bands: B1, B2" in page and "1 feature<" in page


def test_png_is_pixel_exact(tmp_path):
    """Each quicklook pixel lands where it belongs, whatever the width (matplotlib's imshow shifts columns at
    some widths, 494 among them)."""
    rgba = np.random.default_rng(0).integers(0, 256, (474, 494, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    demo_report.save_png(rgba, str(tmp_path / "q.png"))
    assert np.array_equal(png_rgba(str(tmp_path / "q.png")), rgba)
