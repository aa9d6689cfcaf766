#!/usr/bin/env python3
"""Benchmark: tagging a generated 7-band 5000 x 5000 Landsat-like raster with the bundled Landsat tagger,
Prospectra's tag_image (reading, tiling, normalising, averaging overlaps, writing) against raw
onnxruntime InferenceSession.run over the same patches already in memory, in the same run.

Usage: bench/bench_tagging.py [--size 5000] [--stride 16] [--workdir DIR]"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np
from osgeo import gdal

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "build", "plugins"))
from prospectra.core.errors import NullFeedback  # noqa: E402
from prospectra.core.image import open_image  # noqa: E402
from prospectra.core.onnx_model import bundled_models, load_model  # noqa: E402
from prospectra.core.patch_tagging import BATCH, patch_origins, tag_image  # noqa: E402

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
    ap.add_argument("--size", type=int, default=5000)
    ap.add_argument("--stride", type=int, default=16)
    ap.add_argument("--workdir")
    args = ap.parse_args()
    work = args.workdir or tempfile.mkdtemp(prefix="prospectra-bench-")
    os.makedirs(work, exist_ok=True)
    src = os.path.join(work, f"landsat_like_{args.size}.tif")
    if not os.path.exists(src):
        generate(src, args.size)
    model = load_model(bundled_models()["tagger_landsat_oli"])
    image = open_image(src, "landsat8_oli")

    # Raw: every patch of the same grid, normalised and in memory; only session.run is timed.
    cube = image.read_stack(model.bands, (0, 0, image.width, image.height))[0]
    cube = (cube - model.mean[:, None, None]) / model.std[:, None, None]
    p = model.patch_size
    ys, xs = patch_origins(image.height, p, args.stride), patch_origins(image.width, p, args.stride)
    session = model.session()
    name = session.get_inputs()[0].name
    start = time.perf_counter()
    n = 0
    for y in ys:
        row = np.ascontiguousarray(np.stack([cube[:, y:y + p, x:x + p] for x in xs]))
        for b in range(0, len(row), BATCH):
            session.run(None, {name: row[b:b + BATCH]})
        n += len(row)
    t_raw = time.perf_counter() - start
    del cube

    timings = {}
    for label, probabilities in (("tags only", None), ("tags + probabilities", os.path.join(work, "prob.tif"))):
        out = os.path.join(work, "tags.tif")
        start = time.perf_counter()
        summary = tag_image(image, model, out, NullFeedback(), probabilities, stride=args.stride)
        timings[label] = time.perf_counter() - start
        assert summary["patches"] == n
    print(f"raster: 7 bands x {args.size} x {args.size} float32; {n} patches of {p} px, stride {args.stride}")
    print(f"raw InferenceSession.run over the patches in memory: {t_raw:6.1f} s")
    for label, t in timings.items():
        print(f"Prospectra tag_image, {label:22s}: {t:6.1f} s  (overhead {100 * (t / t_raw - 1):+.0f} %)")


if __name__ == "__main__":
    main()
