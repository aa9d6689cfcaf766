#!/usr/bin/env python3
"""Run a Prospectra algorithm tile by tile on a Dask cluster (core/cluster.py): a LocalCluster of this machine's
cores by default, or any scheduler (--scheduler tcp://host:8786). Writes the tiles and a VRT mosaic per output
into OUT (<output>.vrt).

  scripts/prospectra_cluster.py ratio scene.tif --out tiles/ --numerator B11 --denominator B12
  scripts/prospectra_cluster.py composite scene.tif --out tiles/ --bands B8,B12,B3 --outputs composite_8bit
  scripts/prospectra_cluster.py sam scene.tif --out tiles/ --minerals Alunite,Kaolinite,Calcite \\
      --outputs angles --scheduler tcp://10.0.0.5:8786
  scripts/prospectra_cluster.py classify scene.tif --out tiles/ --model forest.onnx --outputs probabilities
  scripts/prospectra_cluster.py tag scene.tif --out tiles/ --model models/tagger_sentinel2_msi.onnx
  scripts/prospectra_cluster.py content gf2.tif --sensor gf2_pms --out tiles/ --model models/inversion_gf2_pms.onnx

Needs dask and distributed (python3 -m pip install dask distributed) here and on every worker, with GDAL and the
plugin's own packages; README, 'Beyond one machine'. Inputs, model files and OUT must be where every worker sees
them."""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plugin_path import PLUGINS  # noqa: E402  (makes 'prospectra' importable)
os.environ["PYTHONPATH"] = PLUGINS + os.pathsep + os.environ.get("PYTHONPATH", "")  # for local workers

from prospectra.core.cluster import KINDS, OUTPUTS, run_tiled  # noqa: E402
from prospectra.core.errors import ProspectraError  # noqa: E402
from prospectra.core.io.image import open_image  # noqa: E402


def names(text):
    return [n.strip() for n in text.replace(";", ",").split(",") if n.strip()] if text else None


def options(a):
    """The engine options of the algorithm chosen."""
    if a.algorithm == "ratio":
        return {"numerator": names(a.numerator), "denominator": names(a.denominator)}
    if a.algorithm == "composite":
        return {"bands": names(a.bands) or ["B8", "B12", "B3"]}
    if a.algorithm == "sam":
        return {"minerals": names(a.minerals), "bands": names(a.bands), "max_angle": a.max_angle}
    if a.algorithm == "tag":
        return {"model": a.model, "stride": a.stride, "threshold": a.threshold}
    return {"model": a.model}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("algorithm", choices=KINDS)
    ap.add_argument("inputs", nargs="+", help="one multiband raster, or single-band rasters on one grid")
    ap.add_argument("--out", required=True, help="a new or empty folder for the tiles and mosaics")
    ap.add_argument("--outputs", help="outputs beyond the first, comma separated: "
                                      + "; ".join(f"{k}: {', '.join(v[1:])}" for k, v in OUTPUTS.items() if v[1:]))
    ap.add_argument("--scheduler", help="a Dask scheduler address (default: a LocalCluster here)")
    ap.add_argument("--sensor", default="sentinel2a_msi")
    ap.add_argument("--scaling", default="auto")
    ap.add_argument("--band-order")
    ap.add_argument("--tile", type=int, default=2048, help="tile edge in pixels (best a multiple of 256)")
    ap.add_argument("--numerator"), ap.add_argument("--denominator")
    ap.add_argument("--bands", help="composite: R,G,B; SAM: the bands compared")
    ap.add_argument("--minerals", help="SAM: mineral names, comma separated")
    ap.add_argument("--max-angle", type=float)
    ap.add_argument("--model", help="classify, tag, content: the .onnx model")
    ap.add_argument("--stride", type=int, help="tag: stride between patches (default: the model's)")
    ap.add_argument("--threshold", type=float, help="tag: probability threshold (default: the model's)")
    a = ap.parse_args()
    try:
        image = open_image(a.inputs, a.sensor, band_order=names(a.band_order), scaling=a.scaling)
        run = run_tiled(a.algorithm, image, a.out, scheduler=a.scheduler, tile=a.tile, outputs=names(a.outputs),
                        **options(a))
    except ProspectraError as e:
        sys.exit(f"error: {e}")
    for mosaic in run.mosaics.values():
        print(mosaic)


if __name__ == "__main__":
    main()
