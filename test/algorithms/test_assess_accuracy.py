"""prospectra:assessaccuracy through processing.run and qgis_process. Real ground: a SAM map of Cuprite (AVIRIS as
TM bands) made from outcrops in the north, checked against sites in the south that take their class from USGS's
Tetracorder map; the figures must equal scikit-learn's on the map's values read at those sites with GDAL."""
import json
import os
import sys

import numpy as np
import pytest
from osgeo import gdal

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "scripts"))
import validate_cuprite as vc  # noqa: E402

from test_band_algorithms import SENSORS  # noqa: E402

CUPRITE = os.path.join(vc.CUPRITE, "cuprite_tm.tif")
TM = {"SENSOR": SENSORS.index("landsat5_tm"), "BAND_ORDER": "B1,B2,B3,B4,B5,B7", "SCALING": 5, "SCALE": 0.0001, "OFFSET": 0.0}


@pytest.fixture(scope="module")
def cuprite(qgis_processing, tmp_path_factory):
    """(folder, SAM map path, the southern sites as (col, row, Tetracorder code))."""
    folder = tmp_path_factory.mktemp("accuracy")
    t = vc.truth()
    north, south = vc.halves(t, "north")
    vc.write_points(str(folder / "outcrops.gpkg"), vc.outcrop_points(t, vc.SAM_POINT_CLASSES, 3, 0, north))
    sites = vc.outcrop_points(t, vc.RF_CLASSES, 25, 5, south)  # montmorillonite too: a class SAM does not map
    vc.write_points(str(folder / "sites.gpkg"), sites)
    qgis_processing.run("prospectra:spectralanglemapper", dict(
        TM, INPUT=[CUPRITE], POINTS=str(folder / "outcrops.gpkg"), LABEL_FIELD="class", OUTPUT=str(folder / "sam.tif")))
    return folder, str(folder / "sam.tif"), sites


def test_figures_equal_scikit_learn_on_the_map_read_at_the_sites(qgis_processing, cuprite, tmp_path):
    from sklearn.metrics import accuracy_score, cohen_kappa_score, precision_recall_fscore_support

    folder, sam, sites = cuprite
    report = str(tmp_path / "accuracy.html")
    result = qgis_processing.run("prospectra:assessaccuracy", {
        "MAP": sam, "REFERENCE": str(folder / "sites.gpkg"), "FIELD": "class", "REPORT": report})
    ds = gdal.Open(sam)
    rat = ds.GetRasterBand(1).GetDefaultRAT()
    values, names = ds.ReadAsArray(), {rat.GetValueAsInt(i, 0): rat.GetValueAsString(i, 1) for i in range(rat.GetRowCount())}
    truth = [vc.CODE_NAMES[code] for _, _, code in sites]
    mapped = [names[values[row, col]] for col, row, _ in sites]
    assert result["OVERALL_ACCURACY"] == pytest.approx(accuracy_score(truth, mapped), abs=1e-12)
    assert result["KAPPA"] == pytest.approx(cohen_kappa_score(truth, mapped), abs=1e-12)
    with open(result["REPORT_JSON"]) as f:
        saved = json.load(f)
    labels = [k["class"] for k in saved["classes"]]
    assert labels == sorted(set(truth))
    precision, recall, f1, support = precision_recall_fscore_support(truth, mapped, labels=labels, zero_division=0)
    for k, p, r, f, n in zip(saved["classes"], precision, recall, f1, support):
        assert (k["precision"], k["recall"], k["f1"], k["pixels"]) == pytest.approx((p, r, f, n), abs=1e-12), k["class"]
    assert saved["unmatched"] == ["montmorillonite"]  # the image endmembers have no montmorillonite class
    assert 0.3 < result["OVERALL_ACCURACY"] < 0.9  # the map is neither random nor the truth


