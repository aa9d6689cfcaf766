#!/usr/bin/env python3
"""Benchmark: does memory stay flat as the raster grows? Peak resident memory (/usr/bin/time -v) of the band ratio
(B11/B12) and of SAM's class map (20 minerals, every suitable USGS sample of each: the algorithm's own run) on
generated 12-band uint16 Sentinel-2 L2A rasters of about 12 and 120 Mpx, each case in a fresh process, rounds
interleaved, medians reported. Goal (issue 17): peak at 120 Mpx <= 1.2x the peak at 12 Mpx.

Usage: bench/bench_memory.py [--sizes 3472 10980] [--rounds 2] [--workdir DIR]"""
import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from plugin_path import PLUGINS  # noqa: E402  (links the plugin there and puts it on sys.path)
from bench_band_ratio import bench_scene, timed  # noqa: E402
from bench_sam import MINERALS  # noqa: E402

PRELUDE = ("import sys; sys.path.insert(0, sys.argv[1]);"
           "from prospectra.core.io.image import open_image;"
           "from prospectra.core.errors import NullFeedback;"
           "im = open_image(sys.argv[2], 'sentinel2a_msi', scaling='sentinel2_offset');")
CASES = {
    "band ratio": PRELUDE + ("from prospectra.core.bands.band_ratio import band_ratio;"
                             "band_ratio(im, ['B11'], ['B12'], sys.argv[3], NullFeedback())"),
    "SAM class map": PRELUDE + ("from prospectra.core.spectral.spectral_library import usgs_mineral_samples;"
                                "from prospectra.core.spectral.spectral_angle_mapper import map_minerals;"
                                f"lib = usgs_mineral_samples({MINERALS!r});"
                                "map_minerals(im, lib, im.surface_bands, sys.argv[3], NullFeedback(), keep_apart=True)"),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs=2, default=[3472, 10980], help="edges of the small and large scene")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds; medians are reported")
    ap.add_argument("--workdir")
    args = ap.parse_args()
    scenes = [bench_scene(args.workdir, size) for size in args.sizes]
    peaks = {(case, size): [] for case in CASES for size in args.sizes}
    times = {key: [] for key in peaks}
    for _ in range(args.rounds):
        for case, code in CASES.items():
            for size, (work, src) in zip(args.sizes, scenes):
                out = os.path.join(work, f"memory_{case.replace(' ', '_')}_{size}.tif")
                wall, peak, _ = timed([sys.executable, "-c", code, PLUGINS, src, out])
                peaks[case, size].append(peak)
                times[case, size].append(wall)
    small, large = args.sizes
    print(f"peak resident memory, median of {args.rounds} interleaved rounds (min-max), each run a fresh process")
    ratios = {}
    for case in CASES:
        med = {size: float(np.median(peaks[case, size])) for size in args.sizes}
        ratios[case] = med[large] / med[small]
        cells = "; ".join(f"{size * size / 1e6:.0f} Mpx {med[size]:.0f} MiB ({min(peaks[case, size]):.0f}-"
                          f"{max(peaks[case, size]):.0f}) in {np.median(times[case, size]):.1f} s" for size in args.sizes)
        print(f"{case:14s}: {cells}; {ratios[case]:.2f}x")
    print("SUMMARY memory: " + ", ".join(f"{case} {r:.2f}x" for case, r in ratios.items())
          + f" the peak at {small * small / 1e6:.0f} Mpx when {large * large / 1e6:.0f} Mpx (goal <= 1.2x)")


if __name__ == "__main__":
    main()
