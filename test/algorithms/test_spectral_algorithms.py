"""spectralanglemapper and resamplelibrary through processing.run in a real headless QGIS."""
import csv
import json
import os
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from osgeo import gdal

from test_band_algorithms import SENSORS


@pytest.fixture
def scene(tmp_path):
    from data.simulated_minerals import make_scene

    path = tmp_path / "simulated_landsat8.tif"
    truth, _ = make_scene(path, "landsat8_oli")
    return str(path), truth


def test_sam_on_simulated_landsat8_with_styled_classes(qgis_processing, scene, tmp_path):
    from data.simulated_minerals import MINERALS

    path, truth = scene
    out, rule, summary = (str(tmp_path / n) for n in ("minerals.tif", "angles.tif", "summary.csv"))
    qgis_processing.run("prospectra:spectralanglemapper", {
        "INPUT": [path], "SENSOR": SENSORS.index("landsat8_oli"),
        "ENDMEMBERS": "Calcite, Alunite, Kaolinite, Hematite, Epidote, Muscovite, Feldspar",
        "OUTPUT": out, "OUTPUT_RULE": rule, "OUTPUT_SUMMARY": summary})
    ds = gdal.Open(out)
    classes = ds.ReadAsArray()
    # the legend travels with the GeoTIFF: a colour table in it, class names in GDAL's attribute table
    rat = ds.GetRasterBand(1).GetDefaultRAT()
    names = [rat.GetValueAsString(i, 1) for i in range(rat.GetRowCount())]
    assert [rat.GetValueAsInt(i, 0) for i in range(rat.GetRowCount())] == list(range(len(names)))
    assert names[0] == "unclassified" and ds.GetRasterBand(1).GetColorTable() is not None
    for k, mineral in enumerate(MINERALS, start=1):  # each pure patch lands in the class that holds its mineral
        own = next(v for v, n in enumerate(names) if mineral in n.split(" / "))
        assert np.mean(classes[truth == k] == own) >= 0.95, mineral
    ds_rule = gdal.Open(rule)
    assert ds_rule.RasterCount == len(names) - 1
    assert [ds_rule.GetRasterBand(i + 1).GetDescription() for i in range(ds_rule.RasterCount)] == names[1:]
    # every classified pixel is the argmin of the rule image, within its class's own limit
    angles = ds_rule.ReadAsArray()
    limits = {n: float(a) for n, a in (p.split("=") for p in ds.GetMetadataItem("PROSPECTRA_MAX_ANGLES").split(";"))}
    done = classes > 0
    assert np.array_equal(classes[done], angles.argmin(axis=0)[done] + 1)
    assert (angles.min(axis=0)[done] <= np.array([limits[n] for n in names[1:]])[classes[done] - 1] + 1e-6).all()
    with open(summary) as f:
        rows = list(csv.DictReader(f))
    assert [int(r["pixels"]) for r in rows] == [int((classes == k).sum()) for k in range(len(names))]
    assert float(rows[1]["area"]) == pytest.approx(int(rows[1]["pixels"]) * 900.0)
    assert all(r["best_sample"].startswith(r["name"].split(" / ")[0].split()[0][:4]) or r["best_sample"] == ""
               or " / " in r["name"] for r in rows[1:])
    palette = ET.parse(str(tmp_path / "minerals.qml")).getroot().find("pipe/rasterrenderer")
    assert palette.get("type") == "paletted"
    entries = {int(e.get("value")): (e.get("label"), e.get("color").lower()) for e in palette.iter("paletteEntry")}
    assert [entries[v][0] for v in sorted(entries)] == names
    assert len({c for _, c in entries.values()}) == len(entries)
    table = ds.GetRasterBand(1).GetColorTable()
    assert all("#%02x%02x%02x" % table.GetColorEntry(v)[:3] == entries[v][1] for v in entries)
    ramp = ET.parse(os.path.splitext(rule)[0] + ".qml").getroot().find("pipe/rasterrenderer")
    assert ramp.get("type") == "singlebandpseudocolor"
    assert float(ramp.get("classificationMax")) == pytest.approx(2 * max(limits.values()), rel=1e-4)