def test_a_class_that_joins_minerals_agrees_with_each(qgis_processing, tmp_path):
    """A map class 'Alunite / Kaolinite' (as SAM names classes the sensor cannot tell apart) is right for a site of
    either mineral, and the minerals it joins are assessed as one class, as are names that differ only in case
    (the group's precision was split between them before). Integer class fields meet the map's values."""
    from sklearn.metrics import cohen_kappa_score

    from prospectra.core.io.blocks import RasterWriter
    from prospectra.core.report.palettes import UNCLASSIFIED_COLOUR

    classes = np.zeros((20, 30), np.uint8)
    classes[:, 10:20], classes[:, 20:] = 1, 2
    path = str(tmp_path / "groups.tif")
    with RasterWriter(path, 30, 20, 1, np.uint8, (0, 1, 0, 0, 0, 1), "", 255, ["classes"]) as w:
        w.set_classes({0: ("unclassified", UNCLASSIFIED_COLOUR), 1: ("Alunite / Kaolinite", "#be0032"),
                       2: ("Calcite", "#8db600")})
        w.write(0, 0, 0, classes)
    points = [(12, 5, "kaolinite"), (14, 6, "Alunite"), (25, 5, "Calcite"), (5, 5, "Calcite"), (22, 8, "Kaolinite"),
              (90, 90, "Gypsum")]  # off the map: not assessed
    layer = str(tmp_path / "sites.gpkg")
    vc.write_points(layer, [(c, r, 0) for c, r, _ in points])
    from osgeo import ogr

    ds = ogr.Open(layer, 1)
    lyr = ds.GetLayer(0)
    lyr.CreateField(ogr.FieldDefn("mineral", ogr.OFTString))
    lyr.CreateField(ogr.FieldDefn("code", ogr.OFTInteger))
    for feature, (c, r, name) in zip(lyr, points):
        feature.SetField("mineral", name)
        feature.SetField("code", 2 if name == "Calcite" else 9 if name == "Gypsum" else int(classes[r, c]))
        lyr.SetFeature(feature)
    ds = None
    by_name = qgis_processing.run("prospectra:assessaccuracy", {
        "MAP": path, "REFERENCE": layer, "FIELD": "mineral", "REPORT": str(tmp_path / "names.html")})
    with open(by_name["REPORT_JSON"]) as f:
        report = json.load(f)
    saved = {k["class"]: k for k in report["classes"]}
    assert report["not_assessed"] == ["Gypsum"] and set(saved) == {"Alunite / Kaolinite / kaolinite", "Calcite"}
    # a single site on 'unclassified': no estimate for that stratum, so none over the whole map
    assert report["area_weighted"] is None and report["unsampled"] == [{"class": "unclassified", "pixels": 200}]
    group = saved["Alunite / Kaolinite / kaolinite"]
    assert report["together"] == ["Alunite / Kaolinite / kaolinite"] and group["map_classes"] == ["Alunite / Kaolinite"]
    assert (group["sites"], group["recall"], group["precision"]) == (3, pytest.approx(2 / 3), 1.0)  # one on calcite
    assert saved["Calcite"]["recall"] == 0.5 and saved["Calcite"]["precision"] == 0.5  # one on 'unclassified'
    assert by_name["OVERALL_ACCURACY"] == pytest.approx(3 / 5)
    group_of = {"Calcite": "C", "Gypsum": None}  # the sites' classes as one group, and what the map says there
    truth = [group_of.get(name, "G") for _, _, name in points[:5]]
    said = [{0: "U", 1: "G", 2: "C"}[int(classes[r, c])] for c, r, _ in points[:5]]
    assert by_name["KAPPA"] == pytest.approx(cohen_kappa_score(truth, said), abs=1e-12)
    by_code = qgis_processing.run("prospectra:assessaccuracy", {
        "MAP": path, "REFERENCE": layer, "FIELD": "code", "REPORT": str(tmp_path / "codes.html")})
    assert by_code["OVERALL_ACCURACY"] == pytest.approx(4 / 5)  # the codes were read off the map but for one


def test_a_stratified_sample_estimates_the_whole_map(qgis_processing, tmp_path):
    """A map whose common class is nearly always right and whose rare class is mostly wrong, and a true class for
    every pixel (simulated: we know the census). Forty sites drawn at random in each map class: the site-based
    accuracy counts the rare class as much as the common one, while the area-weighted estimate (Olofsson et al.
    2014) recovers the census accuracy and each class's true area within 3 of its standard errors."""
    from osgeo import ogr

    from prospectra.core.io.blocks import RasterWriter

    rng = np.random.default_rng(7)
    size = 200
    mapped = np.ones((size, size), np.uint8)
    mapped[:, 150:] = 2  # 25 %
    mapped[:20, :150] = 3  # 7.5 %
    truth = mapped.copy()
    for value, wrong, other in ((1, 0.05, 2), (2, 0.2, 1), (3, 0.6, 1)):
        inside = mapped == value
        truth[inside & (rng.random(mapped.shape) < wrong)] = other
    path = str(tmp_path / "map.tif")
    with RasterWriter(path, size, size, 1, np.uint8, (0, 1, 0, 0, 0, 1), "", 255, ["classes"]) as w:
        w.set_classes({1: ("A", "#1b9e77"), 2: ("B", "#d95f02"), 3: ("C", "#7570b3")})
        w.write(0, 0, 0, mapped)
    layer = str(tmp_path / "sites.gpkg")
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(layer)
    lyr = ds.CreateLayer("sites", None, ogr.wkbPoint)
    lyr.CreateField(ogr.FieldDefn("code", ogr.OFTInteger))
    for value in (1, 2, 3):
        rows, cols = np.nonzero(mapped == value)
        for k in rng.choice(len(rows), 40, replace=False):
            feature = ogr.Feature(lyr.GetLayerDefn())
            feature.SetField("code", int(truth[rows[k], cols[k]]))
            point = ogr.Geometry(ogr.wkbPoint)
            point.AddPoint_2D(cols[k] + 0.5, rows[k] + 0.5)
            feature.SetGeometry(point)
            lyr.CreateFeature(feature)
    ds = None
    result = qgis_processing.run("prospectra:assessaccuracy", {
        "MAP": path, "REFERENCE": layer, "FIELD": "code", "REPORT": str(tmp_path / "r.html")})
    with open(result["REPORT_JSON"]) as f:
        estimate = json.load(f)["area_weighted"]
    census = float(np.mean(mapped == truth))
    assert estimate["map_pixels"] == size * size
    assert abs(estimate["overall_accuracy"] - census) <= 3 * estimate["overall_se"]
    assert abs(result["OVERALL_ACCURACY"] - census) > 3 * estimate["overall_se"]  # the sites alone are biased
    for k in estimate["classes"]:
        true_pixels = int(np.sum(truth == int(k["class"])))
        assert abs(k["area_pixels"] - true_pixels) <= 3 * k["area_share_se"] * size * size, k
        producers = np.sum((truth == int(k["class"])) & (mapped == int(k["class"]))) / true_pixels
        assert abs(k["producers"] - producers) < 0.15, k
    with open(str(tmp_path / "r.html")) as f:
        assert "Over the whole map (area-weighted)" in f.read()


