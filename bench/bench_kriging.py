#!/usr/bin/env python3
"""Benchmark: ordinary Kriging of the 1,112 real GTK till La samples (test/data) onto a 2000 x 2000 grid
(41 m cells over the samples' extent), Prospectra's core against pykrige called directly with the same
settings (spherical variogram fitted on 12 lags, moving neighbourhood of the 16 nearest samples,
OrdinaryKriging.execute('grid', ..., backend='C', n_closest_points=16) on the whole grid, result written as a
float32 GeoTIFF), each in its own process, in the same run.

pykrige's C loop solves one 17 x 17 system per pixel; with a multi-threaded OpenBLAS most of its time goes to
waking BLAS threads. Prospectra limits BLAS to one thread while kriging (threadpoolctl), so pykrige direct is
measured both ways: as a user calls it, and with the same one-thread limit (the like-for-like figure).
pykrige's plain vectorised call without a neighbourhood would need about 35 GB here and is not run.

Both sides run once on a 200 x 200 grid first (unmeasured), so that neither pays for a cold page cache, nor
Prospectra for compiling its kernel (which numba then keeps on disk). Reports wall time, peak resident memory
(/usr/bin/time -v), their ratios, and the largest difference between the outputs. With --variance both sides
also write the Kriging variance raster (the algorithm's default in QGIS).
Usage: bench/bench_kriging.py [--size 2000] [--neighbours 16] [--variance] [--skip-threaded] [--workdir DIR]"""
import argparse
import os
import shutil
import sys
import tempfile

import numpy as np
from osgeo import gdal

from bench_band_ratio import interleaved, medians, spread, timed

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from plugin_path import PLUGINS  # noqa: E402  (links the plugin there and puts it on sys.path)
TILL = os.path.join(ROOT, "test", "data", "IOCG_CLB_Till_Geochem_reg_511p.gpkg")
FIELD = "La_ppm_511"
X0, Y1, EXTENT = 345000.0, 7541000.0, 82000.0  # covers x 346-413 km, y 7459-7540 km

READ_POINTS = (
    "import sys, numpy as np; from osgeo import ogr;"
    "ds = ogr.Open(sys.argv[1]); layer = ds.GetLayer(); wkt = layer.GetSpatialRef().ExportToWkt();"
    "rows = [(f.GetGeometryRef().GetX(), f.GetGeometryRef().GetY(), f[sys.argv[2]]) for f in layer];"
    "x, y, z = (np.array(c, dtype=float) for c in zip(*rows));"
    "size, k, out = int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]; pixel = float(sys.argv[6]);"
    f"x0, y1 = {X0}, {Y1};\n")
OURS = READ_POINTS + (
    "sys.path.insert(0, sys.argv[7])\n"
    "from prospectra.core.geochem.geochem_samples import numeric_samples\n"
    "from prospectra.core.geochem.kriging import Grid, Variogram, kriging\n"
    "from prospectra.core.errors import NullFeedback\n"
    "grid = Grid(size, size, (x0, pixel, 0.0, y1, 0.0, -pixel), wkt)\n"
    "kriging(numeric_samples(x, y, z, sys.argv[2]), grid, out, NullFeedback(), variogram=Variogram('spherical', nlags=12),"
    " neighbours=k, output_variance=out[:-4] + '_variance.tif' if sys.argv[8] == 'variance' else None)\n")
PYKRIGE = READ_POINTS + (
    "from contextlib import nullcontext\n"
    "from osgeo import gdal\n"
    "from pykrige.ok import OrdinaryKriging\n"
    "limit = nullcontext()\n"
    "if sys.argv[7] == 'one-thread':\n"
    "    from threadpoolctl import threadpool_limits\n"
    "    limit = threadpool_limits(1, user_api='blas')\n"
    "gx = x0 + (np.arange(size) + 0.5) * pixel\n"
    "gy = y1 - (np.arange(size) + 0.5) * pixel\n"
    "with limit:\n"
    "    ok = OrdinaryKriging(x, y, z, variogram_model='spherical', nlags=12)\n"
    "    zgrid, sgrid = ok.execute('grid', gx, gy, backend='C', n_closest_points=k)\n"
    "rasters = [(out, zgrid)] + ([(out[:-4] + '_variance.tif', sgrid)] if sys.argv[8] == 'variance' else [])\n"
    "for path, values in rasters:\n"
    "    ds = gdal.GetDriverByName('GTiff').Create(path, size, size, 1, gdal.GDT_Float32,\n"
    "                                             ['TILED=YES', 'COMPRESS=DEFLATE', 'PREDICTOR=3'])\n"
    "    ds.SetGeoTransform((x0, pixel, 0.0, y1, 0.0, -pixel)); ds.SetProjection(wkt)\n"
    "    ds.GetRasterBand(1).WriteArray(values.astype(np.float32)); ds = None\n")


