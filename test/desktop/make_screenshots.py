#!/usr/bin/env python3
"""Refreshes docs/screenshots/ from a real QGIS desktop run under Xvfb (desktop.py, the same run the desktop test
makes): the main window with the Prospectra toolbox, four representative dialogs and the all-algorithms model in the
graphical modeler, reduced to 256-colour PNGs (imagemagick) so the set stays a few hundred KB.
Run: .venv/bin/python test/desktop/make_screenshots.py"""
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]
import conftest  # noqa: E402,F401  (links build/plugins/prospectra, which QGIS loads the plugin from)
import desktop  # noqa: E402

DOCS = os.path.join(desktop.ROOT, "docs", "screenshots")
PICK = {"main_window_toolbox.png": "toolbox.png", "dialog_bandcomposite.png": "band_composite.png",
        "dialog_spectralanglemapper.png": "spectral_angle_mapper.png",
        "dialog_trainrandomforest.png": "train_random_forest.png", "dialog_tagminerals.png": "tag_minerals.png",
        "modeler_all_algorithms.png": "modeler_all_algorithms.png"}


def main():
    if desktop.missing_programs():
        sys.exit(f"needs {desktop.missing_programs()} (make system installs them)")
    with tempfile.TemporaryDirectory() as tmp:
        run = desktop.run(tmp)
        result = run["result"]
        if result is None:
            sys.exit("QGIS wrote no result:\n" + run["output"][-3000:])
        missing = sorted(set(PICK) - set(result["screenshots"]))
        if missing or result["problems"]:
            sys.exit(f"missing screenshots {missing}; problems: {result['problems']}")
        os.makedirs(DOCS, exist_ok=True)
        for src, dst in PICK.items():
            src, dst = os.path.join(run["out_dir"], src), os.path.join(DOCS, dst)
            if shutil.which("convert"):  # no dithering: UI colours stay flat and the canvas stays clean
                subprocess.run(["convert", src, "-strip", "-dither", "None", "-colors", "256", "PNG8:" + dst],
                               check=True)
            else:
                shutil.copyfile(src, dst)
            print(f"{os.path.relpath(dst, desktop.ROOT)}  {os.path.getsize(dst) // 1024} KB")
    print(f"QGIS {result['qgis_version']}, {run['seconds']} s")


if __name__ == "__main__":
    main()