def test_on_real_ground_the_estimate_holds_the_census(qgis_processing, cuprite, tmp_path):
    """Real ground: the southern half of the SAM map (made from northern outcrops), 25 sites drawn at random in
    each of its classes, each taking Tetracorder's class as a field visit would. The area-weighted overall
    accuracy and every class's estimated true area hold the census of all southern pixels against Tetracorder
    within 3 standard errors."""
    folder, sam, _ = cuprite
    t = vc.truth()
    first = vc.split_row(t)
    south = str(tmp_path / "sam_south.tif")
    gdal.Translate(south, sam, srcWin=[0, first, t.shape[1], t.shape[0] - first])
    mapped, truth = vc.read(south), t[first:]
    rng = np.random.default_rng(11)
    points = []
    for value in np.unique(mapped):
        r, c = np.nonzero(mapped == value)
        points += [(int(c[i]), first + int(r[i]), int(truth[r[i], c[i]])) for i in rng.choice(len(r), 25, replace=False)]
    sites = str(tmp_path / "sites.gpkg")
    vc.write_points(sites, points)
    result = qgis_processing.run("prospectra:assessaccuracy", {
        "MAP": south, "REFERENCE": sites, "FIELD": "class", "REPORT": str(tmp_path / "r.html")})
    with open(result["REPORT_JSON"]) as f:
        estimate = json.load(f)["area_weighted"]
    code = {n.casefold(): c for c, n in vc.CODE_NAMES.items()}
    named = vc.class_names(south)
    right = np.zeros(mapped.shape, bool)
    for value, name in named.items():
        right |= (mapped == value) & (truth == code.get(name.casefold(), -1))
    assert abs(estimate["overall_accuracy"] - right.mean()) <= 3 * estimate["overall_se"]
    for k in estimate["classes"]:
        true_pixels = int(np.sum(truth == code[k["class"].casefold()]))
        assert abs(k["area_pixels"] - true_pixels) <= 3 * k["area_share_se"] * mapped.size, (k, true_pixels)


def test_bad_input_is_refused_naming_the_parameter(run_fails, cuprite, tmp_path):
    folder, sam, _ = cuprite
    sites = str(folder / "sites.gpkg")
    run_fails("prospectra:assessaccuracy", {"MAP": sam, "REFERENCE": sites, "FIELD": "class", "REPORT": sam},
              "REPORT:")
    run_fails("prospectra:assessaccuracy", {"MAP": sam, "REFERENCE": sites, "FIELD": "class",
                                            "REPORT": str(tmp_path / "r.txt")}, "REPORT:", ".html")
    run_fails("prospectra:assessaccuracy", {"MAP": sam, "REFERENCE": sites, "FIELD": "nothing",
                                            "REPORT": str(tmp_path / "r.html")}, "FIELD: 'nothing' is not a field")
    far = str(tmp_path / "far.gpkg")
    vc.write_points(far, [(1000 + i, 2000, vc.ALUNITE) for i in range(3)])
    run_fails("prospectra:assessaccuracy", {"MAP": sam, "REFERENCE": far, "FIELD": "class",
                                            "REPORT": str(tmp_path / "r.html")},
              "REFERENCE: none of the 3 sites covers a pixel")
    as_json = str(tmp_path / "sites.json")  # its report's JSON would overwrite it
    gdal.VectorTranslate(as_json, sites, format="GeoJSON")
    run_fails("prospectra:assessaccuracy", {"MAP": sam, "REFERENCE": as_json, "FIELD": "class",
                                            "REPORT": str(tmp_path / "sites.html")}, "REPORT:", "input")
    huge = str(tmp_path / "huge.tif")  # whole numbers, but no class raster holds them
    values = gdal.Open(sam).ReadAsArray().astype(np.float64) * 1e20
    ds = gdal.GetDriverByName("GTiff").Create(huge, values.shape[1], values.shape[0], 1, gdal.GDT_Float64)
    ds.GetRasterBand(1).WriteArray(values)
    ds = None
    run_fails("prospectra:assessaccuracy", {"MAP": huge, "REFERENCE": sites, "FIELD": "class",
                                            "REPORT": str(tmp_path / "r.html")}, "MAP: holds ", "not a class map")
    ratio = str(tmp_path / "ratio.tif")
    gdal.Translate(ratio, CUPRITE, bandList=[5], outputType=gdal.GDT_Float32, scaleParams=[[0, 10000, 0, 1]])
    run_fails("prospectra:assessaccuracy", {"MAP": ratio, "REFERENCE": sites, "FIELD": "class",
                                            "REPORT": str(tmp_path / "r.html")}, "MAP:", "whole class values")
    unnamed = str(tmp_path / "unnamed.tif")  # the classes without their names, as another program may write them
    values = gdal.Open(sam).ReadAsArray()
    ds = gdal.GetDriverByName("GTiff").Create(unnamed, values.shape[1], values.shape[0], 1, gdal.GDT_Byte)
    ds.GetRasterBand(1).WriteArray(values)
    ds = None
    run_fails("prospectra:assessaccuracy", {"MAP": unnamed, "REFERENCE": sites, "FIELD": "class",
                                            "REPORT": str(tmp_path / "r.html")}, "FIELD: holds class names")
    filled = str(tmp_path / "filled.tif")  # a float copy whose top rows hold -9999, undeclared
    values = gdal.Open(sam).ReadAsArray().astype(np.float32)
    values[:32] = -9999
    ds = gdal.GetDriverByName("GTiff").Create(filled, values.shape[1], values.shape[0], 1, gdal.GDT_Float32)
    ds.GetRasterBand(1).WriteArray(values)
    ds = None
    run_fails("prospectra:assessaccuracy", {"MAP": filled, "REFERENCE": sites, "FIELD": "class",
                                            "REPORT": str(tmp_path / "r.html")},
              f"MAP: holds -9999 on {32 * values.shape[1]} pixels", "-a_nodata -9999")
    blank = str(tmp_path / "blank.tif")  # its nodata value is its only value: the message names the map
    ds = gdal.GetDriverByName("GTiff").Create(blank, values.shape[1], values.shape[0], 1, gdal.GDT_Byte)
    ds.GetRasterBand(1).Fill(3)
    ds.GetRasterBand(1).SetNoDataValue(3)
    ds = None
    run_fails("prospectra:assessaccuracy", {"MAP": blank, "REFERENCE": sites, "FIELD": "class",
                                            "REPORT": str(tmp_path / "r.html")},
              "REFERENCE: all ", "fall on nodata in MAP ('blank.tif', nodata 3: check that it is not a class value)")


