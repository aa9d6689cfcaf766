#!/usr/bin/env python3
"""A heavier tagger for timing only: the bundled Landsat tagger's architecture with every convolution WIDTH
times as wide, random weights (never trained: its outputs mean nothing) and the bundled tagger's metadata.
bench_tagging.py --model runs it to show how the overhead of tiling, I/O and writing, fixed per pixel,
weighs against a model that costs more per patch. Needs PyTorch (a development dependency).

Usage: bench/make_timing_model.py OUTPUT.onnx [--width 2]"""
import argparse
import json
import os
import sys

import onnx
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "models", "training"))
from train_tagger import build_model  # noqa: E402

BUNDLED = os.path.join(ROOT, "models", "tagger_landsat_oli.onnx")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("output")
    ap.add_argument("--width", type=int, default=2)
    args = ap.parse_args()
    meta = {p.key: p.value for p in onnx.load(BUNDLED).metadata_props}
    bands, patch = meta["bands"].split(","), int(meta["patch_size"])
    torch.manual_seed(0)
    model = build_model(len(bands), len(json.loads(meta["classes"])), args.width)
    model.eval()
    torch.onnx.export(model, torch.zeros(1, len(bands), patch, patch), args.output, input_names=["patches"],
                      output_names=["probabilities"], dynamic_axes={"patches": {0: "batch"},
                                                                    "probabilities": {0: "batch"}},
                      opset_version=17, dynamo=False)
    out = onnx.load(args.output)
    meta["description"] = f"TIMING ONLY: untrained, {args.width} x the width of {os.path.basename(BUNDLED)}"
    meta["training_data"] = "none: random weights"
    for key, value in meta.items():
        entry = out.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(out, args.output)
    print(f"{args.output}: {sum(p.numel() for p in model.parameters()):,} parameters")


if __name__ == "__main__":
    main()
