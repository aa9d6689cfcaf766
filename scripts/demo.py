#!/usr/bin/env python3
"""The main job on bundled sample data, through qgis_process as a user would script it.

Writes every output into demo-output/ (or the folder given as the first argument) and prints one line
per output saying what it is."""
import glob
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "test", "data")
QGIS_PROCESS = os.path.join(ROOT, "scripts", "qgis_process")
PLUGINS = os.path.join(ROOT, "build", "plugins")
os.makedirs(PLUGINS, exist_ok=True)
if not os.path.lexists(os.path.join(PLUGINS, "prospectra")):  # import the checkout as the package 'prospectra'
    os.symlink(ROOT, os.path.join(PLUGINS, "prospectra"))
sys.path.insert(0, PLUGINS)
sys.path.insert(0, os.path.join(ROOT, "test"))  # the simulated mineral scene is made by test/data code


def preset_index(kind, preset_id):
    from prospectra.core.presets import composites, ratios

    return 1 + [p.id for p in (composites() if kind == "composite" else ratios())].index(preset_id)


def sensor_index(sensor_id):
    from prospectra.core.sensors import sensors

    return list(sensors()).index(sensor_id)


def run(alg, params, inputs=()):
    args = [QGIS_PROCESS, "run", f"prospectra:{alg}", "--"] + [f"INPUT={p}" for p in inputs]
    args += [f"{k}={x}" for k, v in params.items() for x in (v if isinstance(v, list) else [v])]
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"failed: {' '.join(args)}\n{proc.stdout}\n{proc.stderr}")


