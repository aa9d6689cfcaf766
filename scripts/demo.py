#!/usr/bin/env python3
"""The main job on bundled sample data, through qgis_process as a user would script it.

Writes every output into demo-output/ (or the folder given as the first argument), prints one progress line
per step, and ends with index.html there: each result as a quicklook coloured by its QGIS style, with a legend,
what it means for a geologist, and links to the reports and full-resolution files."""
import glob
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "test", "data")
QGIS_PROCESS = os.path.join(ROOT, "scripts", "qgis_process")
PLUGINS = os.path.join(ROOT, "build", "plugins")
os.makedirs(PLUGINS, exist_ok=True)
if not os.path.lexists(os.path.join(PLUGINS, "prospectra")):  # import the checkout as the package 'prospectra'
    os.symlink(ROOT, os.path.join(PLUGINS, "prospectra"))
sys.path.insert(0, PLUGINS)
sys.path.insert(0, os.path.join(ROOT, "test"))  # the simulated scenes are made by test/data code
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import demo_report  # noqa: E402


def preset_index(kind, preset_id):
    from prospectra.core.presets import composites, ratios

    return 1 + [p.id for p in (composites() if kind == "composite" else ratios())].index(preset_id)


def sensor_index(sensor_id):
    from prospectra.core.sensors import sensors

    return list(sensors()).index(sensor_id)


def run(alg, params, inputs=()):
    """None, or the error qgis_process gave: later steps and the index still run, and say what is missing."""
    args = [QGIS_PROCESS, "run", f"prospectra:{alg}", "--"] + [f"INPUT={p}" for p in inputs]
    args += [f"{k}={x}" for k, v in params.items() for x in (v if isinstance(v, list) else [v])]
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode:
        lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
        return " / ".join(lines[-3:]) or f"exit code {proc.returncode}"
    return None