def test_qgis_process_assesses_and_keeps_the_inputs(qgis_process, cuprite, tmp_path):
    import hashlib

    folder, sam, sites = cuprite
    digest = {p: hashlib.sha256(open(p, "rb").read()).hexdigest() for p in (sam, str(folder / "sites.gpkg"))}
    report = str(tmp_path / "cli.html")
    run = qgis_process("run", "prospectra:assessaccuracy", "--", f"MAP={sam}", f"REFERENCE={folder / 'sites.gpkg'}",
                       "FIELD=class", f"REPORT={report}")
    assert "Overall accuracy" in run.stdout + run.stderr and os.path.exists(report)
    with open(report[:-5] + ".json") as f:
        assert json.load(f)["sites"] == len(sites)
    assert {p: hashlib.sha256(open(p, "rb").read()).hexdigest() for p in digest} == digest


def test_class_names_from_an_attribute_table_without_a_name_column():
    """ArcGIS writes 'Value' and 'Class_Name' columns without marking either's use; the names still come through."""
    from prospectra.core.io.blocks import class_names

    ds = gdal.GetDriverByName("MEM").Create("", 4, 4, 1, gdal.GDT_Byte)
    rat = gdal.RasterAttributeTable()
    rat.CreateColumn("Value", gdal.GFT_Integer, gdal.GFU_Generic)
    rat.CreateColumn("Count", gdal.GFT_Integer, gdal.GFU_Generic)
    rat.CreateColumn("Class_Name", gdal.GFT_String, gdal.GFU_Generic)
    for row, (value, name) in enumerate(((3, "granite"), (7, "shale"))):
        rat.SetValueAsInt(row, 0, value)
        rat.SetValueAsInt(row, 1, 8)
        rat.SetValueAsString(row, 2, name)
    ds.GetRasterBand(1).SetDefaultRAT(rat)
    assert class_names(ds.GetRasterBand(1)) == {3: "granite", 7: "shale"}


def test_area_weighted_estimates_equal_olofssons_worked_example():
    """Olofsson et al. (2014), the worked example (Table 8): four map classes of 30 m pixels (deforestation, forest
    gain, stable forest, stable non-forest) mapped on 200,000, 150,000, 3,200,000 and 6,450,000 pixels, 75, 75,
    165 and 325 sample pixels. The paper gives the deforestation area as 21,158 +/- 6,158 ha (95 %), overall
    accuracy 0.95, user's accuracies 0.88, 0.73, 0.93, 0.96 and producer's 0.75, 0.85, 0.93, 0.96."""
    from prospectra.core.report.map_accuracy import area_weighted

    by_map = np.array([[66, 0, 5, 4], [0, 55, 8, 12], [1, 0, 153, 11], [2, 1, 9, 313]])  # rows: map classes
    mapped = {1: 200_000, 2: 150_000, 3: 3_200_000, 4: 6_450_000}
    estimate, unsampled = area_weighted(by_map.T, [1, 2, 3, 4], np.eye(4, dtype=bool), mapped)
    assert unsampled == {}
    hectares = 0.09  # a 30 m pixel
    deforestation = estimate["classes"][0]
    assert round(deforestation["area_pixels"] * hectares) == 21_158
    assert round(1.96 * deforestation["area_share_se"] * estimate["map_pixels"] * hectares) == 6_158
    assert round(estimate["overall_accuracy"], 2) == 0.95
    assert [round(k["users"], 2) for k in estimate["classes"]] == [0.88, 0.73, 0.93, 0.96]
    assert [round(k["producers"], 2) for k in estimate["classes"]] == [0.75, 0.85, 0.93, 0.96]


def test_counting_the_map_stops_at_cancel(tmp_path):
    """The area-weighted estimate counts every pixel of the map first, block by block: a cancel stops the count
    at the next block, not at the end of the map."""
    from data.rasters import write_raster
    from prospectra.core.errors import Canceled
    from prospectra.core.report.map_accuracy import ClassMap, mapped_pixels

    path = write_raster(tmp_path / "map.tif", np.random.default_rng(0).integers(1, 4, (1, 8192, 4096)).astype(np.uint8),
                        gdal.GDT_Byte, crs=32633)
    class_map = ClassMap(path)

    class CancelAfter:
        def __init__(self, calls):
            self.calls, self.left = 0, calls

        def isCanceled(self):  # noqa: N802
            self.calls += 1
            return self.calls > self.left

        def setProgress(self, progress):  # noqa: N802 (the count reports it per block)
            self.progress = progress

    blocks = len(list(class_map.windows()))
    assert blocks > 3
    counts = mapped_pixels(class_map, CancelAfter(blocks))
    assert sum(counts.values()) == 8192 * 4096
    feedback = CancelAfter(2)
    with pytest.raises(Canceled):
        mapped_pixels(class_map, feedback)
    assert feedback.calls == 3  # two blocks read, the third not


