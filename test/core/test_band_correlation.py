"""Band correlation against scipy.stats on values sampled by hand: real GTK till La at the points, a SIMULATED
GF-2 raster over them (test/data/simulated_till_raster.py; no real imagery of the area exists here)."""
import csv
import json
import math
import os

import numpy as np
import pytest
from osgeo import gdal
from scipy import stats

from conftest import holm_rejects
from data.simulated_till_raster import make_raster, sampled_by_hand, till_points
from prospectra.core.geochem.band_correlation import band_correlation, holm, significance
from prospectra.core.errors import InputError, NullFeedback
from prospectra.core.io.image import open_image

FIELD = "La_ppm_511"


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return make_raster(str(tmp_path_factory.mktemp("sim") / "gf2_simulated.tif"))


@pytest.mark.parametrize("window", [1, 3])
def test_spearman_and_pearson_equal_scipy_on_hand_sampled_values(scene, tmp_path, window):
    x, y, la = till_points(FIELD)
    report, table = str(tmp_path / "c.html"), str(tmp_path / "c.csv")
    result = band_correlation(open_image(scene, "gf2_pms"), x, y, la, FIELD, window=window, feedback=NullFeedback(),
                              report=report, table_path=table)
    values, status = sampled_by_hand(scene, x, y, window)
    used = [i for i, s in enumerate(status) if s == "ok"]
    refl = np.array([values[i] for i in used])
    v = la[used]
    assert result["samples"] == {"points": len(la), "without_value": 0, "outside_image": status.count("outside"),
                                 "on_nodata": status.count("nodata"), "used": len(used)}
    assert status.count("outside") > 0 and status.count("nodata") > 0
    for k, row in enumerate(result["bands"]):
        rho, p_rho = stats.spearmanr(v, refl[:, k])
        r, p_r = stats.pearsonr(v, refl[:, k])
        assert row["band"] == f"B{k + 1}" and row["n"] == len(used)
        assert row["spearman_rho"] == pytest.approx(rho, rel=1e-6)
        assert row["spearman_p"] == pytest.approx(p_rho, rel=1e-4, abs=1e-300)
        assert row["pearson_r"] == pytest.approx(r, rel=1e-6)
        assert row["pearson_p"] == pytest.approx(p_r, rel=1e-4, abs=1e-300)
        assert row["spearman_sig"] == ("**" if p_rho < 0.01 else "*" if p_rho < 0.05 else "")
    # The simulation lowers B2..B4 with La: those must come out significantly negative.
    assert all(row["spearman_rho"] < 0 and row["spearman_sig"] == "**" for row in result["bands"][1:])
    with open(table) as f:
        rows = list(csv.DictReader(f))
    assert [r["band"] for r in rows] == ["B1", "B2", "B3", "B4"]
    assert float(rows[2]["spearman_rho"]) == pytest.approx(result["bands"][2]["spearman_rho"], rel=1e-5)
    with open(os.path.splitext(report)[0] + ".json") as f:
        assert json.load(f)["samples"]["used"] == len(used)
    html = open(report).read()
    assert "Sig. (two-sided)" in html and "**" in html and "Spearman C. (1904)" in html


def test_significance_marks_as_in_table_3():
    # Cheng et al. (2023) Table 3: p 0.054 unmarked, 0.008 and 0.004 '**'.
    assert [significance(p) for p in (0.054, 0.008, 0.004, 0.049, 0.01, float("nan"))] == \
        ["", "**", "**", "*", "*", ""]


def test_band_constant_at_the_samples_has_no_coefficient(tmp_path):
    path = str(tmp_path / "flat.tif")
    ds = gdal.GetDriverByName("GTiff").Create(path, 10, 10, 4, gdal.GDT_Float32)
    ds.SetGeoTransform((0, 1, 0, 10, 0, -1))
    data = np.random.default_rng(0).uniform(0.05, 0.3, (4, 10, 10)).astype(np.float32)
    data[2] = 0.2
    for i in range(4):
        ds.GetRasterBand(i + 1).WriteArray(data[i])
    ds = None
    x, y = np.arange(12) * 0.8 + 0.3, np.arange(12) * 0.7 + 1.1
    result = band_correlation(open_image(path, "gf2_pms"), x, y, np.arange(12.0), "Ce")
    assert math.isnan(result["bands"][2]["spearman_rho"]) and result["bands"][2]["spearman_sig"] == ""
    assert not math.isnan(result["bands"][0]["spearman_rho"])


