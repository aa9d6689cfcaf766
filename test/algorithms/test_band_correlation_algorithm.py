"""prospectra:bandcorrelation through processing.run: real GTK till La against a SIMULATED GF-2 raster over the
points (test/data/simulated_till_raster.py), checked against scipy.stats on pixels read by hand."""
import csv
import json
import os

import numpy as np
import pytest
from scipy import stats

from conftest import holm_rejects, warnings_feedback
from data.simulated_till_raster import TILL, make_raster, sampled_by_hand, till_points
from test_kriging_algorithm import grid_points, write_points

FIELD = "La_ppm_511"
GF2 = 6  # SENSOR option: GF-2 PMS


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return make_raster(str(tmp_path_factory.mktemp("sim") / "gf2_simulated.tif"))


def test_correlation_equals_scipy_and_lists_significant_bands(qgis_processing, scene, tmp_path):
    report, table = str(tmp_path / "corr.html"), str(tmp_path / "corr.csv")
    result = qgis_processing.run("prospectra:bandcorrelation", {
        "INPUT": [scene], "SENSOR": GF2, "POINTS": TILL, "FIELD": FIELD, "WINDOW": 3,
        "OUTPUT_REPORT": report, "OUTPUT_TABLE": table})
    x, y, la = till_points(FIELD)
    values, status = sampled_by_hand(scene, x, y, window=3)
    used = [i for i, s in enumerate(status) if s == "ok"]
    refl = np.array([values[i] for i in used])
    with open(table) as f:
        rows = list(csv.DictReader(f))
    assert [r["band"] for r in rows] == ["B1", "B2", "B3", "B4"]
    significant = []
    for k, row in enumerate(rows):
        rho, p_rho = stats.spearmanr(la[used], refl[:, k])
        r, p_r = stats.pearsonr(la[used], refl[:, k])
        assert int(row["n"]) == len(used)
        assert float(row["spearman_rho"]) == pytest.approx(rho, rel=1e-5)
        assert float(row["spearman_p"]) == pytest.approx(p_rho, rel=1e-4)
        assert float(row["pearson_r"]) == pytest.approx(r, rel=1e-5)
        assert float(row["pearson_p"]) == pytest.approx(p_r, rel=1e-4)
        if p_rho < 0.05:
            significant.append(row["band"])
    assert result["SIGNIFICANT_BANDS"] == ",".join(significant) == "B2,B3,B4"
    assert result["SAMPLES"] == len(used)
    with open(result["OUTPUT_JSON"]) as f:
        saved = json.load(f)
    assert saved["samples"]["outside_image"] == status.count("outside") > 0
    assert saved["samples"]["on_nodata"] == status.count("nodata") > 0


@pytest.fixture
def run_fails(qgis_processing, scene, tmp_path):
    from qgis.core import QgsProcessingException

    def run(params, *expected):
        out = tmp_path / "out"
        out.mkdir(exist_ok=True)
        params = {"INPUT": [scene], "SENSOR": GF2, "POINTS": TILL, "FIELD": FIELD,
                  "OUTPUT_REPORT": str(out / "c.html"), "OUTPUT_TABLE": str(out / "c.csv"), **params}
        with pytest.raises(QgsProcessingException) as e:
            qgis_processing.run("prospectra:bandcorrelation", params)
        for text in expected:
            assert text in str(e.value), str(e.value)
        assert os.listdir(out) == [], "output or temporary files were left behind"
        return str(e.value)

    return run


def test_text_field(run_fails):
    run_fails({"FIELD": "Map_sheet_"}, "FIELD: 'Map_sheet_' is a String field, not numbers")


def test_constant_field(run_fails, tmp_path):
    layer = write_points(tmp_path / "constant.gpkg", grid_points(20, lambda i: 7.0))
    run_fails({"POINTS": layer, "FIELD": "value"}, "FIELD: 'value' is 7 at every one of the 20 samples")


def test_fewer_than_ten_samples(run_fails, tmp_path):
    layer = write_points(tmp_path / "few.gpkg", grid_points(9, float))
    run_fails({"POINTS": layer, "FIELD": "value"}, "POINTS: the layer has 9 sample points; at least 10 are needed")