def test_sites_skipped_are_named_in_the_log(qgis_processing, cuprite, tmp_path):
    """Two sites outside the map were listed only in the report's table: the log said nothing of them."""
    from conftest import warnings_feedback

    folder, sam, sites = cuprite
    path = str(tmp_path / "sites.gpkg")
    vc.write_points(path, list(sites) + [(-10, -10, sites[0][2]), (-20, -20, sites[0][2])])
    feedback = warnings_feedback()
    qgis_processing.run("prospectra:assessaccuracy", {"MAP": sam, "REFERENCE": path, "FIELD": "class",
                                                      "REPORT": str(tmp_path / "accuracy.html")}, feedback=feedback)
    assert "Sites skipped: 2 outside the map." in feedback.warnings, feedback.warnings


# ---- against a reference raster ---------------------------------------------------------------------------

TETRACORDER = os.path.join(vc.CUPRITE, "tetracorder_2um.tif")


def reference_raster(path, codes, names=None, nodata=None, **grid):
    """codes as a one-band class raster on the Cuprite grid (or **grid's), named by `names` ({value: name}) as GDAL
    category names: the reference a user would hold."""
    from data.rasters import write_raster

    write_raster(path, codes[None], nodata=nodata, **{"geotransform": (0, 1, 0, 0, 0, 1), **grid})
    if names:
        ds = gdal.Open(str(path), gdal.GA_Update)
        ds.GetRasterBand(1).SetCategoryNames([names.get(v, "") for v in range(max(names) + 1)])
        ds = None
    return str(path)


def test_a_map_scored_against_the_tetracorder_raster_equals_scikit_learn(qgis_processing, cuprite, tmp_path,
                                                                        monkeypatch):
    """The SAM map of Cuprite against USGS Tetracorder's 2 um map as a class raster named by its legend, pixel by
    pixel, nodata in each (a strip of the map, a block of the reference) left out: the figures equal scikit-learn's
    on the same pixels read whole with GDAL, the reference classes SAM has no class for stay in the matrix as
    disagreement and are named, and the rasters are read in windows, never whole."""
    from sklearn.metrics import accuracy_score, cohen_kappa_score, precision_recall_fscore_support

    from conftest import warnings_feedback
    from prospectra.core.io import blocks
    from prospectra.core.report.map_accuracy import ClassMap

    _, sam, _ = cuprite
    mapped = str(tmp_path / "sam_with_nodata.tif")
    gdal.Translate(mapped, sam, creationOptions=["TILED=YES"])  # 256 x 256 blocks, which windows follow
    ds = gdal.Open(mapped, gdal.GA_Update)
    band = ds.GetRasterBand(1)
    map_nodata = int(band.GetNoDataValue())
    band.WriteArray(np.full((40, 355), map_nodata, np.uint8), 0, 300)
    ds = None
    codes = vc.read(TETRACORDER)
    codes[600:700, 100:250] = 255
    reference = reference_raster(tmp_path / "tetracorder.tif", codes, vc.CODE_NAMES, nodata=255)
    monkeypatch.setattr(blocks, "BLOCK_PIXELS", 2 ** 16)  # several windows on this small grid
    windows = []
    read = ClassMap.read
    monkeypatch.setattr(ClassMap, "read", lambda self, window: windows.append(window) or read(self, window))
    feedback = warnings_feedback()
    result = qgis_processing.run("prospectra:assessaccuracy", {
        "MAP": mapped, "REFERENCE_RASTER": reference, "REPORT": str(tmp_path / "r.html")}, feedback=feedback)
    assert len(windows) > 2 and max(w * h for _, _, w, h in windows) <= 2 ** 16

    values, names = vc.read(mapped), vc.class_names(mapped)
    valid = (values != map_nodata) & (codes != 255)
    truth = [vc.CODE_NAMES[c] for c in codes[valid]]
    said = [names[v] for v in values[valid]]
    assert result["OVERALL_ACCURACY"] == pytest.approx(accuracy_score(truth, said), abs=1e-12)
    assert result["KAPPA"] == pytest.approx(cohen_kappa_score(truth, said), abs=1e-12)
    with open(result["REPORT_JSON"]) as f:
        saved = json.load(f)
    labels = [k["class"] for k in saved["classes"]]
    assert labels == sorted(set(truth), key=[vc.CODE_NAMES[c] for c in sorted(vc.CODE_NAMES)].index)
    assert saved["together"] == [] and saved["pixels"] == int(valid.sum())
    precision, recall, f1, support = precision_recall_fscore_support(truth, said, labels=labels, zero_division=0)
    for k, p, r, f, n in zip(saved["classes"], precision, recall, f1, support):
        assert (k["precision"], k["recall"], k["f1"], k["pixels"]) == pytest.approx((p, r, f, n), abs=1e-12), k["class"]
    truth_of, said_of = np.array(truth), np.array(said)
    assert saved["matrix"]["counts"] == [[int(np.sum((truth_of == r) & (said_of == c))) for c in saved["matrix"]["columns"]]
                                         for r in labels]
    missing = sorted(set(truth) - set(names.values()), key=labels.index)
    assert missing and saved["unmatched"] == missing  # montmorillonite, silica ...: SAM mapped no class of them
    assert any(f"No class of the map agrees with {', '.join(missing)}" in w for w in feedback.warnings), feedback.warnings
    assert saved["counts"] == {"pixels": codes.size, "map_nodata": int((values == map_nodata).sum()),
                               "reference_nodata": int((codes == 255).sum()), "compared": int(valid.sum())}
    assert saved["area_weighted"] is None
    with open(str(tmp_path / "r.html")) as f:
        assert "pixel by pixel" in f.read()


