#!/usr/bin/env python3
"""Benchmark: Spectral Angle Mapper with 20 USGS endmembers on a generated 12-band 10980 x 10980 uint16
Sentinel-2 L2A raster (10 bands compared: B1 and B9 left out), against in the same run
  (a) a plain GDAL read of the same bands of the same file, in the same windows (the floor for any
      algorithm that reads the image), and
  (b) writing a rule image's bytes alone, with the writer SAM uses, in the same windows (angles made up front:
      the floor for the rule image on this machine's disk), and
  (c) Spectral Python's spectral_angles on one block already in memory, against Prospectra's block kernel.
Reports times, peak memory (/usr/bin/time -v) and ratios.

Usage: bench/bench_sam.py [--size 10980] [--workdir DIR]"""
import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from plugin_path import PLUGINS  # noqa: E402  (links the plugin there and puts it on sys.path)
from bench_band_ratio import bench_scene, interleaved, medians, spread, timed  # noqa: E402

MINERALS = ["Feldspar", "Chlorite", "Pyrite", "Epidote", "Malachite", "Calcite", "Alunite", "Magnetite", "Biotite",
            "Serpentine", "Dolomite", "Chalcopyrite", "Azurite", "Sericite", "Kaolinite", "Hematite", "Goethite",
            "Jarosite", "Montmorillonite", "Illite"]
PRELUDE = ("import sys; sys.path.insert(0, sys.argv[1]);"
           "from prospectra.core.io.image import open_image;"
           "im = open_image(sys.argv[2], 'sentinel2a_msi', scaling='sentinel2_offset');"
           "bands = [b for b in im.band_names if b not in im.sensor.atmospheric_bands];")
READ_ONLY = PRELUDE + (
    "from prospectra.core.io.blocks import bounded_cache\n"
    "with bounded_cache():\n"
    "    for w in im.windows():\n"
    "        [im.ds.GetRasterBand(im.band_index[b]).ReadAsArray(*w) for b in bands]")
WRITE_RULE = PRELUDE + (
    "import numpy as np;"
    "from prospectra.core.spectral.spectral_angle_mapper import rule_image_writer;"
    f"names = {MINERALS!r};"
    "w, h = max(((w, h) for _, _, w, h in im.windows()), key=lambda s: s[0] * s[1]);"
    "angles = np.arccos(np.random.default_rng(0).uniform(0.8, 1.0, (h, w))).astype(np.float32)\n"
    "with rule_image_writer(sys.argv[3], im, names) as rule:\n"
    "    for x, y, ww, hh in im.windows():\n"
    "        [rule.write(k, x, y, angles[:hh, :ww]) for k in range(len(names))]")
SAM = PRELUDE + (
    "import numpy as np;"
    "from prospectra.core.spectral.spectral_library import usgs_endmembers;"
    "from prospectra.core.spectral.spectral_angle_mapper import endmembers_from_library, spectral_angle_mapper;"
    "from prospectra.core.errors import NullFeedback;"
    f"lib = usgs_endmembers({MINERALS!r});"
    "em = endmembers_from_library(lib, lib.resample(im.sensor, bands));"
    "rule = sys.argv[4] if len(sys.argv) > 4 else None;"
    "spectral_angle_mapper(im, em, bands, np.full(len(em.names), 0.1), sys.argv[3], NullFeedback(), rule)")