def main():
    out = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "demo-output"))
    os.makedirs(out, exist_ok=True)
    start = time.time()
    # Inputs are copied: QGIS writes statistics side files next to rasters it opens.
    scenes = os.path.join(out, "inputs")
    shutil.copytree(DATA, scenes, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.py", "*.md", "*.npy"))
    s2 = [os.path.join(scenes, "sen2_rstoolbox_12band.tif")]
    l1c = sorted(glob.glob(os.path.join(scenes, "sentinel2_l1c", "*.jp2")))
    tm = sorted(glob.glob(os.path.join(scenes, "landsat5_tm", "*_B?.TIF")))
    lithology = [os.path.join(scenes, "simulated_lithology", "scene_s2.tif")]
    from data.simulated_minerals import MINERALS, make_scene
    from data.simulated_ree import make_ree_scene, write_samples

    simulated = [os.path.join(scenes, "simulated_minerals_landsat8.tif")]
    make_scene(simulated[0], "landsat8_oli", bands=["B1", "B2", "B3", "B4", "B5", "B6", "B7"])
    gf2_scene = [os.path.join(scenes, "simulated_gf2_ree.tif")]
    samples = os.path.join(scenes, "simulated_ree_samples.gpkg")
    write_samples(samples, make_ree_scene(gf2_scene[0]))
    till = os.path.join(scenes, "IOCG_CLB_Till_Geochem_reg_511p.gpkg")

    def o(name):
        return os.path.join(out, name)

    s2_sensor = {"SENSOR": sensor_index("sentinel2a_msi")}
    tm_sensor = {"SENSOR": sensor_index("landsat5_tm"), "SCALING": 5, "SCALE": 1, "OFFSET": 0}
    l8 = {"SENSOR": sensor_index("landsat8_oli")}
    gf2 = {"SENSOR": sensor_index("gf2_pms")}

    def composite(sensor, preset, name):
        return dict(sensor, OUTPUT=o(name), PRESET=preset_index("composite", preset))

    def ratio(sensor, preset, name):
        return dict(sensor, OUTPUT=o(name), PRESET=preset_index("ratio", preset))

    # (title, algorithm, inputs, parameters with the outputs first, what it means, data and method)
    steps = [
        ("Sentinel-2 natural colour 4-3-2", "bandcomposite", s2,
         composite(s2_sensor, "msi_432", "s2_natural_colour.tif"),
         "The scene as the eye sees it: forest green, water black, town and bare soil pale. Look here first to know "
         "which surfaces the other maps are measuring before reading them as geology.",
         "Sentinel-2 L2A, Brazilian Amazon (RStoolbox sample), reflectance."),
        ("Sentinel-2 composite 8-12-3", "bandcomposite", s2,
         composite(s2_sensor, "msi_8_12_3", "s2_composite_8_12_3.tif"),
         "Vegetation red, water black, bare ground pale (here the town and river banks); exposed bedrock shows dark "
         "grey (Rakhymberdina et al. 2025, Fig. 2b). Only where ground is bare can the ratios below see rock.",
         "Same scene; R = B8 (near infrared), G = B12 (SWIR 2), B = B3 (green)."),
        ("Sentinel-2 composite 8-11-12", "bandcomposite", s2,
         composite(s2_sensor, "msi_8_11_12", "s2_composite_8_11_12.tif"),
         "Vegetation orange-red, bare ground cyan to blue; bedrock exposures show blue (Rakhymberdina et al. 2025, "
         "Fig. 2c). Clay-altered rock absorbs in B12 and so looks less blue than fresh rock: compare with 11/12.",
         "Same scene; R = B8, G = B11, B = B12."),
        ("Sabins clay ratio, Sentinel-2 11/12", "bandratio", s2, ratio(s2_sensor, "msi_11_12", "s2_ratio_11_12.tif"),
         "Bright (red) = Al-OH clays, micas and carbonates (absorption in B12), candidate hydrothermal alteration. "
         "Vegetation raises it too: in this forest scene the red IS forest. Trust highs only on bare ground "
         "(pale in the composites, not blue in the 3/8 mask).",
         "Same scene; B11 / B12 in reflectance (Sabins 1999)."),
        ("Water and vegetation mask, Sentinel-2 3/8", "bandratio", s2, ratio(s2_sensor, "msi_3_8", "s2_ratio_3_8.tif"),
         "High (red) = water and built-up ground, low (blue) = dense vegetation: a mask. Where it is low, mineral "
         "ratios see leaves, not rock.",
         "Same scene; B3 / B8 (Rakhymberdina et al. 2025, Fig. 6d)."),
        ("Sentinel-2 L1C SWIR geology 12-8A-4", "bandcomposite", l1c,
         dict(composite(s2_sensor, "msi_12_8a_4", "s2_l1c_jp2_composite_12_8a_4.tif"), RESAMPLING=2),
         "The standard geology view (vegetation green, bare rock and soil pink to brown, water black), built "
         "straight from the JPEG 2000 files of a Level-1C product. This 1 km crop is mostly haze or cloud, bright in "
         "every band and so white: check cloud cover before reading colours as rock.",
         "13 files at 10/20/60 m, bilinear onto 10 m, offset and scale from MTD_MSIL1C.xml (Slovenia)."),
        ("Landsat-5 TM SWIR geology 7-4-2", "bandcomposite", tm,
         composite(tm_sensor, "tm_742", "tm_composite_7_4_2.tif"),
         "Vegetation green, bare ground and rock pink to purple, water dark. Raw DN, not reflectance, so compare "
         "colours within this scene only.",
         "Landsat-5 TM, Brazil 1988, 7 single-band files (RStoolbox sample)."),
        ("Sabins iron-oxide ratio, Landsat-5 TM 3/1", "bandratio", tm, ratio(tm_sensor, "tm_3_1", "tm_ratio_3_1.tif"),
         "Bright (red) = ferric iron oxides (hematite, goethite: gossans, laterite, red soil). In the tropics laterite "
         "and cleared fields light up too; look for highs that follow structures rather than field edges.",
         "Same scene; B3 / B1 as DN ratio (no reflectance metadata), Sabins (1999)."),
        ("USGS library at Sentinel-2 resolution", "resamplelibrary", [],
         dict(s2_sensor, OUTPUT=o("library_sentinel2.csv"), OUTPUT_PLOT=o("library_sentinel2.png")),
         "Thin lines: laboratory spectra; dots: what Sentinel-2 records of them. Absorption features narrower than "
         "a band vanish, so minerals whose dots coincide cannot be told apart by ratios, SAM or tagging.",
         "Default alteration minerals of USGS splib07 (Kokaly et al. 2017) through Sentinel-2A response curves."),
        ("Spectral Angle Mapper", "spectralanglemapper", simulated,
         dict(l8, OUTPUT=o("sam_minerals_simulated.tif"), ENDMEMBERS=",".join(MINERALS),
              OUTPUT_RULE=o("sam_angles_simulated.tif"), OUTPUT_SUMMARY=o("sam_summary_simulated.csv")),
         "Each pixel takes the library mineral whose spectrum is closest in shape (angle <= 0.10 rad); grey = no "
         "mineral close enough. On real scenes treat classes as field-check targets and read the angle bands "
         "(smaller = closer).",
         "SIMULATED Landsat-8 scene, one column per mineral: top row pure USGS spectra, middle row 70 % mineral "
         "in a real background, bottom row background only (should stay grey)."),
        ("Mineral tagging (CNN)", "tagminerals", simulated,
         dict(l8, OUTPUT=o("tag_minerals.tif"), OUTPUT_PROBABILITIES=o("tag_probabilities.tif"),
              OUTPUT_GRID=o("tag_grid.gpkg")),
         "The dominant mineral per pixel and, per patch cell (outlined), every mineral the network tags. Compare with "
         "the SAM map of the same columns above: where they disagree the network is guessing, and minerals it does "
         "not know (legend) cannot be tagged. A screening aid: confirm tags with spectra or in the field.",
         "The same SIMULATED scene; bundled Landsat-8/9 tagger (models/tagger_landsat_oli.md)."),
        ("Random Forest: training", "trainrandomforest", lithology,
         dict(s2_sensor, MODEL=o("lithology_rf.onnx"), REPORT=o("lithology_rf_report.html"),
              TRAINING=os.path.join(scenes, "simulated_lithology", "training_points.geojson"), FIELD="lithology",
              BANDS="B2,B3,B4,B5,B6,B7,B8,B8A,B11,B12",  # the bands that see the ground: no aerosol B1, vapour B9
              SEARCH_ITERATIONS=5, MAX_TREES=200),
         "Spatially blocked cross-validation says how far to trust the lithology map: read the confusion matrix for "
         "which rocks get mixed up, and the importances for which bands carry the distinction.",
         "SIMULATED Sentinel-2 scene (granite stock, pegmatite dykes, shale host) and 94 labelled points."),
        ("Random Forest: lithology map", "classifyrandomforest", lithology,
         dict(s2_sensor, OUTPUT=o("lithology_rf.tif"), MODEL=o("lithology_rf.onnx"),
              CONFIDENCE=o("lithology_rf_confidence.tif")),
         "Granite, pegmatite and shale as the forest predicts them. Confidence is the share of tree votes: "
         "isolated pixels of another class with low confidence are noise, not small intrusions.",
         "The same SIMULATED scene and the model trained above."),
        ("Kriging of La in till", "kriging", [],
         dict(OUTPUT=o("till_la_kriged.tif"), INPUT=till, FIELD="La_ppm_511",
              EXTENT="346000,414000,7458000,7540000 [EPSG:3067]", PIXEL_SIZE=500,
              OUTPUT_VARIANCE=o("till_la_kriging_variance.tif"), OUTPUT_REPORT=o("till_la_kriging.html")),
         "High (red) = La- (light REE-) enriched till. Till is carried by ice, so look for the bedrock source "
         "up-ice of a high; trust the map only where the kriging variance is low, near samples.",
         "REAL GTK till geochemistry, 1,112 samples, Central Lapland; ordinary Kriging at 500 m, variogram by "
         "leave-one-out RMSE."),
        ("Band correlation with RE2O3", "bandcorrelation", gf2_scene,
         dict(gf2, OUTPUT_REPORT=o("ree_band_correlation.html"), POINTS=samples, FIELD="RE2O3",
              OUTPUT_TABLE=o("ree_band_correlation.csv")),
         "Which bands track rare-earth content in soil (significant Spearman and Pearson r): the evidence an "
         "inversion model can learn from; no significant band, no map.",
         "SIMULATED GF-2 scene and 374 soil samples (as Cheng et al. 2023, Table 3)."),
        ("Content inversion: model comparison", "traininversion", gf2_scene,
         dict(gf2, OUTPUT_REPORT=o("ree_inversion_report.html"), OUTPUT_MODEL=o("ree_inversion.onnx"),
              POINTS=samples, FIELD="RE2O3", MAX_SAMPLES=5000, MODELS=[0, 1, 2, 3]),
         "Four regressors compared on held-out spatial blocks; RPD above 2 usually counts as good enough for a "
         "quantitative map, 1.4 to 2 as approximate, below 1.4 as unreliable.",
         "The samples kriged onto the SIMULATED scene; the best model saved as ree_inversion.onnx."),
        ("Content map and anomaly zones", "predictcontent", gf2_scene,
         dict(gf2, OUTPUT=o("ree_content.tif"), OUTPUT_ZONES=o("ree_anomaly_zones.gpkg"),
              MODEL_FILE=o("ree_inversion.onnx"), ANOMALY=2),
         "RE2O3 content per pixel; zones at or above mean + 2 SD outlined and numbered I, II, ... by size: ranked "
         "targets for follow-up sampling.",
         "SIMULATED GF-2 scene and the model chosen above."),
    ]
    sections, produced = [], set()
    for i, (title, alg, inputs, params, meaning, about) in enumerate(steps, 1):
        print(f"[{i}/{len(steps)}] {title} ...", end=" ", flush=True)
        # The step's files in the output folder, less those an earlier step made (the model it reads). Old copies
        # go first, so that a failed step shows as missing rather than as the last run's result.
        files = [v for v in params.values() if isinstance(v, str) and os.path.dirname(v) == out and v not in produced]
        produced.update(files)
        for f in files:
            if os.path.exists(f):
                os.remove(f)
        t0 = time.time()
        error = run(alg, params, inputs)
        seconds = time.time() - t0
        print(f"{seconds:.1f} s" + (f"  FAILED: {error}" if error else ""), flush=True)
        sections.append(dict(title=title, meaning=meaning, about=about, files=files, error=error, seconds=seconds))
    t0 = time.time()
    intro = (f"<p>Every output of <code>make demo</code> on the bundled sample data, {len(steps)} steps in "
             f"{time.time() - start:.0f} s. Quicklooks are coloured by the <code>.qml</code> style beside each "
             f"GeoTIFF, as QGIS shows it; open the GeoTIFFs in QGIS for full resolution (input data: "
             f"<a href=\"inputs/\">inputs/</a>). Results marked SIMULATED come from scenes with a known truth and "
             f"test the software, not the geology.</p>")
    index = demo_report.write_index(out, sections, "Prospectra demo: results", intro)
    print(f"[index] quicklooks and index ... {time.time() - t0:.1f} s")
    failed = [s["title"] for s in sections if s["error"]]
    print(f"\nDone in {time.time() - start:.0f} s" + (f"; FAILED: {', '.join(failed)}" if failed else "") +
          f"\nOpen {index}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
