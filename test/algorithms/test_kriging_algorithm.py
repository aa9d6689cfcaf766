"""prospectra:kriging through processing.run on the real GTK till points, against pykrige called directly;
bad inputs end in a QgsProcessingException naming the parameter, with nothing left behind."""
import json
import os
import sys

import numpy as np
import pykrige.ok as pykrige_ok  # a plugin dependency: missing, the tests fail rather than skip
import pytest
from osgeo import gdal, ogr, osr

from conftest import cancel_above, warnings_feedback
from data.simulated_till_raster import TILL, till_points

FIELD = "La_ppm_511"
EXTENT = "352000,402000,7470000,7530000 [EPSG:3067]"  # xmin, xmax, ymin, ymax


def centres(path):
    ds = gdal.Open(path)
    g = ds.GetGeoTransform()
    return (g[0] + (np.arange(ds.RasterXSize) + 0.5) * g[1], g[3] + (np.arange(ds.RasterYSize) + 0.5) * g[5])


def read(path):
    ds = gdal.Open(path)
    return ds.GetRasterBand(1).ReadAsArray().astype(np.float64), ds.GetRasterBand(1).GetNoDataValue()


def write_points(path, rows, epsg=3067):
    """A GeoPackage of points (x, y, {field: value}) for bad-input cases."""
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    layer = ds.CreateLayer("samples", srs, ogr.wkbPoint)
    for name in rows[0][2]:
        layer.CreateField(ogr.FieldDefn(name, ogr.OFTReal))
    for x, y, values in rows:
        f = ogr.Feature(layer.GetLayerDefn())
        f.SetGeometry(ogr.CreateGeometryFromWkt(f"POINT ({x} {y})"))
        for k, v in values.items():
            f.SetField(k, v)
        layer.CreateFeature(f)
    ds = None
    return str(path)


def test_extent_grid_equals_pykrige_and_is_styled(qgis_processing, tmp_path):
    out, var, report = (str(tmp_path / n) for n in ("la.tif", "la_var.tif", "la.html"))
    result = qgis_processing.run("prospectra:kriging", {
        "INPUT": TILL, "FIELD": FIELD, "EXTENT": EXTENT, "PIXEL_SIZE": 2500, "VARIOGRAM_MODEL": 4,  # spherical
        "OUTPUT": out, "OUTPUT_VARIANCE": var, "OUTPUT_REPORT": report})
    x, y, z = till_points(FIELD)
    gx, gy = centres(out)
    assert (len(gx), len(gy)) == (20, 24)
    expected, expected_var = pykrige_ok.OrdinaryKriging(x, y, z, variogram_model="spherical", nlags=12).execute(
        "grid", gx, gy, backend="loop", n_closest_points=16)
    got, nodata = read(out)
    assert nodata == -9999
    assert np.allclose(got, expected, rtol=1e-6, atol=0)
    assert np.allclose(read(var)[0], expected_var, rtol=1e-6, atol=0)
    inside = (x >= 352000) & (x < 402000) & (y > 7470000) & (y <= 7530000)
    assert result["SAMPLES"] == len(z) and result["SAMPLES_OUTSIDE"] == int((~inside).sum())
    assert result["VARIOGRAM_MODEL"] == "spherical"
    assert result["SAMPLE_SD"] == pytest.approx(np.std(z, ddof=1))
    assert result["LOO_RMSE"] < result["SAMPLE_SD"]
    assert result["OUTPUT_JSON"] == str(tmp_path / "la.json")
    with open(result["OUTPUT_JSON"]) as f:
        assert json.load(f)["cross_validation"]["rmse"] == pytest.approx(result["LOO_RMSE"])
    for name in ("la.qml", "la_var.qml"):
        assert os.path.exists(str(tmp_path / name))


