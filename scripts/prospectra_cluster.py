#!/usr/bin/env python3
"""Run a Prospectra algorithm tile by tile on a Dask cluster (core/cluster.py): a LocalCluster of this machine's
cores by default, or any scheduler (--scheduler tcp://host:8786). Writes the tiles and a mosaic VRT into OUT.

  scripts/prospectra_cluster.py ratio scene.tif --out tiles/ --numerator B11 --denominator B12
  scripts/prospectra_cluster.py sam scene.tif --out tiles/ --minerals Alunite,Kaolinite,Calcite \\
      --scheduler tcp://10.0.0.5:8786

Needs dask and distributed (python3 -m pip install dask distributed) here and on every worker, with GDAL and the
plugin's own packages; README, 'Beyond one machine'."""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plugin_path import PLUGINS  # noqa: E402  (makes 'prospectra' importable)
os.environ["PYTHONPATH"] = PLUGINS + os.pathsep + os.environ.get("PYTHONPATH", "")  # for local workers

from prospectra.core.cluster import KINDS, run_tiled  # noqa: E402
from prospectra.core.errors import ProspectraError  # noqa: E402


def names(text):
    return [n.strip() for n in text.replace(";", ",").split(",") if n.strip()] if text else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("algorithm", choices=KINDS)
    ap.add_argument("inputs", nargs="+", help="one multiband raster, or single-band rasters on one grid")
    ap.add_argument("--out", required=True, help="a new or empty folder for the tiles and mosaic.vrt")
    ap.add_argument("--scheduler", help="a Dask scheduler address (default: a LocalCluster here)")
    ap.add_argument("--sensor", default="sentinel2a_msi")
    ap.add_argument("--scaling", default="auto")
    ap.add_argument("--band-order")
    ap.add_argument("--tile", type=int, default=2048, help="tile edge in pixels (best a multiple of 256)")
    ap.add_argument("--numerator"), ap.add_argument("--denominator")
    ap.add_argument("--minerals", help="SAM: mineral names, comma separated")
    ap.add_argument("--max-angle", type=float)
    a = ap.parse_args()
    options = {"numerator": names(a.numerator), "denominator": names(a.denominator)} if a.algorithm == "ratio" else \
        {"minerals": names(a.minerals), "max_angle": a.max_angle}
    try:
        mosaic = run_tiled(a.algorithm, a.inputs, a.out, scheduler=a.scheduler, tile=a.tile, sensor=a.sensor,
                           scaling=a.scaling, band_order=names(a.band_order), **options)
    except ProspectraError as e:
        sys.exit(f"error: {e}")
    print(mosaic)


if __name__ == "__main__":
    main()