def test_samples_all_outside_the_image(run_fails, tmp_path):
    far = [(100000 + 500 * i, 6700000 + 300 * i, {"value": float(i)}) for i in range(15)]
    layer = write_points(tmp_path / "far.gpkg", far)
    run_fails({"POINTS": layer, "FIELD": "value"},
              "POINTS: none of the 15 samples with a value of 'value' lies on valid pixels of the image",
              "15 fall outside the image")


def test_samples_all_at_one_place_are_refused(run_fails, tmp_path):
    x, y, la = till_points(FIELD)
    layer = write_points(tmp_path / "one_place.gpkg", [(x[0], y[0], {FIELD: float(i)}) for i in range(20)])
    run_fails({"POINTS": layer}, "POINTS: 20 samples of 'La_ppm_511' share their location with another sample")
    one_pixel = write_points(tmp_path / "one_pixel.gpkg", [(x[0] + 0.01 * i, y[0], {FIELD: float(i)}) for i in range(20)])
    run_fails({"POINTS": one_pixel}, "POINTS: the 20 samples on the image lie on only 1 pixel(s)")
    run_fails({"BANDS": "B2, B2"}, "BANDS: B2 is listed more than once")


def test_fill_values_are_not_taken_for_measurements_or_reflectance(qgis_processing, run_fails, scene, tmp_path):
    """-9999 in the field (a missing measurement) would pass for data and flatten every correlation: refused naming
    FIELD. Fill pixels of an image that does not declare its nodata (-9999, below any reflectance) are nodata, as
    where it declares them: the same correlations."""
    from osgeo import gdal

    x, y, la = till_points(FIELD)
    with_fill = write_points(tmp_path / "fill.gpkg", [(x[i], y[i], {FIELD: -9999.0 if i % 7 == 0 else float(la[i])})
                                                      for i in range(len(x))])
    run_fails({"POINTS": with_fill}, f"FIELD: '{FIELD}' holds -9999 at ", "empty those values (NULL)")
    undeclared = str(tmp_path / "undeclared.tif")
    gdal.Translate(undeclared, scene, noData="none")
    assert gdal.Open(scene).GetRasterBand(1).GetNoDataValue() == -9999  # the fill the copy no longer declares
    tables = []
    for name, image in (("declared", scene), ("undeclared", undeclared)):
        tables.append(str(tmp_path / f"{name}.csv"))
        qgis_processing.run("prospectra:bandcorrelation", {"INPUT": [image], "SENSOR": GF2, "POINTS": TILL,
                                                           "FIELD": FIELD, "OUTPUT_TABLE": tables[-1],
                                                           "OUTPUT_REPORT": str(tmp_path / f"{name}.html")})
    with open(tables[0]) as a, open(tables[1]) as b:
        assert a.read() == b.read()


def test_marks_that_do_not_survive_holms_correction_are_warned(qgis_processing, scene, tmp_path):
    """Pure noise as the field (a seeded draw, SIMULATED), chosen so that some band is marked at p < 0.05 on its
    own but not after Holm's correction for the four bands: the log names exactly those bands."""
    x, y, _ = till_points(FIELD)
    values, status = sampled_by_hand(scene, x, y, window=1)
    used = [i for i, s in enumerate(status) if s == "ok"]
    refl = np.array([values[i] for i in used])
    for seed in range(500):
        noise = np.random.default_rng(seed).normal(size=len(x))
        p = np.array([stats.spearmanr(noise[used], refl[:, k])[1] for k in range(4)])
        lost = [f"B{k + 1}" for k in np.flatnonzero((p < 0.05) & ~holm_rejects(p, 0.05))]
        if lost:
            break
    feedback = warnings_feedback()
    layer = write_points(tmp_path / "noise.gpkg", [(xi, yi, {"noise": float(v)}) for xi, yi, v in zip(x, y, noise)])
    result = qgis_processing.run("prospectra:bandcorrelation", {
        "INPUT": [scene], "SENSOR": GF2, "POINTS": layer, "FIELD": "noise",
        "OUTPUT_REPORT": str(tmp_path / "noise.html")}, feedback=feedback)
    assert lost and set(lost) <= set(result["SIGNIFICANT_BANDS"].split(","))
    holm_warnings = [w for w in feedback.warnings if "Holm" in w]
    assert len(holm_warnings) == 1 and holm_warnings[0].startswith(f"{', '.join(lost)}: significant at p < 0.05")


