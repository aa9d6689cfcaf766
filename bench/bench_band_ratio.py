#!/usr/bin/env python3
"""Benchmark: Sentinel-2 B11/B12 reflectance ratio on a 12-band 10980 x 10980 uint16 raster (one full
Sentinel-2 tile, generated), Prospectra's core against gdal_calc.py doing the same ratio in the same run.

Reports wall time and peak resident memory of each (from /usr/bin/time -v) and their ratios, and checks that
the two outputs agree. Both write tiled, DEFLATE-compressed float32 GeoTIFFs with two compression threads.

Usage: bench/bench_band_ratio.py [--size 10980] [--workdir DIR] [--keep]"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
from osgeo import gdal

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
STACK = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12"]
CO = ["TILED=YES", "COMPRESS=DEFLATE", "PREDICTOR=3", "NUM_THREADS=2", "BIGTIFF=IF_SAFER"]


def generate(path, size, noise=0.01, varied_bands=False):
    """Simulated L2A DNs (reflectance x 10000 + 1000), smooth fields plus noise, 0 = nodata in a corner.
    varied_bands shifts each band's pattern (phase and period), so bands are less correlated with each other."""
    ds = gdal.GetDriverByName("GTiff").Create(path, size, size, len(STACK), gdal.GDT_UInt16,
                                              ["TILED=YES", "BLOCKXSIZE=512", "BLOCKYSIZE=512", "INTERLEAVE=BAND",
                                               "BIGTIFF=YES"])
    ds.SetGeoTransform((300000, 10, 0, 5000000, 0, -10))
    rng = np.random.default_rng(0)
    x = np.arange(size, dtype=np.float32)
    for i, name in enumerate(STACK):
        band = ds.GetRasterBand(i + 1)
        band.SetDescription(name)
        band.SetNoDataValue(0)
        for y0 in range(0, size, 1024):
            rows = np.arange(y0, min(y0 + 1024, size), dtype=np.float32)[:, None]
            phase, period = (i, 500 - 20 * i) if varied_bands else (0, 500)
            refl = (0.2 + 0.1 * np.sin(x / (300 + 40 * i) + phase) * np.cos(rows / period)
                    + rng.normal(0, noise, (len(rows), size)))
            dn = (np.clip(refl, 0.001, 1) * 10000 + 1000).astype(np.uint16)
            if y0 == 0:
                dn[:100, :100] = 0
            band.WriteArray(dn, 0, y0)
    ds = None


def timed(cmd):
    """Run cmd under /usr/bin/time -v: (wall seconds, peak resident MiB, its output); exit if it fails."""
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode:
        sys.exit(proc.stdout + proc.stderr)
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    return wall, peak_kb / 1024.0, proc.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=10980)
    ap.add_argument("--workdir")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    work = args.workdir or tempfile.mkdtemp(prefix="prospectra-bench-")
    os.makedirs(work, exist_ok=True)
    src = os.path.join(work, f"s2_l2a_{args.size}.tif")
    if not os.path.exists(src):
        print(f"generating {src} ...", flush=True)
        generate(src, args.size)
    ours, theirs = os.path.join(work, "ratio_prospectra.tif"), os.path.join(work, "ratio_gdal_calc.tif")
    for p in (ours, theirs):
        if os.path.exists(p):
            os.remove(p)
    prospectra = [sys.executable, "-c",
                  "import sys; sys.path.insert(0, sys.argv[1]);"
                  "from prospectra.core.image import open_image;"
                  "from prospectra.core.band_ratio import band_ratio;"
                  "from prospectra.core.errors import NullFeedback;"
                  "im = open_image(sys.argv[2], 'sentinel2a_msi', scaling='sentinel2_offset');"
                  "band_ratio(im, ['B11'], ['B12'], sys.argv[3], NullFeedback())",
                  os.path.join(ROOT, "build", "plugins"), src, ours]
    os.makedirs(os.path.join(ROOT, "build", "plugins"), exist_ok=True)
    link = os.path.join(ROOT, "build", "plugins", "prospectra")
    if not os.path.lexists(link):
        os.symlink(ROOT, link)
    # The same reflectance ratio: (DN - 1000) / 10000 per band, nodata where a DN is 0 or the denominator <= 0.
    calc = ["gdal_calc.py", "--quiet", "-A", src, "--A_band=11", "-B", src, "--B_band=12", f"--outfile={theirs}",
            "--type=Float32", "--NoDataValue=-9999", "--hideNoData",
            "--calc=numpy.where((A != 0) & (B > 1000), (A * 0.0001 - 0.1) / (B * 0.0001 - 0.1), -9999)"]
    calc += [f"--co={c}" for c in CO]
    t_ours, m_ours, _ = timed(prospectra)
    t_calc, m_calc, _ = timed(calc)
    ds_a, ds_b = gdal.Open(ours), gdal.Open(theirs)  # datasets must outlive their bands
    a, b = ds_a.GetRasterBand(1), ds_b.GetRasterBand(1)
    worst = 0.0
    for y in range(0, args.size, 2048):
        h = min(2048, args.size - y)
        worst = max(worst, float(np.abs(a.ReadAsArray(0, y, args.size, h) - b.ReadAsArray(0, y, args.size, h)).max()))
    print(f"raster: 12 bands x {args.size} x {args.size} uint16 ({os.path.getsize(src) / 2**30:.2f} GiB)")
    print(f"prospectra core : {t_ours:7.1f} s, peak memory {m_ours:7.0f} MiB")
    print(f"gdal_calc.py    : {t_calc:7.1f} s, peak memory {m_calc:7.0f} MiB")
    print(f"time ratio (prospectra / gdal_calc): {t_ours / t_calc:.2f}; memory ratio: {m_ours / m_calc:.2f}")
    print(f"largest difference between the two outputs: {worst:.2e}")
    if not args.keep and not args.workdir:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
