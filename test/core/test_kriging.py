"""Ordinary Kriging against pykrige called directly with the same settings, on the real GTK till points;
leave-one-out against pykrige refitted without each sample; bad inputs."""
import json
import os
import sys

import numpy as np
import pykrige.ok as pykrige_ok  # a plugin dependency: missing, the tests fail rather than skip
import pytest
from osgeo import gdal, ogr
from scipy.spatial import cKDTree

import prospectra.core.io.blocks as blocks
from conftest import RecordingFeedback
from data.simulated_till_raster import TILL, till_points
from prospectra.core.errors import Canceled, InputError, MissingPackage, NullFeedback
from prospectra.core.geochem.geochem_samples import numeric_samples
from prospectra.core.geochem.kriging import (DEFAULT_LAGS, NODATA, PARAMETER_NAMES, Grid, Variogram, fit_variogram,
                                             kriging, leave_one_out, parse_variogram_parameters)

FIELD = "La_ppm_511"


def krige(x, y, z, field, grid, out, feedback, variogram_model="auto", nlags=DEFAULT_LAGS, variogram_parameters=None,
          **options):
    """kriging() on raw coordinates and values, as the algorithm calls it."""
    return kriging(numeric_samples(x, y, z, field), grid, out, feedback,
                   variogram=Variogram(variogram_model, variogram_parameters, nlags), **options)


@pytest.fixture(scope="module")
def till():
    x, y, z = till_points(FIELD)
    ds = ogr.Open(TILL)  # the dataset must outlive its layer
    wkt = ds.GetLayer().GetSpatialRef().ExportToWkt()
    return x, y, z, wkt


def small_grid(wkt, pixel=2500.0, x0=352000.0, y1=7530000.0, width=20, height=24):
    return Grid(width, height, (x0, pixel, 0.0, y1, 0.0, -pixel), wkt)


def centres(grid):
    g = grid.geotransform
    return g[0] + (np.arange(grid.width) + 0.5) * g[1], g[3] + (np.arange(grid.height) + 0.5) * g[5]


def read(path):
    ds = gdal.Open(path)
    band = ds.GetRasterBand(1)
    return band.ReadAsArray().astype(np.float64), band.GetNoDataValue(), ds.GetGeoTransform()


@pytest.mark.parametrize("model", ["spherical", "exponential", "linear", "gaussian", "power"])
def test_grid_equals_pykrige_with_the_same_moving_neighbourhood(till, tmp_path, monkeypatch, model):
    x, y, z, wkt = till
    monkeypatch.setattr(blocks, "TILE", 16)  # small windows: many blocks on a small grid
    grid = small_grid(wkt)
    out, var = str(tmp_path / "k.tif"), str(tmp_path / "v.tif")
    summary = krige(x, y, z, FIELD, grid, out, NullFeedback(), output_variance=var, variogram_model=model,
                      neighbours=16, nlags=12, window_pixels=16 * 16)
    reference = pykrige_ok.OrdinaryKriging(x, y, z, variogram_model=model, nlags=12)
    gx, gy = centres(grid)
    expected, expected_var = reference.execute("grid", gx, gy, backend="loop", n_closest_points=16)
    got, nodata, transform = read(out)
    got_var = read(var)[0]
    assert nodata == NODATA and transform == grid.geotransform
    assert np.allclose(got, expected, rtol=1e-6, atol=0)
    assert np.allclose(got_var, expected_var, rtol=1e-6, atol=0)
    assert summary["variogram"]["model"] == model
    fitted = summary["variogram"]["parameters"]
    assert [fitted[n] for n in PARAMETER_NAMES[model]] == pytest.approx(reference.variogram_model_parameters,
                                                                        rel=1e-9)


def kernel_and_pykrige(ok, k, px, py):
    """(prediction, variance) at the pixel centres px, py from the compiled kernel, and from pykrige's moving
    window with the same k."""
    from prospectra.core.geochem.kriging import SharedNeighbourhoods

    return (SharedNeighbourhoods(ok, k).krige(px, py),
            ok.execute("points", px.ravel(), py.ravel(), backend="loop", n_closest_points=k))