def test_sam_with_spectra_from_image_points(qgis_processing, scene, tmp_path):
    path, truth = scene
    ds = gdal.Open(path)
    x0, dx, _, y0, _, dy = ds.GetGeoTransform()
    features = [{"type": "Feature", "properties": {"rock": name},
                 "geometry": {"type": "Point", "coordinates": [x0 + (col + 0.5) * dx, y0 + (row + 0.5) * dy]}}
                for name, (col, row) in {"calcite outcrop": (4, 4), "alunite outcrop": (12, 3),
                                         "background": (30, 20)}.items()]
    points = str(tmp_path / "points.geojson")
    with open(points, "w") as f:
        json.dump({"type": "FeatureCollection", "features": features,
                   "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32633"}}}, f)
    out = str(tmp_path / "classes.tif")
    qgis_processing.run("prospectra:spectralanglemapper", {
        "INPUT": [path], "SENSOR": SENSORS.index("landsat8_oli"), "POINTS": points, "LABEL_FIELD": "rock",
        "MAX_ANGLE": 0.05, "OUTPUT": out, "OUTPUT_RULE": None, "OUTPUT_SUMMARY": None})
    classes = gdal.Open(out).ReadAsArray()
    assert np.mean(classes[truth == 1] == 1) >= 0.95  # calcite patch
    assert np.mean(classes[truth == 2] == 2) >= 0.95  # alunite patch
    assert np.mean(classes[16:, :] == 3) >= 0.95  # background rows
    assert not os.path.exists(str(tmp_path / "classes.csv"))


def test_resample_library_csv_plot_and_round_trip_into_sam(qgis_processing, scene, tmp_path):
    csv_path, png = str(tmp_path / "lib.csv"), str(tmp_path / "lib.png")
    qgis_processing.run("prospectra:resamplelibrary", {
        "SENSOR": SENSORS.index("landsat8_oli"), "SPECTRA": "Calcite, Kaolinite CM9", "OUTPUT": csv_path,
        "OUTPUT_PLOT": png})
    with open(csv_path) as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["band", "centre_nm", "Calcite", "Kaolinite CM9"] and len(rows) == 8
    from prospectra.core.sensors import sensor
    from prospectra.core.spectral.spectral_library import usgs_endmembers

    expected = usgs_endmembers(["Calcite"]).resample(sensor("landsat8_oli"), [r[0] for r in rows[1:]])[0]
    assert np.allclose([float(r[2]) for r in rows[1:]], expected, atol=1e-6)
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    path, truth = scene  # the written CSV is a library SAM can use directly
    out = str(tmp_path / "classes.tif")
    qgis_processing.run("prospectra:spectralanglemapper", {
        "INPUT": [path], "SENSOR": SENSORS.index("landsat8_oli"), "LIBRARY": csv_path, "OUTPUT": out,
        "BANDS": "B1,B2,B3,B4,B5,B6,B7"})
    assert np.mean(gdal.Open(out).ReadAsArray()[truth == 1] == 1) >= 0.95


def test_sam_bad_inputs(run_fails, scene, tmp_path):
    path, _ = scene
    base = {"INPUT": [path], "SENSOR": SENSORS.index("landsat8_oli")}
    run_fails("prospectra:spectralanglemapper", dict(base, ENDMEMBERS="Calcite, Kaolinit"),
              "ENDMEMBERS: 'Kaolinit' is not in the bundled USGS splib07 library", "Close matches: Kaolinite")
    run_fails("prospectra:spectralanglemapper", dict(base, ENDMEMBERS="Chalcocite"),
              "Chalcocite is not in USGS splib07")
    run_fails("prospectra:spectralanglemapper", dict(base, MAX_ANGLE=3.0), "MAX_ANGLE", "at most pi/2")
    run_fails("prospectra:spectralanglemapper", dict(base, BANDS="B2,B13"), "BANDS: 'B13' is not a band")
    vnir = tmp_path / "vnir.csv"
    vnir.write_text("wavelength,leaf\n" + "".join(f"{w},{0.05 + w / 4000}\n" for w in range(400, 1001, 10)))
    run_fails("prospectra:spectralanglemapper", dict(base, LIBRARY=str(vnir)),
              "'leaf' does not cover band(s) B6, B7 of Landsat-8 OLI")
    s2_lib = tmp_path / "s2.csv"
    s2_lib.write_text("band,rock\nB2,0.1\nB3,0.2\nB4,0.3\n")
    run_fails("prospectra:spectralanglemapper", dict(base, LIBRARY=str(s2_lib)),
              "'rock' from 's2.csv' has bands B2, B3, B4 but the image needs B1, B2, B3, B4, B5, B6, B7")


