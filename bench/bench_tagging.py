#!/usr/bin/env python3
"""Benchmark: tagging a generated 7-band 5000 x 5000 Landsat-like raster with the bundled Landsat tagger,
Prospectra's tag_image (reading, tiling, normalising, averaging overlaps, writing) against raw
onnxruntime InferenceSession.run over the same patches already in memory, in the same run.

Usage: bench/bench_tagging.py [--size 5000] [--stride N] [--repeat 3] [--model FILE.onnx] [--workdir DIR]
(stride: the model's, 8 for the bundled tagger; model: any with Prospectra metadata and Landsat OLI bands, such
as the heavier one bench/make_timing_model.py writes)"""
import argparse
import os
import resource
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnxruntime as ort
from osgeo import gdal

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import plugin_path  # noqa: E402,F401  (links the plugin and puts it on sys.path)
from prospectra.core.errors import NullFeedback  # noqa: E402
from prospectra.core.io.image import open_image  # noqa: E402
from prospectra.core.learning.onnx_model import bundled_models, load_model  # noqa: E402
from prospectra.core.learning.patch_tagging import BATCH, patch_origins, tag_image  # noqa: E402

from bench_band_ratio import bench_scene  # noqa: E402  (bench/ is the script's own folder)

BANDS = ["B1", "B2", "B3", "B4", "B5", "B6", "B7"]


def generate(path, size):
    """Simulated reflectance: smooth fields plus noise, 7 bands, tiled GeoTIFF."""
    ds = gdal.GetDriverByName("GTiff").Create(path, size, size, 7, gdal.GDT_Float32,
                                              ["TILED=YES", "BLOCKXSIZE=512", "BLOCKYSIZE=512"])
    ds.SetGeoTransform((300000, 30, 0, 5000000, 0, -30))
    rng = np.random.default_rng(0)
    x = np.arange(size, dtype=np.float32)
    for i, name in enumerate(BANDS):
        band = ds.GetRasterBand(i + 1)
        band.SetDescription(name)
        for y0 in range(0, size, 1000):
            rows = np.arange(y0, min(y0 + 1000, size), dtype=np.float32)[:, None]
            values = 0.15 + 0.05 * i / 7 + 0.05 * np.sin(x / 97.0) * np.cos(rows / 131.0)
            band.WriteArray((values + rng.normal(0, 0.01, (len(rows), size))).astype(np.float32), 0, y0)
    ds = None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=5000, help="raster edge in pixels (the issue's figure: 5000)")
    ap.add_argument("--stride", type=int, help="default: the model's own, as tagminerals runs it")
    ap.add_argument("--repeat", type=int, default=3, help="rounds of every measurement")
    ap.add_argument("--model", help="default: the bundled Landsat tagger")
    ap.add_argument("--workdir")
    args = ap.parse_args()
    work, src = bench_scene(args.workdir, args.size, "landsat_like", make=generate)
    model = load_model(args.model or bundled_models()["tagger_landsat_oli"])
    image = open_image(src, "landsat8_oli")
    p = model.patch_size
    args.stride = args.stride or model.stride
    ys, xs = patch_origins(image.height, p, args.stride), patch_origins(image.width, p, args.stride)
    n = len(ys) * len(xs)

    prob = os.path.join(work, "prob.tif")
    configurations = {"tags only": (None, True), "tags + probabilities in percent": (prob, True),
                      "tags + probabilities as float32": (prob, False)}

    def tagging(probabilities, percent):
        summary = tag_image(image, model, os.path.join(work, "tags.tif"), NullFeedback(), probabilities,
                            stride=args.stride, percent=percent)
        assert summary["patches"] == n

    # One run alone first, so that the peak memory is tag_image's own and not the raw run's patches.
    tagging(prob, True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    # Raw: every patch of the same grid, normalised and in memory; only session.run is timed.
    cube = image.read_stack(model.bands, (0, 0, image.width, image.height))[0]
    cube = (cube - model.mean[:, None, None]) / model.std[:, None, None]
    patches = np.empty((n, len(model.bands), p, p), np.float32)
    for i, y in enumerate(ys):
        patches[i * len(xs):(i + 1) * len(xs)] = np.stack([cube[:, y:y + p, x:x + p] for x in xs])
    del cube
    batches = [patches[b:b + BATCH] for b in range(0, n, BATCH)]
    # Two ways to call onnxruntime: one batch at a time with one thread per core (Prospectra's default session),
    # or batches side by side with one thread each (as tag_image does). The faster in each round is the reference.
    cores = os.cpu_count() or 1
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    raw_calls = {"one batch at a time, threads per core": (model.session(), ThreadPoolExecutor(1)),
                 f"{cores} batches side by side, 1 thread each": (
                     ort.InferenceSession(model.path, options, providers=["CPUExecutionProvider"]),
                     ThreadPoolExecutor(cores))}

    def raw_run(session, pool):
        name = session.get_inputs()[0].name
        list(pool.map(lambda batch: session.run(None, {name: batch}), batches))

    def timed(call, *call_args):
        start, cpu = time.perf_counter(), time.process_time()
        call(*call_args)
        return time.perf_counter() - start, time.process_time() - cpu

    # Rounds of every measurement, each overhead taken against the raw reference of its own round: this
    # machine's speed drifts over a minute, so timings far apart would compare different machines.
    times = {label: [] for label in list(raw_calls) + list(configurations)}
    overheads = {label: [] for label in configurations}
    for _ in range(args.repeat):
        for label, call in raw_calls.items():
            times[label].append(timed(raw_run, *call))
        raw = min(times[label][-1][0] for label in raw_calls)
        for label, configuration in configurations.items():
            times[label].append(timed(tagging, *configuration))
            overheads[label].append(100 * (times[label][-1][0] / raw - 1))
    print(f"model {model.name}; raster: 7 bands x {args.size} x {args.size} float32; {n} patches of {p} px, "
          f"stride {args.stride}; {args.repeat} rounds, fastest shown; load average {os.getloadavg()[0]:.1f}")
    for label in raw_calls:
        t, c = min(times[label])
        print(f"raw InferenceSession.run, {label:38s}: {t:6.2f} s  (CPU {c:6.2f} s)")
    for label, per_round in overheads.items():
        t, c = min(times[label])
        print(f"Prospectra tag_image, {label:42s}: {t:6.2f} s  (CPU {c:6.2f} s)  overhead median "
              f"{np.median(per_round):+.0f} % (rounds: {', '.join(f'{o:+.0f}' for o in per_round)})")
    print(f"peak memory of tag_image (resident): {peak:.0f} MiB")


if __name__ == "__main__":
    main()