def test_all_samples_outside_the_image(scene):
    x, y, la = till_points(FIELD)
    with pytest.raises(InputError) as e:
        band_correlation(open_image(scene, "gf2_pms"), x + 1e6, y, la, FIELD)
    assert e.value.parameter == "POINTS"
    assert f"none of the {len(la)} samples with a value of '{FIELD}' lies on valid pixels" in str(e.value)
    assert f"{len(la)} fall outside the image" in str(e.value)


def test_too_few_samples_on_the_image(scene):
    x, y, la = till_points(FIELD)
    x = x.copy()
    x[8:] += 1e6  # only 8 stay on the image (if valid there)
    with pytest.raises(InputError, match="POINTS: only [0-8] of the 1112 samples lie on valid pixels"):
        band_correlation(open_image(scene, "gf2_pms"), x, y, la, FIELD)


def test_copies_of_a_sample_are_refused(scene):
    """Each of 12 points 20 times made n = 240 and turned a band of pure noise 'significant' (p 0.001)."""
    x, y, la = till_points(FIELD)
    with pytest.raises(InputError, match="POINTS: 240 samples of 'La_ppm_511' share their location with another .* "
                                         "A correlation counts each location once"):
        band_correlation(open_image(scene, "gf2_pms"), np.repeat(x[:12], 20), np.repeat(y[:12], 20),
                         np.repeat(la[:12], 20), FIELD)


def test_unknown_band(scene):
    x, y, la = till_points(FIELD)
    with pytest.raises(InputError, match="BANDS"):
        band_correlation(open_image(scene, "gf2_pms"), x, y, la, FIELD, bands=["B7"])


def test_samples_some_metres_apart_in_a_geographic_crs_are_not_duplicates():
    """The Sentinel-2 scene is in degrees: samples one pixel (about 10 m, 9e-5 degrees) apart are distinct
    locations (a tolerance of 1e-3 map units, 1 mm in metres, called them one location, 100 m in degrees)."""
    from conftest import DATA
    from prospectra.core.io.image import open_image

    image = open_image(os.path.join(DATA, "sen2_rstoolbox_12band.tif"), "sentinel2a_msi")
    gt = image.geotransform
    cols, rows = np.meshgrid(np.arange(100, 106), np.arange(100, 106))
    x, y = gt[0] + (cols.ravel() + 0.5) * gt[1], gt[3] + (rows.ravel() + 0.5) * gt[5]
    values = np.random.default_rng(0).uniform(1, 2, len(x))
    result = band_correlation(image, x, y, values, "La")
    assert result["samples"]["used"] == 36


def test_holm_adjusted_p_values_reject_as_holms_procedure():
    rng = np.random.default_rng(3)
    for m in (1, 2, 4, 9):
        for _ in range(50):
            p = rng.uniform(0, 0.2, m) ** rng.uniform(1, 3)
            adjusted = holm(p)
            assert np.all(adjusted >= p) and np.all(adjusted <= 1)
            for alpha in (0.01, 0.05, 0.1):
                assert np.array_equal(adjusted <= alpha, holm_rejects(p, alpha))
    # A band without a test (constant: NaN) stays NaN and is not counted among the tests.
    assert np.allclose(holm([0.02, np.nan, 0.03]), [0.04, np.nan, 0.04], equal_nan=True)


def test_report_and_table_hold_holm_adjusted_p_values(scene, tmp_path):
    x, y, la = till_points(FIELD)
    table = str(tmp_path / "c.csv")
    result = band_correlation(open_image(scene, "gf2_pms"), x, y, la, FIELD, feedback=NullFeedback(),
                              report=str(tmp_path / "c.html"), table_path=table)
    raw = np.array([r["spearman_p"] for r in result["bands"]])
    expected = holm(raw)
    assert [r["spearman_p_holm"] for r in result["bands"]] == pytest.approx(expected, rel=1e-12)
    assert result["significant_bands_holm"] == [r["band"] for r, p in zip(result["bands"], expected) if p < 0.05]
    with open(table) as f:
        rows = list(csv.DictReader(f))
    assert [float(r["spearman_p_holm"]) for r in rows] == pytest.approx(expected, rel=1e-5, abs=1e-300)
    assert "adjusted for the 4 bands tested (Holm)" in open(str(tmp_path / "c.html")).read()