def test_reference_grid_in_another_crs_and_automatic_model(qgis_processing, tmp_path):
    """Points in ETRS-TM35FIN kriged onto a UTM 35N raster: transformed into the raster's CRS first."""
    utm = osr.SpatialReference()
    utm.ImportFromEPSG(32635)
    reference = str(tmp_path / "reference_utm35.tif")
    ds = gdal.GetDriverByName("GTiff").Create(reference, 12, 14, 1, gdal.GDT_Byte)
    ds.SetGeoTransform((360000.0, 4000.0, 0.0, 7530000.0, 0.0, -4000.0))
    ds.SetProjection(utm.ExportToWkt())
    ds = None
    out = str(tmp_path / "k.tif")
    result = qgis_processing.run("prospectra:kriging", {"INPUT": TILL, "FIELD": FIELD, "REFERENCE": reference,
                                                        "OUTPUT": out, "OUTPUT_VARIANCE": None,
                                                        "OUTPUT_REPORT": None})
    src = osr.SpatialReference()
    src.ImportFromEPSG(3067)
    for s in (src, utm):
        s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    x, y, z = till_points(FIELD)
    xy = np.array(osr.CoordinateTransformation(src, utm).TransformPoints(np.column_stack([x, y])))[:, :2]
    model = result["VARIOGRAM_MODEL"]
    assert model in ("linear", "power", "gaussian", "spherical", "exponential")
    gx, gy = centres(out)
    expected, _ = pykrige_ok.OrdinaryKriging(xy[:, 0], xy[:, 1], z, variogram_model=model, nlags=12).execute(
        "grid", gx, gy, backend="loop", n_closest_points=16)
    assert np.allclose(read(out)[0], expected, rtol=1e-6, atol=0)
    assert gdal.Open(out).GetGeoTransform() == gdal.Open(reference).GetGeoTransform()
    assert "OUTPUT_VARIANCE" not in result and "OUTPUT_REPORT" not in result  # optional outputs skipped
    assert not [f for f in os.listdir(tmp_path) if f.endswith((".html", ".json"))]


def test_help_cites_the_sources(qgis_processing):
    from qgis.core import QgsApplication

    registry = QgsApplication.processingRegistry()
    text = registry.algorithmById("prospectra:kriging").shortHelpString()
    assert all(s in text for s in ("Matheron 1963", "Cressie 1993", "pykrige", "10.3389/feart.2022.1086325"))
    text = registry.algorithmById("prospectra:bandcorrelation").shortHelpString()
    assert all(s in text for s in ("Spearman 1904", "Table 3", "10.3389/feart.2022.1086325"))


@pytest.fixture
def run_fails(qgis_processing, tmp_path):
    from qgis.core import QgsProcessingException

    def run(params, *expected):
        out = tmp_path / "out"
        out.mkdir(exist_ok=True)
        params = {"INPUT": TILL, "FIELD": FIELD, "EXTENT": EXTENT, "PIXEL_SIZE": 5000, "OUTPUT": str(out / "k.tif"),
                  "OUTPUT_VARIANCE": str(out / "v.tif"), "OUTPUT_REPORT": str(out / "r.html"), **params}
        with pytest.raises(QgsProcessingException) as e:
            qgis_processing.run("prospectra:kriging", params)
        for text in expected:
            assert text in str(e.value), str(e.value)
        assert os.listdir(out) == [], "output or temporary files were left behind"
        return str(e.value)

    return run


