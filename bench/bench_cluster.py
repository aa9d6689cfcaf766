#!/usr/bin/env python3
"""Benchmark: SAM (20 endmembers) over a generated 12-band Sentinel-2 raster, in one process and tile by tile on
a Dask LocalCluster of 1 and 2 worker processes (TCP on 127.0.0.1), in interleaved rounds. Reports wall times,
throughput, the scheduler's overhead per tile (1 worker against one process, over the tile count), peak memory
per worker, and checks the mosaic equals the single-process map.

Usage: bench/bench_cluster.py [--size 4096] [--tile 1024] [--rounds 3] [--workdir DIR]"""
import argparse
import os
import resource
import shutil
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from plugin_path import PLUGINS  # noqa: E402  (links the plugin there and puts it on sys.path)
os.environ["PYTHONPATH"] = PLUGINS + os.pathsep + os.environ.get("PYTHONPATH", "")
from bench_band_ratio import bench_scene  # noqa: E402
from bench_sam import MINERALS  # noqa: E402


def single(src, out):
    from prospectra.core.errors import NullFeedback
    from prospectra.core.io.image import open_image
    from prospectra.core.spectral.spectral_angle_mapper import map_minerals
    from prospectra.core.spectral.spectral_library import endmember_library

    image = open_image(src, "sentinel2a_msi", scaling="sentinel2_offset")
    map_minerals(image, endmember_library(MINERALS, all_samples=True), image.surface_bands, out, NullFeedback())


def main():
    from distributed import Client, LocalCluster
    from osgeo import gdal

    from prospectra.core.cluster import read_mosaic, run_tiled
    from prospectra.core.io.image import open_image

    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--tile", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workdir")
    a = ap.parse_args()
    work, src = bench_scene(a.workdir, a.size)
    clusters = {n: LocalCluster(n_workers=n, threads_per_worker=2 if n == 1 else 1, processes=True, protocol="tcp",
                                host="127.0.0.1", dashboard_address=None) for n in (1, 2)}
    times = {"one process": [], "cluster, 1 worker": [], "cluster, 2 workers": []}
    for r in range(a.rounds):
        t = time.perf_counter()
        single(src, os.path.join(work, "single.tif"))
        times["one process"].append(time.perf_counter() - t)
        for n, cluster in clusters.items():
            folder = os.path.join(work, f"tiles_{n}")
            shutil.rmtree(folder, ignore_errors=True)
            t = time.perf_counter()
            mosaic = run_tiled("sam", open_image(src, "sentinel2a_msi", scaling="sentinel2_offset"), folder,
                               scheduler=cluster.scheduler_address, tile=a.tile, minerals=MINERALS).mosaic
            times[f"cluster, {n} worker{'s' if n > 1 else ''}"].append(time.perf_counter() - t)
    same = np.array_equal(read_mosaic(mosaic)[0], gdal.Open(os.path.join(work, "single.tif")).ReadAsArray())
    with Client(clusters[2].scheduler_address) as client:
        peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    for c in clusters.values():
        c.close()
    n_tiles = (-(-a.size // a.tile)) ** 2
    median = {k: float(np.median(v)) for k, v in times.items()}
    mpx = a.size * a.size / 1e6
    print(f"SAM, {len(MINERALS)} minerals (every USGS sample), {a.size} x {a.size} x 10 bands, {n_tiles} tiles of "
          f"{a.tile}; median of {a.rounds} interleaved rounds (min-max)")
    for k, v in times.items():
        print(f"{k:20s}: {median[k]:6.1f} s ({min(v):.1f}-{max(v):.1f}), {mpx / median[k]:.1f} Mpx/s")
    overhead = (median["cluster, 1 worker"] - median["one process"]) / n_tiles
    print(f"scheduler and tiling overhead per tile: {overhead * 1000:.0f} ms; peak memory per worker: "
          f"{', '.join(f'{p:.0f}' for p in peaks.values())} MiB; mosaic equals the single-process map: {same}")
    print(f"SUMMARY cluster: 2 workers {median['one process'] / median['cluster, 2 workers']:.2f}x one process, "
          f"{overhead * 1000:.0f} ms overhead per tile")
    if not a.workdir:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