def kernel_comparison():
    """One 1024 x 1024 block of 10 bands in memory: Spectral Python against Prospectra's kernel, classes checked
    equal."""
    from spectral import spectral_angles

    from prospectra.core.sensors import sensor
    from prospectra.core.spectral.spectral_angle_mapper import _unit, classify_block
    from prospectra.core.spectral.spectral_library import usgs_endmembers

    s2 = sensor("sentinel2a_msi")
    bands = ["B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12"]
    matrix = usgs_endmembers(MINERALS).resample(s2, bands)
    rng = np.random.default_rng(0)
    block = (0.2 + 0.05 * rng.standard_normal((1024, 1024, len(bands)))).astype(np.float32)
    unit = _unit(matrix).astype(np.float32)
    member_class = np.arange(len(MINERALS))  # one member per class
    group = np.arange(len(MINERALS))
    limits = np.full(len(MINERALS), np.cos(0.1), np.float32)
    pixels = np.ascontiguousarray(block.reshape(-1, len(bands)).T)  # Prospectra's (bands, pixels) layout
    valid = np.ones(pixels.shape[1], bool)

    def best_of(f, n=3):
        times = []
        for _ in range(n):
            t = time.perf_counter()
            f()
            times.append(time.perf_counter() - t)
        return min(times)

    angles = spectral_angles(block, matrix).reshape(-1, len(MINERALS))
    expected = np.where(angles.min(axis=1) <= 0.1, angles.argmin(axis=1) + 1, 0)
    classes = classify_block(pixels, valid, unit, member_class, group, limits, 0.0, False)[0]
    agree = float(np.mean(classes == expected))
    t_spy = best_of(lambda: spectral_angles(block, matrix))
    t_class = best_of(lambda: classify_block(pixels, valid, unit, member_class, group, limits, 0.0, False))
    t_rule = best_of(lambda: classify_block(pixels, valid, unit, member_class, group, limits, 0.0, True))
    return t_spy, t_class, t_rule, agree


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=10980)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported")
    ap.add_argument("--workdir")
    args = ap.parse_args()
    work, src = bench_scene(args.workdir, args.size)
    out, rule = os.path.join(work, "sam_classes.tif"), os.path.join(work, "sam_angles.tif")
    written = os.path.join(work, "rule_bytes_only.tif")
    runs = {"read": [sys.executable, "-c", READ_ONLY, PLUGINS, src],
            "write a rule image": [sys.executable, "-c", WRITE_RULE, PLUGINS, src, written],
            "class map": [sys.executable, "-c", SAM, PLUGINS, src, out],
            "class map and rule image": [sys.executable, "-c", SAM, PLUGINS, src, out, rule]}
    def warm():
        # Before every side, the rule images written (8 GB at full size) are flushed and the scene is read into
        # the page cache again: left alone, their write-back ran on into the next side's time and pushed the
        # scene out of the cache (the class map after them took 4.5 s instead of 2.9).
        os.sync()
        timed(runs["read"])

    figures = interleaved({name: (lambda cmd=cmd: timed(cmd)[:2]) for name, cmd in runs.items()}, args.rounds, warm)
    t_spy, t_class, t_rule, agree = kernel_comparison()
    median = medians(figures)
    seconds = {name: t for name, (t, _) in median.items()}
    print(f"raster: 12 bands x {args.size} x {args.size} uint16, 10 bands compared, {len(MINERALS)} endmembers; "
          f"median of {args.rounds} interleaved rounds (min-max), page cache warm")
    for name, values in figures.items():
        print(f"{name:26s}: {spread(values)}, peak memory {median[name][1]:6.0f} MiB, "
              f"{seconds[name] / seconds['read']:.2f}x the read")
    print(f"one 1024 x 1024 block in memory: Spectral Python spectral_angles {t_spy * 1000:.0f} ms; Prospectra "
          f"class map {t_class * 1000:.0f} ms ({t_spy / t_class:.1f}x faster), with all angles "
          f"{t_rule * 1000:.0f} ms ({t_spy / t_rule:.1f}x faster); classes equal on {agree:.4%} of pixels")
    print(f"rule image {os.path.getsize(rule) / 2 ** 20:.0f} MiB; the made-up one {os.path.getsize(written) / 2 ** 20:.0f} "
          "MiB (random angles compress a little less)")
    print(f"SUMMARY sam: class map {seconds['class map'] / seconds['read']:.2f}x the read, with the rule image "
          f"{seconds['class map and rule image'] / seconds['read']:.2f}x the read and "
          f"{seconds['class map and rule image'] / seconds['write a rule image']:.2f}x writing its bytes alone")


if __name__ == "__main__":
    main()