def test_shared_neighbourhoods_on_a_fine_rotated_grid_equal_pykrige(till):
    """Many pixels per neighbour set (the case the sharing is for), on a grid that is not north-up: every pixel
    equals pykrige's own moving-window solve."""
    x, y, z, _ = till
    ok = pykrige_ok.OrdinaryKriging(x, y, z, variogram_model="spherical", nlags=12)
    rows, cols = np.mgrid[0:90, 0:110]
    px = 360000.0 + cols * 150.0 + rows * 40.0  # a sheared, rotated pixel lattice
    py = 7500000.0 - rows * 150.0 + cols * 30.0
    (got, got_var), (expected, expected_var) = kernel_and_pykrige(ok, 16, px, py)
    assert np.allclose(got, expected, rtol=1e-9, atol=0) and np.allclose(got_var, expected_var, rtol=1e-9, atol=0)


def test_pixels_on_samples_and_clustered_samples_equal_pykrige(till):
    """Pixel centres exactly on samples take the sample's value (to rounding) with zero variance (pykrige's rule), and a
    neighbourhood of 15 and one of 40 among clustered samples (many sets in a block) equal pykrige."""
    x, y, z, _ = till
    ok = pykrige_ok.OrdinaryKriging(x, y, z, variogram_model="exponential", nlags=12)
    # Rows and columns through 60 samples, in order (a rectilinear grid: each block lies within its corners)
    px, py = np.meshgrid(np.sort(x[:60]), np.sort(y[:60]))
    on = np.flatnonzero(((px.ravel()[:, None] == x[:60]) & (py.ravel()[:, None] == y[:60])).any(axis=1))
    assert len(on) == 60
    for k in (15, 40):  # an odd k too: the variance adds the inverse's rows two at a time
        (got, got_var), (expected, expected_var) = kernel_and_pykrige(ok, k, px, py)
        assert np.allclose(got, expected, rtol=1e-9, atol=0) and np.allclose(got_var, expected_var, rtol=1e-9,
                                                                             atol=1e-9)
        sample = [int(np.flatnonzero((x[:60] == px.ravel()[i]) & (y[:60] == py.ravel()[i]))[0]) for i in on]
        assert np.allclose(got[on], z[sample], rtol=1e-12, atol=0) and np.all(np.abs(got_var[on]) < 1e-9)


def test_pixels_on_samples_far_from_the_centre_of_large_coordinates():
    """Coordinates in the millions, far from the samples' centre (a national grid over a wide area): pykrige moves
    pixels to the centre and back as it moved the samples, which rounds them; a pixel exactly on a sample must
    still take its value with zero variance, as in pykrige. (Simulated samples: a layout, not a measurement.)"""
    from prospectra.core.geochem.kriging import SharedNeighbourhoods

    rng = np.random.default_rng(3)
    x, y, z = rng.uniform(2e4, 3e6, 400), rng.uniform(2e4, 3e6, 400), rng.normal(50.0, 10.0, 400)
    ok = pykrige_ok.OrdinaryKriging(x, y, z, variogram_model="spherical",
                                    variogram_parameters={"psill": 80.0, "range": 5e5, "nugget": 30.0})
    moved = np.argsort(np.maximum(np.abs(ok.X_ADJUSTED - x), np.abs(ok.Y_ADJUSTED - y)))[::-1][:30]
    assert np.abs(ok.X_ADJUSTED - x)[moved].max() > 0  # the rounding this test is about happens here
    px, py = np.meshgrid(np.sort(x[moved]), np.sort(y[moved]))
    (got, got_var), (expected, expected_var) = kernel_and_pykrige(ok, 16, px, py)
    assert np.allclose(got, expected, rtol=1e-9, atol=0) and np.allclose(got_var, expected_var, rtol=1e-9, atol=1e-9)
    with pytest.raises(ValueError, match="fewer than 401 candidate samples"):  # the kernel checks no index
        SharedNeighbourhoods(ok, 401).krige(px, py)


@pytest.mark.parametrize("model, parameters", [("linear", [3.5, 12.0]), ("power", [0.8, 1.4, 12.0]),
                                               ("gaussian", [80.0, 40000.0, 12.0]), ("spherical", [80.0, 40000.0, 12.0]),
                                               ("exponential", [80.0, 40000.0, 12.0])])
def test_compiled_variogram_equals_pykriges(model, parameters):
    from pykrige import variogram_models

    from prospectra.core.geochem.kriging import VARIOGRAM_MODELS
    from prospectra.core.geochem.kriging_kernel import semivariances

    d = np.linspace(0.0, 120000.0, 10001)
    expected = getattr(variogram_models, f"{model}_variogram_model")(parameters, d)
    got = np.empty_like(d)
    semivariances(VARIOGRAM_MODELS.index(model), np.array(parameters, float), d, got)
    assert np.allclose(got, expected, rtol=1e-13, atol=0)