def test_moran_by_distance_equals_the_textbook_sum():
    """Moran's I per distance class, I = (n / W) sum_ij w_ij z_i z_j / sum_i z_i^2 with w_ij = 1 for the pairs of
    the class, on a full distance matrix; the function takes 256 samples at a time (600 here: three passes)."""
    from prospectra.core.geochem.band_correlation import DISTANCE_CLASSES, _moran_by_distance

    rng = np.random.default_rng(2)
    n = 600
    x, y = rng.uniform(0, 5000, n), rng.uniform(0, 3000, n)
    values = np.vstack([np.sin(x / 900) + rng.normal(0, 0.3, n), rng.normal(size=n)])
    moran, counts = _moran_by_distance(x, y, values)
    d = np.hypot(x[:, None] - x, y[:, None] - y)
    width = d.max() / DISTANCE_CLASSES
    cls = np.minimum(np.floor(d / width), DISTANCE_CLASSES - 1)
    np.fill_diagonal(cls, -1)
    for v, z in enumerate(values - values.mean(axis=1, keepdims=True)):
        for k in range(DISTANCE_CLASSES):
            w = cls == k
            assert counts[:, k] == pytest.approx(w.sum(axis=1))
            assert moran[v, k] == pytest.approx(n / w.sum() * (z @ w @ z) / (z @ z), abs=1e-9)
    assert moran[0, 0] > 0.5 and abs(moran[1, 0]) < 0.1  # the smooth field is alike at short range, the noise not


def _fields(rng, n, scale, correlation=0.0):
    """Two Gaussian fields at n random points of the unit square, exponential covariance of this scale, with the
    given correlation between them (SIMULATED)."""
    x, y = rng.uniform(0, 1, n), rng.uniform(0, 1, n)
    d = np.hypot(x[:, None] - x, y[:, None] - y)
    root = np.linalg.cholesky(np.exp(-d / max(scale, 1e-9)) + 1e-9 * np.eye(n))
    a, c = root @ rng.normal(size=n), root @ rng.normal(size=n)
    return x, y, a, correlation * a + math.sqrt(1 - correlation ** 2) * c


@pytest.mark.parametrize("scale", [0.0, 0.1, 0.3])
def test_dutilleuls_test_keeps_its_level_where_neighbours_are_alike(scale):
    """The reference is the level itself: two independent fields, correlated in space each but not with each other,
    should be marked at p < 0.05 one time in 20. With neighbours alike (scale 0.1 and 0.3 of the square) the
    plain test marks them far more often (27 % and 52 % of these 300 draws of n 150); with the effective sample size
    5.3 % and 5.0 % (median effective size 66 and 26). Without autocorrelation (scale 0) the effective size is n
    (median 150, its cap) and both keep the level (5.7 % each)."""
    from prospectra.core.geochem.band_correlation import dutilleul_p, effective_sample_sizes

    rng = np.random.default_rng(7)
    n, draws = 150, 300
    plain, corrected, sizes = [], [], []
    for _ in range(draws):
        x, y, a, b = _fields(rng, n, scale)
        rho, p = stats.spearmanr(a, b)
        (size,) = effective_sample_sizes(x, y, a, b[:, None])
        plain.append(p < 0.05), corrected.append(dutilleul_p(rho, size) < 0.05), sizes.append(size)
    # 300 draws at a true level of 5 %: a share outside 2-9 % has a chance below 1 in 1000
    assert 0.02 <= np.mean(corrected) <= 0.09
    if scale:
        assert np.mean(plain) > 0.2 and np.median(sizes) < n / 2
    else:
        assert 0.02 <= np.mean(plain) <= 0.09 and np.median(sizes) == pytest.approx(n, rel=0.05)