def largest_difference(a, b, size):
    ds_a, ds_b = gdal.Open(a), gdal.Open(b)
    worst = 0.0
    for y in range(0, size, 512):
        h = min(512, size - y)
        pa = ds_a.GetRasterBand(1).ReadAsArray(0, y, size, h).astype(np.float64)
        pb = ds_b.GetRasterBand(1).ReadAsArray(0, y, size, h).astype(np.float64)
        worst = max(worst, float(np.max(np.abs(pa - pb) / np.abs(pb))))
    return worst


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=2000)
    ap.add_argument("--neighbours", type=int, default=16)
    ap.add_argument("--skip-threaded", action="store_true", help="skip pykrige direct with multi-threaded BLAS")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported")
    ap.add_argument("--variance", action="store_true", help="both sides also write the Kriging variance (the "
                    "algorithm's default in QGIS; pykrige computes it either way)")
    ap.add_argument("--workdir")
    args = ap.parse_args()
    work = args.workdir or tempfile.mkdtemp(prefix="prospectra-bench-kriging-")
    os.makedirs(work, exist_ok=True)
    pixel = EXTENT / args.size
    outs = {name: os.path.join(work, f"{name}.tif") for name in ("prospectra", "pykrige_one_thread",
                                                                  "pykrige_threaded")}
    runs = [("prospectra core", OURS, outs["prospectra"], PLUGINS),
            ("pykrige direct, BLAS 1 thread", PYKRIGE, outs["pykrige_one_thread"], "one-thread")]
    if not args.skip_threaded:
        runs.append(("pykrige direct, default BLAS", PYKRIGE, outs["pykrige_threaded"], "default"))
    variance = "variance" if args.variance else "prediction only"

    def command(code, out, extra, size):
        return [sys.executable, "-c", code, TILL, FIELD, str(size), str(args.neighbours), out, str(EXTENT / size),
                extra, variance]

    for label, code, out, extra in runs:  # warm both sides: imports in the page cache, compiled code on disk
        timed(command(code, out, extra, 200))
    rounds = interleaved({label: (lambda c=command(code, out, extra, args.size): timed(c)[:2])
                          for label, code, out, extra in runs}, args.rounds)
    figures = medians(rounds)
    print(f"\n1112 GTK till samples ({FIELD}) -> {args.size} x {args.size} grid of {pixel:g} m, "
          f"spherical variogram, {args.neighbours} nearest samples per pixel, {variance}; {os.cpu_count()} CPUs; "
          f"median of {args.rounds} interleaved rounds (min-max)")
    for label, values in rounds.items():
        print(f"{label:32s}: {spread(values)}, peak memory {figures[label][1]:7.0f} MiB")
    ours_t, ours_m = figures["prospectra core"]
    pairs = [(outs["prospectra"], outs["pykrige_one_thread"])]
    if args.variance:  # the scripts above write the variance beside the prediction, as <name>_variance.tif
        pairs += [tuple(p[:-4] + "_variance.tif" for p in pairs[0])]
    difference = max(largest_difference(ours, theirs, args.size) for ours, theirs in pairs)
    for label, (t, m) in figures.items():
        if label != "prospectra core":
            print(f"ratio prospectra / {label}: time {ours_t / t:.2f}, memory {ours_m / m:.3f}")
    reference = figures["pykrige direct, BLAS 1 thread"][0]
    print(f"SUMMARY kriging ({variance}): {reference / ours_t:.1f}x faster than pykrige's C moving window (BLAS 1 thread), "
          f"largest relative difference {difference:.1e}")
    if not args.workdir:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