def test_global_neighbourhood_equals_pykrige(till, tmp_path):
    x, y, z, wkt = till
    grid = small_grid(wkt, width=12, height=10, pixel=5000.0)
    out = str(tmp_path / "k.tif")
    krige(x, y, z, FIELD, grid, out, NullFeedback(), variogram_model="spherical", neighbours=0, nlags=12)
    gx, gy = centres(grid)
    expected, _ = pykrige_ok.OrdinaryKriging(x, y, z, variogram_model="spherical", nlags=12).execute(
        "grid", gx, gy, backend="vectorized")
    assert np.allclose(read(out)[0], expected, rtol=1e-6, atol=0)


@pytest.mark.parametrize("neighbours", [16, None])
def test_leave_one_out_equals_pykrige_refitted_without_the_sample(till, neighbours):
    x, y, z, _ = till
    ok = fit_variogram(numeric_samples(x, y, z, FIELD), "spherical", nlags=12)
    predicted, variance, condition = leave_one_out(ok, neighbours)
    if neighbours is None:  # the condition number of pykrige's own matrix, by numpy
        assert condition == pytest.approx(np.linalg.cond(ok._get_kriging_matrix(len(z)), 1), rel=1e-6)
    else:  # the systems' largest, by numpy, of each sample's 16 nearest others (the same pykrige matrix, cut)
        xy = np.column_stack([ok.X_ADJUSTED, ok.Y_ADJUSTED])
        others = cKDTree(xy).query(xy, k=neighbours + 1)[1][:, 1:]
        full = ok._get_kriging_matrix(len(z))
        assert condition == pytest.approx(max(np.linalg.cond(full[np.ix_(list(i) + [-1], list(i) + [-1])], 1)
                                              for i in others), rel=1e-6)
    fixed = dict(zip(PARAMETER_NAMES["spherical"], ok.variogram_model_parameters))
    for i in np.random.default_rng(1).choice(len(z), 4, replace=False):
        keep = np.arange(len(z)) != i
        without = pykrige_ok.OrdinaryKriging(x[keep], y[keep], z[keep], variogram_model="spherical",
                                             variogram_parameters=fixed)
        if neighbours:
            zi, si = without.execute("points", [x[i]], [y[i]], backend="loop", n_closest_points=neighbours)
        else:
            zi, si = without.execute("points", [x[i]], [y[i]], backend="vectorized")
        assert predicted[i] == pytest.approx(zi[0], rel=1e-6)
        assert variance[i] == pytest.approx(si[0], rel=1e-6)


def test_real_till_lanthanum_cross_validation_beats_the_sample_sd(till, tmp_path):
    """GTK till La (ppm): leave-one-out RMSE of the automatically chosen variogram below the plain SD."""
    x, y, z, wkt = till
    out, report = str(tmp_path / "la.tif"), str(tmp_path / "la.html")
    summary = krige(x, y, z, FIELD, small_grid(wkt, width=6, height=6, pixel=10000.0), out, NullFeedback(),
                      report=report)
    cv = summary["cross_validation"]
    assert cv["sample_sd"] == pytest.approx(np.std(z, ddof=1), rel=1e-12)
    assert cv["rmse"] < 0.85 * cv["sample_sd"]
    assert abs(cv["mean_error"]) < 0.05 * cv["rmse"]
    tried = {m["model"]: m["rmse"] for m in cv["models"]}
    assert set(tried) == {"linear", "power", "gaussian", "spherical", "exponential"}
    assert summary["variogram"]["model"] == min(tried, key=tried.get)
    assert cv["rmse"] == tried[summary["variogram"]["model"]]
    # The per-sample residuals behind the RMSE, recomputed by hand.
    per = cv["per_sample"]
    assert np.sqrt(np.mean((np.asarray(per["predicted"]) - z) ** 2)) == pytest.approx(cv["rmse"], rel=1e-12)
    with open(os.path.splitext(report)[0] + ".json") as f:
        saved = json.load(f)
    assert saved["variogram"]["model"] == summary["variogram"]["model"]
    assert saved["cross_validation"]["rmse"] == pytest.approx(cv["rmse"])
    text = open(report).read()
    assert "Leave-one-out" in text and "data:image/png;base64," in text and "Matheron" in text