def test_a_ratio_threshold_map_against_an_unnamed_reference_is_matched_by_value(qgis_processing, tmp_path):
    """Neither raster carries class names: the reference's values meet the map's (as integer codes in FIELD do).
    TM 5/7 above Otsu's threshold (1, else 0) against Tetracorder's Al-OH minerals (1, else 0): scikit-learn's
    figures on the same pixels."""
    from sklearn.metrics import accuracy_score, cohen_kappa_score, precision_recall_fscore_support

    ratio = str(tmp_path / "ratio.tif")
    qgis_processing.run("prospectra:bandratio", dict(TM, INPUT=[CUPRITE], PRESET=0, NUMERATOR="B5", DENOMINATOR="B7",
                                                     OUTPUT=ratio))
    value = vc.read(ratio)
    seen = value != -9999  # the ratio's nodata
    anomaly = np.where(seen, value >= vc.otsu(value[seen]), 255).astype(np.uint8)
    mapped = reference_raster(tmp_path / "al_oh_map.tif", anomaly, nodata=255)
    truth = np.isin(vc.read(TETRACORDER), vc.AL_OH).astype(np.uint8)
    reference = reference_raster(tmp_path / "al_oh_truth.tif", truth)
    result = qgis_processing.run("prospectra:assessaccuracy", {
        "MAP": mapped, "REFERENCE_RASTER": reference, "REPORT": str(tmp_path / "r.html")})
    truth, anomaly = truth[seen], anomaly[seen]
    assert result["OVERALL_ACCURACY"] == pytest.approx(accuracy_score(truth, anomaly), abs=1e-12)
    assert result["KAPPA"] == pytest.approx(cohen_kappa_score(truth, anomaly), abs=1e-12)
    with open(result["REPORT_JSON"]) as f:
        saved = json.load(f)
    assert [k["class"] for k in saved["classes"]] == ["0", "1"] and saved["pixels"] == int(seen.sum())
    precision, recall, f1, _ = precision_recall_fscore_support(truth, anomaly, labels=[0, 1])
    for k, p, r, f in zip(saved["classes"], precision, recall, f1):
        assert (k["precision"], k["recall"], k["f1"]) == pytest.approx((p, r, f), abs=1e-12), k["class"]


def test_a_reference_raster_is_refused_when_it_cannot_be_scored(qgis_processing, run_fails, cuprite,
                                                                 tmp_path_factory):
    """Off the map's grid (size, origin, CRS), both references or neither, names against an unnamed map, a
    continuous raster or an undeclared fill as the reference, no pixel in common, and a report over an input:
    refused naming the parameter, nothing written, the inputs untouched. An unnamed reference against a named map
    is scored by value, with a warning."""
    import hashlib

    from conftest import warnings_feedback

    folder, sam, _ = cuprite
    inputs = tmp_path_factory.mktemp("references")
    codes = vc.read(TETRACORDER)
    named = reference_raster(inputs / "tetracorder.tif", codes, vc.CODE_NAMES)
    report = str(tmp_path_factory.mktemp("reports") / "r.html")

    def refused(reference, *texts, **more):
        run_fails("prospectra:assessaccuracy", {"MAP": sam, "REFERENCE_RASTER": reference, "REPORT": report, **more},
                  *texts)

    refused(reference_raster(inputs / "cut.tif", codes[:700], vc.CODE_NAMES),
            "REFERENCE_RASTER: is not on the grid of MAP: it is 355 x 700 pixels, MAP 355 x 750", "Warp")
    refused(reference_raster(inputs / "shifted.tif", codes, vc.CODE_NAMES, geotransform=(0.5, 1, 0, 0, 0, 1)),
            "REFERENCE_RASTER: is not on the grid of MAP: its origin or pixel size differs")
    refused(reference_raster(inputs / "utm.tif", codes, vc.CODE_NAMES, crs=32611),
            "REFERENCE_RASTER: is not on the grid of MAP: its coordinate reference system")
    refused(named, "REFERENCE_RASTER: give REFERENCE (sites) or REFERENCE_RASTER", "not both",
            REFERENCE=str(folder / "sites.gpkg"), FIELD="class")
    run_fails("prospectra:assessaccuracy", {"MAP": sam, "REPORT": report}, "REFERENCE: give the reference",
              "REFERENCE_RASTER")
    unnamed_map = str(inputs / "unnamed_map.tif")
    reference_raster(unnamed_map, vc.read(sam))
    run_fails("prospectra:assessaccuracy", {"MAP": unnamed_map, "REFERENCE_RASTER": named, "REPORT": report},
              "REFERENCE_RASTER: holds class names, but the map carries no class names", "without class names")
    refused(reference_raster(inputs / "fit.tif", codes * 0.5), "REFERENCE_RASTER: holds ", "whole class values")
    filled = codes.astype(np.float32)
    filled[:10] = -9999
    refused(reference_raster(inputs / "filled.tif", filled), "REFERENCE_RASTER: holds -9999 on 3550 pixels")
    refused(reference_raster(inputs / "blank.tif", np.full(codes.shape, 7, np.uint8), nodata=7),
            "REFERENCE_RASTER: no pixel holds a class in both")
    feedback = warnings_feedback()  # Tetracorder's file itself holds codes only: scored by value, with a warning
    qgis_processing.run("prospectra:assessaccuracy", {"MAP": sam, "REFERENCE_RASTER": TETRACORDER, "REPORT": report,
                                                      "FIELD": "class"}, feedback=feedback)
    assert any("REFERENCE_RASTER carries no class names" in w for w in feedback.warnings), feedback.warnings
    assert any(w.startswith("FIELD is ignored") for w in feedback.warnings), feedback.warnings
    os.remove(report)
    os.remove(report[:-5] + ".json")
    digest = hashlib.sha256(open(named, "rb").read()).hexdigest()
    run_fails("prospectra:assessaccuracy", {"MAP": sam, "REFERENCE_RASTER": named, "REPORT": named}, "REPORT:")
    as_json = reference_raster(inputs / "truth.json", codes, vc.CODE_NAMES)  # the report's JSON would replace it
    run_fails("prospectra:assessaccuracy", {"MAP": sam, "REFERENCE_RASTER": as_json,
                                            "REPORT": str(inputs / "truth.html")}, "REPORT:", "input")
    assert hashlib.sha256(open(named, "rb").read()).hexdigest() == digest
    assert gdal.Open(as_json).GetDriver().ShortName == "GTiff"