CUPRITE_TM = {"SENSOR": SENSORS.index("landsat5_tm"), "BAND_ORDER": "B1,B2,B3,B4,B5,B7",
              "SCALING": 5, "SCALE": 0.0001, "OFFSET": 0.0}  # 5: custom; int16 reflectance x 10000


@pytest.fixture
def cuprite(tmp_path):
    """A copy of the real Cuprite scene (QGIS writes statistics beside rasters it opens)."""
    import shutil

    from conftest import DATA

    path = str(tmp_path / "cuprite_tm.tif")
    shutil.copy(os.path.join(DATA, "cuprite", "cuprite_tm.tif"), path)
    return path


def test_sam_on_real_ungeoreferenced_cuprite_joins_what_tm_cannot_separate(qgis_processing, cuprite, tmp_path):
    from qgis.core import QgsProcessingFeedback

    class Log(QgsProcessingFeedback):
        text = []

        def pushInfo(self, info):  # noqa: N802
            self.text.append(info)

    out, summary = str(tmp_path / "minerals.tif"), str(tmp_path / "minerals.csv")
    qgis_processing.run("prospectra:spectralanglemapper", dict(
        CUPRITE_TM, INPUT=[cuprite], ENDMEMBERS="Alunite, Kaolinite, Muscovite, Buddingtonite, Hematite, Goethite, "
                                                "Jarosite",
        OUTPUT=out, OUTPUT_RULE=None, OUTPUT_SUMMARY=summary), feedback=Log())
    log = "\n".join(Log.text)
    assert "no georeference" in log and "areas are in pixels" in log
    assert "Buddingtonite: unseen samples identified 0% - UNRELIABLE" in log
    with open(summary) as f:
        rows = {r["name"]: r for r in csv.DictReader(f)}
    # USGS finds no buddingtonite here: it may not be a class of its own, only part of a group
    assert "Buddingtonite" not in rows and any("Buddingtonite" in n.split(" / ") for n in rows)
    assert float(rows["unclassified"]["area"]) == float(rows["unclassified"]["pixels"])  # pixels, no georeference
    classes = gdal.Open(out).ReadAsArray()
    assert classes.shape == (750, 355) and (classes != 255).all()


def test_sam_refuses_minerals_tm_cannot_tell_apart_at_all(run_fails, cuprite):
    run_fails("prospectra:spectralanglemapper", dict(CUPRITE_TM, INPUT=[cuprite], BANDS="B5,B7",
                                                     ENDMEMBERS="Alunite, Kaolinite, Montmorillonite, Muscovite"),
              "ENDMEMBERS: this sensor cannot tell any of Alunite, Kaolinite, Montmorillonite, Muscovite apart",
              "KEEP_APART")


def test_sam_keep_apart_maps_them_separately_with_a_warning(qgis_processing, cuprite, tmp_path):
    from qgis.core import QgsProcessingFeedback

    class Log(QgsProcessingFeedback):
        errors = []

        def pushWarning(self, error):  # noqa: N802
            self.errors.append(error)

    out = str(tmp_path / "minerals.tif")
    qgis_processing.run("prospectra:spectralanglemapper", dict(
        CUPRITE_TM, INPUT=[cuprite], BANDS="B5,B7", ENDMEMBERS="Alunite, Kaolinite, Montmorillonite, Muscovite",
        KEEP_APART=True, OUTPUT=out, OUTPUT_RULE=None, OUTPUT_SUMMARY=None), feedback=Log())
    assert any("cannot reliably tell Alunite, Kaolinite, Montmorillonite, Muscovite apart" in e for e in Log.errors)
    ds = gdal.Open(out)
    rat = ds.GetRasterBand(1).GetDefaultRAT()
    assert [rat.GetValueAsString(i, 1) for i in range(rat.GetRowCount())] == [
        "unclassified", "Alunite", "Kaolinite", "Montmorillonite", "Muscovite"]