def test_points_outside_the_grid_are_used_and_counted(till, tmp_path):
    x, y, z, wkt = till
    grid = small_grid(wkt, x0=380000.0, y1=7500000.0, width=8, height=8, pixel=2500.0)  # a corner of the area
    summary = krige(x, y, z, FIELD, grid, str(tmp_path / "k.tif"), NullFeedback(), variogram_model="spherical")
    inside = (x >= 380000) & (x < 400000) & (y > 7480000) & (y <= 7500000)
    assert summary["samples"]["outside_grid"] == int((~inside).sum()) > 0
    assert summary["samples"]["used"] == len(z)


def test_fixed_variogram_parameters_equal_pykrige_with_them(till, tmp_path):
    x, y, z, wkt = till
    fixed = parse_variogram_parameters("sill=140, range=30000, nugget=55", "exponential")
    assert fixed == {"psill": 85.0, "range": 30000.0, "nugget": 55.0}
    grid = small_grid(wkt, width=8, height=8, pixel=5000.0)
    out = str(tmp_path / "k.tif")
    krige(x, y, z, FIELD, grid, out, NullFeedback(), variogram_model="exponential", variogram_parameters=fixed)
    gx, gy = centres(grid)
    expected, _ = pykrige_ok.OrdinaryKriging(x, y, z, variogram_model="exponential", variogram_parameters=fixed
                                             ).execute("grid", gx, gy, backend="loop", n_closest_points=16)
    assert np.allclose(read(out)[0], expected, rtol=1e-6, atol=0)
    with pytest.raises(InputError, match="VARIOGRAM_PARAMETERS: the exponential model takes sill \\(or psill\\), "
                                         "range, nugget; missing: range"):
        parse_variogram_parameters("sill=140, nugget=55", "exponential")
    with pytest.raises(InputError, match="PIXEL_SIZE: a cell size of 1e\\+06 is larger than the extent"):
        Grid.of_extent(350000, 7470000, 400000, 7520000, 1e6, wkt)  # a single cell 20 times the extent
    with pytest.raises(InputError, match="VARIOGRAM_PARAMETERS: range=1e\\+200: beyond 1e\\+30"):
        parse_variogram_parameters("sill=144, range=1e200, nugget=50", "spherical")  # overflowed in pykrige
    with pytest.raises(InputError, match="VARIOGRAM_PARAMETERS: exponent=0: scale and exponent must be positive"):
        parse_variogram_parameters("scale=1, exponent=0, nugget=0", "power")


def test_cancel_leaves_no_output(till, tmp_path, monkeypatch):
    x, y, z, wkt = till
    monkeypatch.setattr(blocks, "TILE", 16)
    with pytest.raises(Canceled):
        krige(x, y, z, FIELD, small_grid(wkt), str(tmp_path / "k.tif"), RecordingFeedback(cancel_after=3),
                output_variance=str(tmp_path / "v.tif"), variogram_model="spherical", window_pixels=256)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("values, parameter, text", [
    (["a"] * 12, "FIELD", "'Cu' holds text (for example 'a'), not numbers"),
    ([5.0] * 12, "FIELD", "'Cu' is 5 at every one of the 12 samples"),
    ([1.0, 2.0] * 4 + [None] * 4, "FIELD", "'Cu' has a value at only 8 of the 12 sample points (4 are empty)"),
    ([1.0, 2.0] * 4, "INPUT", "the layer has 8 sample points; at least 10 are needed"),
])
def test_bad_fields(till, tmp_path, values, parameter, text):
    _, _, _, wkt = till
    n = len(values)
    with pytest.raises(InputError) as e:
        krige(np.arange(n) * 100.0 + 360000, np.arange(n) * 50.0 + 7500000, values, "Cu", small_grid(wkt),
                str(tmp_path / "k.tif"), NullFeedback())
    assert e.value.parameter == parameter and text in str(e.value)
    assert os.listdir(tmp_path) == []