def test_one_band_is_its_own_holm_family(qgis_processing, scene, tmp_path):
    """BANDS of one band: Holm's adjustment leaves its p-value as it is, in the CSV, the JSON and the report, whose
    row read 'adjusted for the 1 bands tested'; no warning."""
    report, table = str(tmp_path / "one.html"), str(tmp_path / "one.csv")
    feedback = warnings_feedback()
    result = qgis_processing.run("prospectra:bandcorrelation", {
        "INPUT": [scene], "SENSOR": GF2, "POINTS": TILL, "FIELD": FIELD, "BANDS": "B3",
        "OUTPUT_REPORT": report, "OUTPUT_TABLE": table}, feedback=feedback)
    with open(table) as f:
        (row,) = list(csv.DictReader(f))
    assert row["band"] == "B3" and row["spearman_p_holm"] == row["spearman_p"]
    with open(result["OUTPUT_JSON"]) as f:
        saved = json.load(f)
    assert saved["bands"][0]["spearman_p_holm"] == saved["bands"][0]["spearman_p"]
    assert saved["significant_bands_holm"] == saved["significant_bands"] == ["B3"] == [result["SIGNIFICANT_BANDS"]]
    with open(report) as f:
        assert "Sig. adjusted for the 1 band tested (Holm)" in f.read()
    assert not [w for w in feedback.warnings if "Holm" in w]


def test_marks_that_do_not_survive_the_autocorrelation_are_warned(qgis_processing, scene, tmp_path):
    """A smooth field over the real till sites (a seeded Gaussian field of 40 km scale, SIMULATED, unrelated to the
    simulated image) chosen so that some band is marked at p < 0.05 on its own: the CSV and JSON carry each band's
    effective sample size and corrected p-value (Dutilleul 1993), and the log names exactly the bands whose mark
    the autocorrelation explains."""
    from prospectra.core.geochem.band_correlation import dutilleul_p, effective_sample_sizes

    x, y, _ = till_points(FIELD)
    values, status = sampled_by_hand(scene, x, y, window=1)
    used = np.array([s == "ok" for s in status])
    refl = np.array([v for v, s in zip(values, status) if s == "ok"])
    d = np.hypot(x[:, None] - x, y[:, None] - y)
    root = np.linalg.cholesky(np.exp(-d / 40000.0) + 1e-9 * np.eye(len(x)))
    for seed in range(200):
        field = root @ np.random.default_rng(seed).normal(size=len(x))
        rho = [stats.spearmanr(field[used], refl[:, k]) for k in range(4)]
        sizes = effective_sample_sizes(x[used], y[used], field[used], refl)
        corrected = [dutilleul_p(r, s) for (r, _), s in zip(rho, sizes)]
        lost = [f"B{k + 1}" for k in range(4) if rho[k][1] < 0.05 <= corrected[k]]
        if lost:
            break
    feedback = warnings_feedback()
    layer = write_points(tmp_path / "smooth.gpkg", [(xi, yi, {"smooth": float(v)}) for xi, yi, v in zip(x, y, field)])
    table = str(tmp_path / "smooth.csv")
    result = qgis_processing.run("prospectra:bandcorrelation", {
        "INPUT": [scene], "SENSOR": GF2, "POINTS": layer, "FIELD": "smooth", "OUTPUT_TABLE": table,
        "OUTPUT_REPORT": str(tmp_path / "smooth.html")}, feedback=feedback)
    with open(table) as f:
        rows = list(csv.DictReader(f))
    assert [float(r["effective_n"]) for r in rows] == pytest.approx(sizes, rel=1e-5)
    assert [float(r["spearman_p_dutilleul"]) for r in rows] == pytest.approx(corrected, rel=1e-5)
    # where the image is smooth too, the pairs count as far fewer samples than there are
    assert all(sizes[int(b[1]) - 1] < used.sum() / 2 for b in lost)
    with open(result["OUTPUT_JSON"]) as f:
        saved = json.load(f)
    assert saved["significant_bands_dutilleul"] == [f"B{k + 1}" for k in range(4) if corrected[k] < 0.05]
    assert lost and set(lost) <= set(result["SIGNIFICANT_BANDS"].split(","))
    warned = [w for w in feedback.warnings if "autocorrelation" in w]
    assert len(warned) == 1 and warned[0].startswith(f"{', '.join(lost)}: significant at p < 0.05")