def test_qgis_process_scores_against_a_reference_raster(qgis_process, cuprite, tmp_path):
    """End to end: the reference's class names (GDAL categories in its .aux.xml) reach qgis_process's run."""
    _, sam, _ = cuprite
    reference = reference_raster(tmp_path / "tetracorder.tif", vc.read(TETRACORDER), vc.CODE_NAMES)
    report = str(tmp_path / "cli.html")
    qgis_process("run", "prospectra:assessaccuracy", "--", f"MAP={sam}", f"REFERENCE_RASTER={reference}",
                 f"REPORT={report}")
    with open(report[:-5] + ".json") as f:
        saved = json.load(f)
    assert saved["geometry"] == "raster" and saved["pixels"] == vc.read(TETRACORDER).size
    assert {k["class"] for k in saved["classes"]} == {vc.CODE_NAMES[c] for c in np.unique(vc.read(TETRACORDER))}


# ---- hostile inputs (audit 4) -------------------------------------------------------------------------------

def small_maps(tmp_path, seed=4, shape=(40, 30)):
    """(map codes, reference codes) of three classes on a small grid: the reference drawn at random, the map right
    on about 70 % of it."""
    rng = np.random.default_rng(seed)
    reference = rng.integers(1, 4, shape).astype(np.uint8)
    mapped = np.where(rng.random(shape) < 0.7, reference, rng.integers(1, 4, shape)).astype(np.uint8)
    return mapped, reference


def assert_equals_scikit_learn(result, truth, said):
    """OVERALL_ACCURACY, KAPPA and each class's precision, recall, F1 and pixels as scikit-learn's on the same
    labels (reference names, map names)."""
    from sklearn.metrics import accuracy_score, cohen_kappa_score, precision_recall_fscore_support

    assert result["OVERALL_ACCURACY"] == pytest.approx(accuracy_score(truth, said), abs=1e-12)
    assert result["KAPPA"] == pytest.approx(cohen_kappa_score(truth, said), abs=1e-12)
    with open(result["REPORT_JSON"]) as f:
        saved = json.load(f)
    labels = [k["class"] for k in saved["classes"]]
    assert sorted(labels) == sorted(set(truth))
    precision, recall, f1, support = precision_recall_fscore_support(truth, said, labels=labels, zero_division=0)
    for k, p, r, f, n in zip(saved["classes"], precision, recall, f1, support):
        assert (k["precision"], k["recall"], k["f1"], k["pixels"]) == pytest.approx((p, r, f, n), abs=1e-12), k["class"]
    return saved


def test_a_reference_named_by_an_attribute_table_without_a_value_column(qgis_processing, tmp_path):
    """A raster attribute table may hold only names, row r naming value Row0Min + r (GDAL's linear binning): the
    reference's names were not read, it was scored by value against a map of another legend, and the log said it
    carried no class names."""
    from conftest import warnings_feedback

    mapped, codes = small_maps(tmp_path)
    map_names = {1: "Alunite", 2: "Kaolinite", 3: "Calcite"}
    reference_names = {1: "Calcite", 2: "alunite", 3: "Kaolinite"}  # another legend, another case
    path = reference_raster(tmp_path / "map.tif", mapped, map_names)
    reference = reference_raster(tmp_path / "reference.tif", codes)
    ds = gdal.Open(reference, gdal.GA_Update)
    rat = gdal.RasterAttributeTable()
    rat.CreateColumn("Class_Names", gdal.GFT_String, gdal.GFU_Name)
    for row in range(4):
        rat.SetValueAsString(row, 0, reference_names.get(row, ""))
    rat.SetLinearBinning(0, 1)
    ds.GetRasterBand(1).SetDefaultRAT(rat)
    ds = None
    feedback = warnings_feedback()
    result = qgis_processing.run("prospectra:assessaccuracy", {
        "MAP": path, "REFERENCE_RASTER": reference, "REPORT": str(tmp_path / "r.html")}, feedback=feedback)
    assert not any("carries no class names" in w for w in feedback.warnings), feedback.warnings
    spelt = {n.casefold(): n for n in reference_names.values()}  # a map class as the reference spells it
    saved = assert_equals_scikit_learn(result, [reference_names[v] for v in codes.ravel()],
                                       [spelt[map_names[v].casefold()] for v in mapped.ravel()])
    assert saved["unmatched"] == [] and saved["together"] == []