def test_duplicate_coordinates_are_refused_with_field_and_count(till, tmp_path):
    x, y, z, wkt = till
    x, y, z = np.append(x, x[:3]), np.append(y, y[:3]), np.append(z, z[:3] + 1)
    with pytest.raises(InputError) as e:
        krige(x, y, z, FIELD, small_grid(wkt), str(tmp_path / "k.tif"), NullFeedback())
    assert e.value.parameter == "INPUT"
    assert f"6 samples of '{FIELD}' share their location with another sample (3 pairs" in str(e.value)
    assert os.listdir(tmp_path) == []


def test_geographic_grid_is_refused(till, tmp_path):
    x, y, z, _ = till
    from osgeo import osr

    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    with pytest.raises(InputError, match="CRS: the grid's CRS \\(WGS 84\\) is geographic"):  # before its size
        Grid.of_extent(24, 67, 26, 68, 100, srs.ExportToWkt())
    grid = Grid(20, 10, (24, 0.1, 0.0, 68, 0.0, -0.1), srs.ExportToWkt())  # a REFERENCE raster's grid
    with pytest.raises(InputError, match="REFERENCE: the grid's CRS \\(WGS 84\\) is geographic"):
        krige(x, y, z, FIELD, grid, str(tmp_path / "k.tif"), NullFeedback())


def test_missing_pykrige_says_how_to_install_it(till, tmp_path, monkeypatch):
    x, y, z, wkt = till
    monkeypatch.setitem(sys.modules, "pykrige", None)  # import fails as if not installed
    with pytest.raises(MissingPackage, match="pip install --user --break-system-packages pykrige numpy=="):
        krige(x, y, z, FIELD, small_grid(wkt), str(tmp_path / "k.tif"), NullFeedback())
    assert os.listdir(tmp_path) == []


def test_grid_of_extent_covers_it():
    grid = Grid.of_extent(100.0, 200.0, 1050.0, 700.0, 100.0, "")
    assert (grid.width, grid.height) == (10, 5)
    assert grid.geotransform == (100.0, 100.0, 0.0, 700.0, 0.0, -100.0)
    with pytest.raises(InputError, match="PIXEL_SIZE: a cell size of 0.001 gives a grid of"):
        Grid.of_extent(0, 0, 1000, 1000, 0.001, "")


def test_a_report_that_fails_after_the_rasters_leaves_the_users_files_as_they_were(till, tmp_path):
    """The engine's own transaction, without QGIS: the rasters written before the report failed are taken back and
    the file the user had at OUTPUT is put back byte for byte."""
    x, y, z, wkt = till
    out, var, report = tmp_path / "k.tif", tmp_path / "k_var.tif", tmp_path / "k.html"
    out.write_bytes(b"the user's earlier map")
    (tmp_path / "k.json").mkdir()  # the report's JSON cannot be written: a folder has its name
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(OSError):
        krige(x, y, z, FIELD, small_grid(wkt, width=6, height=6, pixel=10000.0), str(out), NullFeedback(),
                output_variance=str(var), variogram_model="spherical", report=str(report))
    assert out.read_bytes() == b"the user's earlier map"
    assert sorted(os.listdir(tmp_path)) == before


def test_values_too_small_to_model_are_refused_naming_the_field(till, tmp_path):
    x, y, z, wkt = till
    with pytest.raises(InputError) as e:
        krige(x, y, z * 1e-300, FIELD, small_grid(wkt), str(tmp_path / "k.tif"), NullFeedback())
    assert e.value.parameter == "FIELD" and "rescale the field" in str(e.value)
    assert os.listdir(tmp_path) == []


def test_no_kriging_variance_below_zero_is_written(till, tmp_path):
    """At a pixel centre on a sample the variance is 0, which rounding made -1e-12 and less at some samples (a
    variance below 0 means nothing); the written variance is never below 0 and is 0 on the samples, to rounding."""
    x, y, z, wkt = till
    pixel = 250.0
    on = []
    for i in range(40):  # pixel centres on 40 samples: a grid through each in turn, variances kept per sample
        grid = Grid(9, 9, (x[i] - 4.5 * pixel, pixel, 0.0, y[i] + 4.5 * pixel, 0.0, -pixel), wkt)
        var = str(tmp_path / f"v{i}.tif")
        krige(x, y, z, FIELD, grid, str(tmp_path / f"k{i}.tif"), NullFeedback(), output_variance=var,
              variogram_model="exponential", neighbours=16, nlags=12)
        values = read(var)[0]
        assert values.min() >= 0
        on.append(values[4, 4])
    assert np.all(np.array(on) < 1e-9)
