"""Kriging and band correlation end to end through scripts/qgis_process --json, as a user scripts them."""
import csv
import json
import os

import numpy as np
import pykrige.ok as pykrige_ok  # a plugin dependency: missing, the tests fail rather than skip
from osgeo import gdal

from data.simulated_till_raster import TILL, make_raster, till_points

FIELD = "La_ppm_511"


def results_of(proc):
    return json.loads(proc.stdout[proc.stdout.index("{"):])["results"]


def test_kriging_json_run_equals_pykrige(qgis_process, tmp_path):  # noqa: F811
    out, report = str(tmp_path / "la.tif"), str(tmp_path / "la.html")
    proc = qgis_process("--json", "run", "prospectra:kriging", "--", f"INPUT={TILL}", f"FIELD={FIELD}",
                        "EXTENT=352000,402000,7470000,7530000 [EPSG:3067]", "PIXEL_SIZE=5000", "VARIOGRAM_MODEL=5",
                        "N_CLOSEST=12", f"OUTPUT={out}", f"OUTPUT_VARIANCE={tmp_path / 'var.tif'}",
                        f"OUTPUT_REPORT={report}")
    results = results_of(proc)
    assert results["OUTPUT"] == out and results["VARIOGRAM_MODEL"] == "exponential"
    x, y, z = till_points(FIELD)
    ds = gdal.Open(out)
    g = ds.GetGeoTransform()
    gx = g[0] + (np.arange(ds.RasterXSize) + 0.5) * g[1]
    gy = g[3] + (np.arange(ds.RasterYSize) + 0.5) * g[5]
    expected, _ = pykrige_ok.OrdinaryKriging(x, y, z, variogram_model="exponential", nlags=12).execute(
        "grid", gx, gy, backend="loop", n_closest_points=12)
    assert np.allclose(ds.GetRasterBand(1).ReadAsArray(), expected, rtol=1e-6, atol=0)
    assert results["LOO_RMSE"] < results["SAMPLE_SD"]
    assert os.path.exists(str(tmp_path / "la.qml")) and os.path.exists(str(tmp_path / "var.qml"))
    assert os.path.exists(str(tmp_path / "la.json"))


def test_band_correlation_json_run(qgis_process, tmp_path):  # noqa: F811
    scene = make_raster(str(tmp_path / "gf2_simulated.tif"))
    table = str(tmp_path / "corr.csv")
    proc = qgis_process("--json", "run", "prospectra:bandcorrelation", "--", f"INPUT={scene}", "SENSOR=6",
                        f"POINTS={TILL}", f"FIELD={FIELD}", f"OUTPUT_REPORT={tmp_path / 'corr.html'}",
                        f"OUTPUT_TABLE={table}")
    results = results_of(proc)
    assert results["SIGNIFICANT_BANDS"] == "B2,B3,B4"
    with open(table) as f:
        rows = list(csv.DictReader(f))
    assert [r["spearman_sig"] for r in rows] == ["", "**", "**", "**"]
    assert all(int(r["n"]) == results["SAMPLES"] for r in rows)


def test_duplicate_samples_exit_nonzero_naming_the_parameter(qgis_process, tmp_path):  # noqa: F811
    layer = str(tmp_path / "dup.gpkg")
    gdal.VectorTranslate(layer, TILL)
    ds = gdal.OpenEx(layer, gdal.OF_VECTOR | gdal.OF_UPDATE)
    lyr = ds.GetLayer()
    copy = lyr.GetNextFeature().Clone()
    copy.SetFID(-1)
    copy.SetField(FIELD, 99.0)
    lyr.CreateFeature(copy)  # a second sample at the first one's place
    ds = None
    out = str(tmp_path / "k.tif")
    proc = qgis_process("run", "prospectra:kriging", "--", f"INPUT={layer}", f"FIELD={FIELD}",
                        "EXTENT=352000,402000,7470000,7530000 [EPSG:3067]", "PIXEL_SIZE=5000", f"OUTPUT={out}",
                        check=False)
    assert proc.returncode != 0
    assert f"INPUT: 2 samples of '{FIELD}' share their location" in proc.stdout + proc.stderr
    assert not os.path.exists(out)