def grid_points(n, value):
    return [(360000 + 1500 * (i % 7), 7480000 + 1700 * (i // 7), {"value": value(i)}) for i in range(n)]


def test_text_field(run_fails):
    run_fails({"FIELD": "Map_sheet_"}, "FIELD: 'Map_sheet_' is a String field, not numbers", "Al_ppm_511")


def test_missing_field_lists_the_layers_fields(run_fails):
    run_fails({"FIELD": "Al_ppm"}, "FIELD: 'Al_ppm' is not a field of INPUT (its fields: ", "Al_ppm_511")


def test_constant_field(run_fails, tmp_path):
    layer = write_points(tmp_path / "constant.gpkg", grid_points(20, lambda i: 3.5))
    run_fails({"INPUT": layer, "FIELD": "value"}, "FIELD: 'value' is 3.5 at every one of the 20 samples")


def test_fewer_than_ten_samples(run_fails, tmp_path):
    layer = write_points(tmp_path / "few.gpkg", grid_points(8, float))
    run_fails({"INPUT": layer, "FIELD": "value"}, "INPUT: the layer has 8 sample points; at least 10 are needed")


def test_duplicate_coordinates(run_fails, tmp_path):
    rows = grid_points(20, float)
    rows += [(rows[3][0], rows[3][1], {"value": 99.0}), (rows[5][0], rows[5][1], {"value": 98.0})]
    layer = write_points(tmp_path / "dup.gpkg", rows)
    run_fails({"INPUT": layer, "FIELD": "value"}, "INPUT: 4 samples of 'value' share their location", "2 pairs",
              "average the duplicates")


def test_no_grid_given(run_fails):
    run_fails({"EXTENT": None, "PIXEL_SIZE": None}, "REFERENCE: choose a reference raster")


@pytest.mark.parametrize("name", ["notes.txt", "corrupt.tif"])
def test_a_reference_that_is_no_raster_is_not_reported_missing(run_fails, tmp_path, name):
    """QGIS, unable to load the file as a layer, said 'REFERENCE: ... not found' of a file that is there."""
    reference = tmp_path / name
    if name == "corrupt.tif":  # a real GeoTIFF cut short: its header points past the end of the file
        gdal.GetDriverByName("GTiff").Create(str(reference), 64, 64, 1, gdal.GDT_Float32).FlushCache()
        reference.write_bytes(reference.read_bytes()[:16])
    else:
        reference.write_text("sample, La_ppm\n1, 12.5\n")
    message = run_fails({"EXTENT": None, "PIXEL_SIZE": None, "REFERENCE": str(reference)},
                        f"REFERENCE: '{name}' exists but could not be read as a raster")
    assert "not found" not in message


def test_extent_without_cell_size(run_fails):
    run_fails({"PIXEL_SIZE": None}, "PIXEL_SIZE: give a cell size above 0")


def test_geographic_crs(run_fails):
    run_fails({"EXTENT": "24,26,67,68 [EPSG:4326]", "PIXEL_SIZE": 0.1, "CRS": "EPSG:4326"},
              "CRS: the grid's CRS (WGS 84) is geographic")


def test_an_extent_in_degrees_with_a_cell_size_in_metres_names_the_crs(run_fails, qgis_processing, tmp_path):
    """A 100 m cell on an extent 2 x 1 degrees wide was blamed on PIXEL_SIZE ('larger than the extent'); the fix is a
    projected CRS, into which the extent is reprojected, as the message says."""
    message = run_fails({"EXTENT": "24,26,67,68 [EPSG:4326]", "PIXEL_SIZE": 100},
                        "CRS: the grid's CRS (WGS 84) is geographic (degrees)", "2 x 1 degrees",
                        "Set CRS to a projected CRS")
    assert not message.startswith("PIXEL_SIZE") and "larger than the extent" not in message
    out = str(tmp_path / "k.tif")
    qgis_processing.run("prospectra:kriging", {"INPUT": TILL, "FIELD": FIELD, "EXTENT": "24,26,67,68 [EPSG:4326]",
                                               "PIXEL_SIZE": 5000, "CRS": "EPSG:3067", "OUTPUT": out,
                                               "OUTPUT_VARIANCE": None, "OUTPUT_REPORT": None})
    assert gdal.Open(out).GetGeoTransform()[1] == 5000


def test_bad_variogram_parameters(run_fails):
    run_fails({"VARIOGRAM_MODEL": 4, "VARIOGRAM_PARAMETERS": "sill=10, rnage=5"},
              "VARIOGRAM_PARAMETERS: the spherical model takes sill (or psill), range, nugget; not known: rnage")


# A Gaussian variogram without nugget, its range 13 and 64 times the till samples' median spacing (1.6 km), the
# sill their variance: a classic mistake with fixed parameters.
GAUSSIAN_NO_NUGGET = "sill=140, range={}, nugget=0"


def pykrige_with(parameters, path):
    """pykrige's own moving window (16 neighbours) with the given Gaussian variogram on the grid of path."""
    from prospectra.core.geochem.kriging import parse_variogram_parameters

    x, y, z = till_points(FIELD)
    gx, gy = centres(path)
    fixed = parse_variogram_parameters(parameters, "gaussian")
    return pykrige_ok.OrdinaryKriging(x, y, z, variogram_model="gaussian", variogram_parameters=fixed).execute(
        "grid", gx, gy, backend="loop", n_closest_points=16)[0], z


def test_ill_conditioned_fixed_variogram_is_refused(run_fails, qgis_processing, tmp_path):
    """pykrige itself, given this variogram, maps La (3.6-218 ppm, never negative) down to under -5 times the largest
    sample: its systems are too near singular for double precision (condition number up to 3e14). Refused, naming
    the parameter, with nothing written."""
    parameters = GAUSSIAN_NO_NUGGET.format(100000)
    grid = str(tmp_path / "grid.tif")
    qgis_processing.run("prospectra:kriging", {"INPUT": TILL, "FIELD": FIELD, "EXTENT": EXTENT, "PIXEL_SIZE": 5000,
                                               "VARIOGRAM_MODEL": 4, "OUTPUT": grid, "OUTPUT_VARIANCE": None,
                                               "OUTPUT_REPORT": None})
    expected, z = pykrige_with(parameters, grid)
    assert expected.min() < -5 * z.max()
    run_fails({"VARIOGRAM_MODEL": 3, "VARIOGRAM_PARAMETERS": parameters},
              "VARIOGRAM_PARAMETERS: the fixed gaussian variogram", "ill-conditioned", "a nugget")


def test_a_variogram_worse_than_the_mean_is_mapped_with_a_warning(qgis_processing, tmp_path):
    """A shorter range keeps the systems well enough conditioned (the map equals pykrige's), but the model still
    predicts the samples worse than their mean: the log says so."""
    parameters, out, feedback = GAUSSIAN_NO_NUGGET.format(20000), str(tmp_path / "k.tif"), warnings_feedback()
    result = qgis_processing.run("prospectra:kriging", {
        "INPUT": TILL, "FIELD": FIELD, "EXTENT": EXTENT, "PIXEL_SIZE": 5000, "VARIOGRAM_MODEL": 3,
        "VARIOGRAM_PARAMETERS": parameters, "OUTPUT": out, "OUTPUT_VARIANCE": None, "OUTPUT_REPORT": None},
        feedback=feedback)
    expected, _ = pykrige_with(parameters, out)
    assert np.allclose(read(out)[0], expected, rtol=1e-6, atol=0)
    assert result["LOO_RMSE"] > result["SAMPLE_SD"]
    assert [w for w in feedback.warnings if "times the samples' SD" in w]


def test_missing_pykrige(run_fails, monkeypatch):
    monkeypatch.setitem(sys.modules, "pykrige.ok", None)
    run_fails({}, "needs the Python package pykrige", "pip install --user --break-system-packages pykrige numpy==")


def test_cancel_midway_leaves_no_output(qgis_processing, tmp_path, monkeypatch):
    from qgis.core import QgsProcessingException

    import prospectra.core.io.blocks as blocks
    import prospectra.core.geochem.kriging as core_kriging

    monkeypatch.setattr(blocks, "TILE", 16)
    monkeypatch.setattr(core_kriging, "WINDOW_PIXELS", 256)

    with pytest.raises(QgsProcessingException, match="Canceled"):
        qgis_processing.run("prospectra:kriging", {
            "INPUT": TILL, "FIELD": FIELD, "EXTENT": EXTENT, "PIXEL_SIZE": 2500, "VARIOGRAM_MODEL": 4,
            "OUTPUT": str(tmp_path / "k.tif"), "OUTPUT_VARIANCE": str(tmp_path / "v.tif"),
            "OUTPUT_REPORT": str(tmp_path / "r.html")}, feedback=cancel_above(20))  # once mapping has begun
    assert os.listdir(tmp_path) == []