def test_dutilleuls_test_still_finds_a_real_correlation():
    """Fields correlated 0.7 with each other, neighbours alike (scale 0.1): the corrected test still marks them."""
    from prospectra.core.geochem.band_correlation import dutilleul_p, effective_sample_sizes

    rng = np.random.default_rng(8)
    found = []
    for _ in range(100):
        x, y, a, b = _fields(rng, 150, 0.1, correlation=0.7)
        rho, _ = stats.spearmanr(a, b)
        found.append(dutilleul_p(rho, effective_sample_sizes(x, y, a, b[:, None])[0]) < 0.05)
    assert np.mean(found) >= 0.9


def test_effective_sample_size_in_degrees_is_that_in_metres():
    """Sites 40 x 20 km at latitude 60, given in degrees of a geographic CRS: east-west degrees are half as long
    there, and the distance classes must follow the ground, not the degrees."""
    from prospectra.core.geochem.band_correlation import effective_sample_sizes

    rng = np.random.default_rng(3)
    x, y, a, b = _fields(rng, 150, 0.2)
    east, north = x * 40000, y * 20000
    lon, lat = east / (111320 * math.cos(math.radians(60))), 60 + north / 111320
    metres = effective_sample_sizes(east, north, a, b[:, None])[0]
    assert effective_sample_sizes(lon, lat, a, b[:, None], degrees=True)[0] == pytest.approx(metres, rel=0.02)
    assert effective_sample_sizes(lon, lat, a, b[:, None])[0] != pytest.approx(metres, rel=0.02)


def test_cancel_stops_the_autocorrelation():
    from prospectra.core.errors import Canceled
    from prospectra.core.geochem.band_correlation import effective_sample_sizes

    class Cancelled(NullFeedback):
        def isCanceled(self):  # noqa: N802
            return True

    rng = np.random.default_rng(4)
    with pytest.raises(Canceled):
        effective_sample_sizes(rng.uniform(size=600), rng.uniform(size=600), rng.normal(size=600),
                               rng.normal(size=(600, 2)), feedback=Cancelled())


def test_effective_sample_size_equals_the_matrix_formula():
    """The effective size from the summed form equals 1 + 1 / (tr(B Sx B Sy) / (tr(B Sx) tr(B Sy))) with the n x n
    matrices written out (B = I - J / n; S: 1 on the diagonal, the pair's class Moran's I elsewhere, computed here
    by the textbook sum on the ranks), capped at n."""
    from scipy.stats import rankdata

    from prospectra.core.geochem.band_correlation import DISTANCE_CLASSES, effective_sample_sizes

    rng = np.random.default_rng(9)
    n = 60
    x, y, a, b = _fields(rng, n, 0.2)
    d = np.hypot(x[:, None] - x, y[:, None] - y)
    cls = np.minimum(np.floor(d / (d.max() / DISTANCE_CLASSES)), DISTANCE_CLASSES - 1)
    np.fill_diagonal(cls, -1)
    centring = np.eye(n) - 1 / n

    def correlation_matrix(values):
        z = rankdata(values) - rankdata(values).mean()
        s = np.eye(n)
        for k in range(DISTANCE_CLASSES):
            w = cls == k
            if w.any():
                s[w] = n / w.sum() * (z @ w @ z) / (z @ z)
        return s

    sx, sy = correlation_matrix(a), correlation_matrix(b)
    variance = np.trace(centring @ sx @ centring @ sy) / (np.trace(centring @ sx) * np.trace(centring @ sy))
    expected = min(n, 1 + 1 / variance)
    assert expected < n / 2  # autocorrelated: the cap plays no part
    assert effective_sample_sizes(x, y, a, b[:, None])[0] == pytest.approx(expected, rel=1e-9)


def test_an_effective_sample_size_that_cannot_be_estimated_is_nan():
    """With few samples the estimated variance of the coefficient can come out not positive: no effective size, and
    no corrected p-value (never a guess)."""
    from prospectra.core.geochem.band_correlation import dutilleul_p, effective_sample_sizes

    rng = np.random.default_rng(0)
    for _ in range(2000):
        x, y, a, b = rng.uniform(size=10), rng.uniform(size=10), rng.normal(size=10), rng.normal(size=(10, 1))
        (size,) = effective_sample_sizes(x, y, a, b)
        if not np.isfinite(size):
            break
    assert np.isnan(size) and np.isnan(dutilleul_p(stats.spearmanr(a, b[:, 0])[0], size))