def main():
    out = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "demo-output"))
    os.makedirs(out, exist_ok=True)
    # Inputs are copied: QGIS writes statistics side files next to rasters it opens.
    scenes = os.path.join(out, "inputs")
    shutil.copytree(DATA, scenes, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.py", "*.md", "*.npy"))
    s2 = os.path.join(scenes, "sen2_rstoolbox_12band.tif")
    l1c = sorted(glob.glob(os.path.join(scenes, "sentinel2_l1c", "*.jp2")))
    tm = sorted(glob.glob(os.path.join(scenes, "landsat5_tm", "*_B?.TIF")))
    s2_sensor = {"SENSOR": sensor_index("sentinel2a_msi")}
    tm_sensor = {"SENSOR": sensor_index("landsat5_tm"), "SCALING": 5, "SCALE": 1, "OFFSET": 0}
    jobs = [
        ("bandcomposite", s2, s2_sensor, "msi_432", "s2_natural_colour.tif",
         "Sentinel-2 L2A (Amazon, RStoolbox): natural colour 4-3-2"),
        ("bandcomposite", s2, s2_sensor, "msi_8_12_3", "s2_composite_8_12_3.tif",
         "Sentinel-2 8-12-3: bedrock dark grey against vegetation (Rakhymberdina et al. 2025, Fig. 2b)"),
        ("bandcomposite", s2, s2_sensor, "msi_8_11_12", "s2_composite_8_11_12.tif",
         "Sentinel-2 8-11-12: bedrock exposures in blue (Rakhymberdina et al. 2025, Fig. 2c)"),
        ("bandratio", s2, s2_sensor, "msi_11_12", "s2_ratio_11_12.tif",
         "Sentinel-2 11/12: high = clay, mica and carbonate alteration (Sabins 1999)"),
        ("bandratio", s2, s2_sensor, "msi_3_8", "s2_ratio_3_8.tif",
         "Sentinel-2 3/8: high = water, low = vegetation (Rakhymberdina et al. 2025, Fig. 6d)"),
        ("bandcomposite", l1c, dict(s2_sensor, RESAMPLING=2), "msi_12_8a_4", "s2_l1c_jp2_composite_12_8a_4.tif",
         "Sentinel-2 L1C from 13 single-band JPEG 2000 files at 10/20/60 m, bilinear onto 10 m, "
         "offset from MTD_MSIL1C.xml: SWIR geology 12-8A-4"),
        ("bandcomposite", tm, tm_sensor, "tm_742", "tm_composite_7_4_2.tif",
         "Landsat-5 TM (Brazil, 1988) from 7 single-band files: SWIR geology 7-4-2 (DN)"),
        ("bandratio", tm, tm_sensor, "tm_3_1", "tm_ratio_3_1.tif",
         "Landsat-5 TM 3/1: high = ferric iron oxides (Sabins 1999; DN ratio, no reflectance metadata)"),
    ]
    from data.simulated_minerals import MINERALS, make_scene
    from data.simulated_ree import make_ree_scene, write_samples

    simulated = os.path.join(scenes, "simulated_minerals_landsat8.tif")
    make_scene(simulated, "landsat8_oli", bands=["B1", "B2", "B3", "B4", "B5", "B6", "B7"])
    l8 = {"SENSOR": sensor_index("landsat8_oli")}
    gf2_scene = os.path.join(scenes, "simulated_gf2_ree.tif")
    samples = os.path.join(scenes, "simulated_ree_samples.gpkg")
    write_samples(samples, make_ree_scene(gf2_scene))
    gf2 = {"SENSOR": sensor_index("gf2_pms")}
    till = os.path.join(scenes, "IOCG_CLB_Till_Geochem_reg_511p.gpkg")
    spectral_jobs = [
        ("resamplelibrary", [], dict(s2_sensor, OUTPUT_PLOT=os.path.join(out, "library_sentinel2.png")),
         "library_sentinel2.csv", "default alteration minerals (USGS splib07) in Sentinel-2 bands; plot: "
                                  "library_sentinel2.png"),
        ("spectralanglemapper", [simulated], dict(l8, ENDMEMBERS=",".join(MINERALS),
                                                  OUTPUT_RULE=os.path.join(out, "sam_angles_simulated.tif"),
                                                  OUTPUT_SUMMARY=os.path.join(out, "sam_summary_simulated.csv")),
         "sam_minerals_simulated.tif", "SIMULATED Landsat-8 scene (USGS spectra in patches on a real background): "
                                       "Spectral Angle Mapper classes, 0.10 rad; angles and summary beside it"),
        ("tagminerals", [simulated], dict(l8, OUTPUT_PROBABILITIES=os.path.join(out, "tag_probabilities.tif"),
                                          OUTPUT_GRID=os.path.join(out, "tag_grid.gpkg")),
         "tag_minerals.tif", "the same SIMULATED scene tagged by the bundled Landsat CNN (trained on simulated "
                             "patches): dominant mineral per pixel, probabilities and a patch grid beside it"),
        ("kriging", [], dict(INPUT=till, FIELD="La_ppm_511", EXTENT="346000,414000,7458000,7540000 [EPSG:3067]",
                             PIXEL_SIZE=500, OUTPUT_VARIANCE=os.path.join(out, "till_la_kriging_variance.tif"),
                             OUTPUT_REPORT=os.path.join(out, "till_la_kriging.html")),
         "till_la_kriged.tif", "REAL GTK till geochemistry (1,112 samples, Lapland): La ppm kriged at 500 m; "
                               "variance and leave-one-out report beside it"),
        ("bandcorrelation", [gf2_scene], dict(gf2, POINTS=samples, FIELD="RE2O3",
                                              OUTPUT_TABLE=os.path.join(out, "ree_band_correlation.csv")),
         "ree_band_correlation.html", "SIMULATED GF-2 scene and 374 soil samples: Spearman and Pearson correlation "
                                      "of RE2O3 with each band (as Cheng et al. 2023, Table 3)"),
        ("traininversion", [gf2_scene], dict(gf2, POINTS=samples, FIELD="RE2O3", MAX_SAMPLES=5000, MODELS=[0, 1, 2, 3],
                                             OUTPUT_MODEL=os.path.join(out, "ree_inversion.onnx")),
         "ree_inversion_report.html", "the samples kriged onto the scene, four models compared by R2, RMSE and RPD "
                                      "on held-out blocks; the chosen model saved as ree_inversion.onnx"),
        ("predictcontent", [gf2_scene], dict(gf2, MODEL_FILE=os.path.join(out, "ree_inversion.onnx"), ANOMALY=2,
                                             OUTPUT_ZONES=os.path.join(out, "ree_anomaly_zones.gpkg")),
         "ree_content.tif", "RE2O3 content map from that model; anomaly zones (mean + 2 SD) numbered I, II, ... "
                            "in ree_anomaly_zones.gpkg"),
    ]
    total = len(jobs) + len(spectral_jobs)
    for i, (alg, inputs, params, preset, name, what) in enumerate(jobs, 1):
        kind = "composite" if alg == "bandcomposite" else "ratio"
        target = os.path.join(out, name)
        run(alg, dict(params, PRESET=preset_index(kind, preset), OUTPUT=target),
            inputs if isinstance(inputs, list) else [inputs])
        print(f"[{i}/{total}] {target}\n      {what}; style: {os.path.splitext(name)[0]}.qml", flush=True)
    for i, (alg, inputs, params, name, what) in enumerate(spectral_jobs, len(jobs) + 1):
        target = os.path.join(out, name)
        key = {"bandcorrelation": "OUTPUT_REPORT", "traininversion": "OUTPUT_REPORT"}.get(alg, "OUTPUT")
        run(alg, dict(params, **{key: target}), inputs)
        print(f"[{i}/{total}] {target}\n      {what}", flush=True)
    print(f"\nAll outputs in {out}. Open the .tif files in QGIS: each loads with its style.")


if __name__ == "__main__":
    main()