def test_a_rotated_grid_is_compared_within_its_pixel_size_and_a_sheared_one_refused_naming_it(qgis_processing, run_fails,
                                                                                             tmp_path_factory):
    """A grid rotated by 90 degrees (north-east pixel sides, gt[1] = gt[5] = 0) had no tolerance at all: the same
    grid written by another program, 1e-9 m off, was refused. A reference sheared against the map was refused
    saying its origin or pixel size differ, naming the same origin and pixel size for both."""
    inputs = tmp_path_factory.mktemp("rotated")
    mapped, codes = small_maps(inputs)
    names = {1: "Alunite", 2: "Kaolinite", 3: "Calcite"}
    turned = (500000, 0, 30, 4000000, 30, 0)
    path = reference_raster(inputs / "map.tif", mapped, names, geotransform=turned)
    reference = reference_raster(inputs / "reference.tif", codes, names,
                                 geotransform=(500000 + 1e-9, 0, 30 + 1e-12, 4000000, 30, 0))
    result = qgis_processing.run("prospectra:assessaccuracy", {
        "MAP": path, "REFERENCE_RASTER": reference, "REPORT": str(inputs / "r.html")})
    assert_equals_scikit_learn(result, [names[v] for v in codes.ravel()], [names[v] for v in mapped.ravel()])
    upright = reference_raster(inputs / "upright.tif", mapped, names, geotransform=(500000, 30, 0, 4000000, 0, -30))
    sheared = reference_raster(inputs / "sheared.tif", codes, names, geotransform=(500000, 30, 5, 4000000, 0, -30))
    message = run_fails("prospectra:assessaccuracy", {"MAP": upright, "REFERENCE_RASTER": sheared,
                                                      "REPORT": str(inputs / "s.html")},
                        "REFERENCE_RASTER: is not on the grid of MAP: its geotransform differs, with rotation or shear "
                        "terms (its 500000, 30, 5, 4000000, 0, -30; MAP's 500000, 30, 0, 4000000, 0, -30)")
    assert "origin or pixel size" not in message


def test_a_nodata_value_that_is_a_named_class_is_warned(qgis_processing, tmp_path):
    """A map (or reference) whose nodata value is one of its named classes lost that class's pixels without a word:
    they are left out as nodata, as before, and the log now says which class. A nodata value that names no class
    (255 here, as Prospectra writes) is not warned."""
    from conftest import warnings_feedback

    mapped, codes = small_maps(tmp_path)
    names = {1: "Alunite", 2: "Kaolinite", 3: "Calcite"}
    path = reference_raster(tmp_path / "map.tif", mapped, names, nodata=3)
    reference = reference_raster(tmp_path / "reference.tif", codes, names, nodata=255)
    feedback = warnings_feedback()
    result = qgis_processing.run("prospectra:assessaccuracy", {
        "MAP": path, "REFERENCE_RASTER": reference, "REPORT": str(tmp_path / "r.html")}, feedback=feedback)
    named = [w for w in feedback.warnings if "nodata value" in w]
    assert named == ["MAP's nodata value 3 is its class 'Calcite': its pixels are left out as nodata, not scored. If "
                     "they are a class, give the raster another nodata value (raster properties, or gdal_edit.py "
                     "-a_nodata)."], feedback.warnings
    kept = mapped != 3
    assert_equals_scikit_learn(result, [names[v] for v in codes[kept]], [names[v] for v in mapped[kept]])
    feedback = warnings_feedback()  # the other way round: the reference's
    qgis_processing.run("prospectra:assessaccuracy", {
        "MAP": reference, "REFERENCE_RASTER": path, "REPORT": str(tmp_path / "s.html")}, feedback=feedback)
    assert [w for w in feedback.warnings if "nodata value" in w] == [named[0].replace("MAP", "REFERENCE_RASTER")]


def test_a_continuous_integer_raster_is_refused_as_a_reference_raster(qgis_processing, run_fails, tmp_path_factory):
    """An integer DEM (or band) given as REFERENCE_RASTER or MAP held a class per value: the grouping of classes grew
    with the square of their number (5000 values took 47 s on 300 x 300 pixels), and the matrix, the pairs counted
    while streaming and the report with it; refused naming the parameter, nothing written. 1000 classes are still
    scored."""
    inputs = tmp_path_factory.mktemp("dem")
    dem = (1200 + np.arange(50 * 50) % 1001).reshape(50, 50).astype(np.int16)  # 1001 heights
    mapped = reference_raster(inputs / "map.tif", (dem % 7).astype(np.uint8))
    reference = reference_raster(inputs / "dem.tif", dem)
    run_fails("prospectra:assessaccuracy", {"MAP": mapped, "REFERENCE_RASTER": reference,
                                            "REPORT": str(inputs / "r.html")},
              "REFERENCE_RASTER: holds more than 1000 distinct values", "not a continuous raster such as a DEM")
    run_fails("prospectra:assessaccuracy", {"MAP": reference, "REFERENCE_RASTER": mapped,
                                            "REPORT": str(inputs / "r.html")}, "MAP: holds more than 1000 distinct")
    thousand = np.minimum(dem, 2199)
    assert len(np.unique(thousand)) == 1000
    result = qgis_processing.run("prospectra:assessaccuracy", {
        "MAP": reference_raster(inputs / "thousand.tif", thousand), "REFERENCE_RASTER": mapped,
        "REPORT": str(inputs / "t.html")})
    assert_equals_scikit_learn(result, [str(v) for v in (dem % 7).ravel()], [str(v) for v in thousand.ravel()])


@pytest.mark.parametrize("low, span", [(0, 8), (-5, 300), (-2 ** 31 + 1, 2 ** 32 - 2)])
def test_distinct_class_values_counted_or_sorted_equal_numpy_unique(low, span):
    """Class values are counted (bincount) where they span few values and sorted beyond: both as np.unique."""
    from prospectra.core.report.map_accuracy import _distinct

    values = np.random.default_rng(0).integers(low, low + span, 100_000, dtype=np.int64)
    expected = np.unique(values, return_inverse=True, return_counts=True)
    for got, want in zip(_distinct(values), expected):
        assert np.array_equal(got, want.ravel())
