#!/usr/bin/env python3
"""The main job on bundled sample data, through qgis_process as a user would script it.

Writes every output into demo-output/ (or the folder given as the first argument), prints one progress line
per step, and ends with index.html there: each result as a quicklook coloured by its QGIS style, with a legend,
what it means for a geologist, and links to the reports and full-resolution files."""
import glob
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plugin_path import ROOT  # noqa: E402  (makes 'prospectra' importable)

DATA = os.path.join(ROOT, "test", "data")
QGIS_PROCESS = os.path.join(ROOT, "scripts", "qgis_process")
sys.path.insert(0, os.path.join(ROOT, "test"))  # the simulated scenes are made by test/data code
import numpy as np  # noqa: E402

import demo_report  # noqa: E402
import validate_cuprite as vc  # noqa: E402
from prospectra.core.io.blocks import RasterWriter  # noqa: E402
from prospectra.core.report.geochem_report import json_path  # noqa: E402


def preset_index(kind, preset_id):
    from prospectra.core.bands.presets import composites, ratios

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


def prepare_cuprite(out, tm, as_oli, outcrops, training):
    """The Cuprite inputs the steps need, and the Tetracorder truth as a styled class raster in out (its path)."""
    from osgeo import gdal

    gdal.UseExceptions()
    gdal.Translate(as_oli, tm, bandList=[1, 1, 2, 3, 4, 5, 6])  # TM1 also stands for OLI B1, which TM lacks
    t = vc.truth()
    north, _ = vc.halves(t, "north")
    for path, classes, per_class, seed, half, at_least in ((outcrops, vc.SAM_POINT_CLASSES, 3, 0, north, 1),
                                                           (training, vc.RF_CLASSES, 60, 1, north, vc.RF_MIN_OUTCROPS)):
        if os.path.exists(path):
            os.remove(path)
        vc.write_points(path, vc.outcrop_points(t, classes, per_class, seed, half, at_least))
    truth = os.path.join(out, "tetracorder_truth.tif")
    codes = [c for c in range(10) if (t == c).any()]
    with RasterWriter(truth, t.shape[1], t.shape[0], 1, np.uint8, (0, 1, 0, 0, 0, 1), "", 255, ["Tetracorder 2 um"]) as w:
        w.set_classes({c: (vc.CODE_NAMES[c], vc.CODE_COLOURS[c]) for c in codes})
        w.write(0, 0, 0, t.astype(np.uint8))
    entries = "".join(f'<paletteEntry value="{c}" color="{vc.CODE_COLOURS[c]}" label="{vc.CODE_NAMES[c]}" alpha="255"/>'
                      for c in codes)
    with open(os.path.splitext(truth)[0] + ".qml", "w") as f:  # the same minimal paletted style QGIS reads
        f.write(f'<qgis><pipe><rasterrenderer type="paletted" band="1" opacity="1"><colorPalette>{entries}'
                f'</colorPalette></rasterrenderer></pipe></qgis>')
    return truth


def sites_by_map_class(class_map, south_map, sites, per_class=30, seed=2):
    """The southern half of a class map (ground it did not learn from), and sites drawn at random within each of
    its classes there, each taking its class from the Tetracorder map as a field visit would: a sample stratified
    by map class."""
    from osgeo import gdal

    t = vc.truth()
    first = vc.split_row(t)
    gdal.Translate(south_map, class_map, srcWin=[0, first, t.shape[1], t.shape[0] - first])
    mapped = vc.read(south_map)
    rng = np.random.default_rng(seed)
    points = []
    for value in np.unique(mapped):
        r, c = np.nonzero(mapped == value)
        # on the scene's pixel grid, where the cut keeps its place (rows from `first` down)
        points += [(int(c[i]), first + int(r[i]), int(t[first + r[i], c[i]]))
                   for i in rng.choice(len(r), min(per_class, len(r)), replace=False)]
    if os.path.exists(sites):
        os.remove(sites)
    vc.write_points(sites, points)


def south_truth(truth, path):
    """The southern half of the Tetracorder map, on the grid of the map's southern half (sites_by_map_class)."""
    from osgeo import gdal

    t = vc.truth()
    gdal.Translate(path, truth, srcWin=[0, vc.split_row(t), t.shape[1], t.shape[0] - vc.split_row(t)])
    shutil.copy(os.path.splitext(truth)[0] + ".qml", os.path.splitext(path)[0] + ".qml")  # styled as the whole map


def report_json(report):
    """The JSON an algorithm writes beside its HTML report."""
    with open(json_path(report)) as f:
        return json.load(f)


def correlation_line(report):
    """What a bandcorrelation report says of significance: the marks of Table 3, then after each correction."""
    result = report_json(report)
    sizes = [b["effective_n"] for b in result["bands"]]
    return (f"Marked at p < 0.05 (Table 3): {', '.join(result['significant_bands']) or 'none'}; after the correction "
            f"for spatial autocorrelation ({min(sizes):.0f}-{max(sizes):.0f} effective samples of "
            f"{result['samples']['used']}): {', '.join(result['significant_bands_dutilleul']) or 'none'}; after "
            f"Holm's for the bands tested: {', '.join(result['significant_bands_holm']) or 'none'}.")


def accuracy_line(report):
    """What an assessaccuracy report says: against sites, the site-based figure and the estimate over the whole
    map; against the Tetracorder raster, the census of every pixel, with the true area of each class."""
    result = report_json(report)
    if result["geometry"] == "raster":
        areas = "; ".join(f"{k['class']} {k['pixels']:,}" for k in result["classes"])
        return (f"Census of all {result['pixels']:,} southern pixels against Tetracorder: overall accuracy "
                f"{result['overall_accuracy']:.3f}, kappa {result['kappa']:.3f}. True area in pixels: {areas}.")
    whole = result["area_weighted"]
    line = f"From {result['sites']} sites: site-based overall accuracy {result['overall_accuracy']:.3f}"
    if not whole:
        return line + ", not estimated over the whole map."
    areas = [f"{k['class']} mapped {k['mapped_pixels']:,}, estimated {k['area_pixels']:,.0f} +/- "
             f"{1.96 * k['area_share_se'] * whole['map_pixels']:,.0f}" for k in whole["classes"]]
    return (f"{line}, area-weighted {whole['overall_accuracy']:.3f} +/- {1.96 * whole['overall_se']:.3f} (95 %). "
            f"Area in pixels: {'; '.join(areas)}.")


def cuprite_agreement(output):
    """One line on how a Cuprite output agrees with the Tetracorder map, or None for other outputs."""
    if not output or not os.path.basename(output).startswith("cuprite_") or not output.endswith(".tif"):
        return None
    t = vc.truth()
    _, south = vc.halves(t, "north")
    name = os.path.basename(output)
    if name.startswith("cuprite_ratio_"):
        which, codes, target = (("2um", vc.AL_OH, "Al-OH alteration") if "5_7" in name else
                                ("1um", (1, 2, 3, 4), "ferric iron"))
        score = vc.score_ratio(vc.read(output).astype(np.float64), vc.truth(which), codes)
        return (f"Against Tetracorder {target}: ROC AUC {score['auc']:.3f}; above the Otsu threshold "
                f"{score['otsu_threshold']:.2f} (from the image alone), F1 {score['f1']:.3f}.")
    if "composite" in name or "natural" in name or "confidence" in name:
        return None
    names = vc.class_names(output)
    # a class's name -> its Tetracorder code: library minerals, Tetracorder's own class names, the taggers' names
    code_of = {**{m: codes[0] for m, codes in vc.TAG_TRUTH.items()}, **{n: c for c, n in vc.CODE_NAMES.items()},
               **vc.TETRACORDER_MINERALS}
    learnt = "sam_outcrops" in name or "_rf" in name
    groups = [names.get(v, "").split(" / ") for v in range(1, max(names) + 1)]
    scores, f = vc._class_scores(vc.read(output), groups, code_of, t, south if learnt else None)
    where = "southern half (not seen in training)" if learnt else "whole scene"
    areas = [f"{n} {row['mapped_pixels']:,} px against {row['true_pixels']:,}" for n, row in scores.items() if row["codes"]]
    return (f"Against Tetracorder, {where}: Al-OH group precision {f['precision']:.3f}, recall {f['recall']:.3f}, "
            f"F1 {f['f1']:.3f}. Mapped against true area: {'; '.join(areas)}.")


def main():
    out = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "demo-output"))
    os.makedirs(out, exist_ok=True)
    start = time.time()
    # Inputs are copied: QGIS writes statistics side files next to rasters it opens.
    scenes = os.path.join(out, "inputs")
    shutil.copytree(DATA, scenes, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.py", "*.md", "*.npy"))
    l1c = sorted(glob.glob(os.path.join(scenes, "sentinel2_l1c", "*.jp2")))
    cuprite = [os.path.join(scenes, "cuprite", "cuprite_tm.tif")]
    cuprite_as_oli = [os.path.join(scenes, "cuprite", "cuprite_as_oli.tif")]
    outcrops = os.path.join(scenes, "cuprite", "outcrops_north.gpkg")
    training = os.path.join(scenes, "cuprite", "training_points_north.gpkg")
    sites = os.path.join(scenes, "cuprite", "sites_south.gpkg")
    truth = prepare_cuprite(out, cuprite[0], cuprite_as_oli[0], outcrops, training)
    from data.simulated_ree import make_ree_scene, write_samples

    gf2_scene = [os.path.join(scenes, "simulated_gf2_ree.tif")]
    samples = os.path.join(scenes, "simulated_ree_samples.gpkg")
    write_samples(samples, make_ree_scene(gf2_scene[0]))
    till = os.path.join(scenes, "IOCG_CLB_Till_Geochem_reg_511p.gpkg")

    def o(name):
        return os.path.join(out, name)

    s2_sensor = {"SENSOR": sensor_index("sentinel2a_msi")}
    # Cuprite: int16 reflectance x 10000 in TM bands 1-5 and 7, named in the file TM1..TM7
    tm = {"SENSOR": sensor_index("landsat5_tm"), "BAND_ORDER": "B1,B2,B3,B4,B5,B7", "SCALING": 5, "SCALE": 0.0001,
          "OFFSET": 0}
    oli = {"SENSOR": sensor_index("landsat8_oli"), "BAND_ORDER": "B1,B2,B3,B4,B5,B6,B7", "SCALING": 5,
           "SCALE": 0.0001, "OFFSET": 0}
    gf2 = {"SENSOR": sensor_index("gf2_pms")}
    minerals = ", ".join(vc.TETRACORDER_MINERALS)
    cuprite_about = ("REAL ground: Cuprite, Nevada, AVIRIS 1995 as Landsat TM bands (western part; no georeference, "
                     "so areas are in pixels of about 17 m).")

    def composite(sensor, preset, name):
        return dict(sensor, OUTPUT=o(name), PRESET=preset_index("composite", preset))

    def ratio(sensor, preset, name):
        return dict(sensor, OUTPUT=o(name), PRESET=preset_index("ratio", preset))

    # (title, algorithm, inputs, parameters with the outputs first, what it means, data and method)
    steps = [
        ("USGS Tetracorder mineral map of Cuprite (the truth)", None, [], {"OUTPUT": truth},
         "What USGS mapped here from 224 AVIRIS bands with Tetracorder: the reference every Cuprite result below is "
         "measured against. Alunite and kaolinite mark the two alteration centres, white mica and carbonate the "
         "rocks around them.",
         "USGS Tetracorder 4.4 (Clark et al. 2003), 2 um group; provenance in test/data/README.md."),
        ("Cuprite natural colour 3-2-1", "bandcomposite", cuprite, composite(tm, "tm_321", "cuprite_natural_colour.tif"),
         "The desert as the eye sees it: pale altered hills in the centre, darker volcanic and sedimentary rock "
         "around. Almost no vegetation, so every pixel is rock or soil.", cuprite_about),
        ("Cuprite SWIR geology 7-4-2", "bandcomposite", cuprite, composite(tm, "tm_742", "cuprite_composite_7_4_2.tif"),
         "Altered rock, whose clays and sulphates absorb in TM7, turns from pink to bluish-white; compare with the "
         "alunite and kaolinite of the truth map.", cuprite_about),
        ("Clay ratio TM 5/7", "bandratio", cuprite, ratio(tm, "tm_5_7", "cuprite_ratio_5_7.tif"),
         "Bright (red) = a 2.2-2.3 um absorption: Al-OH minerals (alunite, kaolinite, white mica) and, weaker here, "
         "carbonate. The one alteration signal six TM bands carry.", cuprite_about + " TM5 / TM7 (Sabins 1999)."),
        ("Iron-oxide ratio TM 3/1", "bandratio", cuprite, ratio(tm, "tm_3_1", "cuprite_ratio_3_1.tif"),
         "Bright (red) = ferric iron (hematite, goethite, jarosite): weathered sulphides and iron-stained rock.",
         cuprite_about + " TM3 / TM1 (Sabins 1999)."),
        ("USGS library at TM resolution", "resamplelibrary", [],
         dict(tm, OUTPUT=o("library_tm.csv"), OUTPUT_PLOT=o("library_tm.png"), SPECTRA=minerals),
         "Thin lines: laboratory spectra of the minerals Tetracorder maps here; dots: what TM records of them. Their "
         "differences lie inside TM7, so TM cannot tell them apart: see the SAM step.",
         "USGS splib07 (Kokaly et al. 2017) through the Landsat TM response curves."),
        ("Spectral Angle Mapper, USGS library", "spectralanglemapper", cuprite,
         dict(tm, OUTPUT=o("cuprite_sam_library.tif"), ENDMEMBERS=minerals, OUTPUT_RULE=o("cuprite_sam_angles.tif"),
              OUTPUT_SUMMARY=o("cuprite_sam_library.csv"), KEEP_APART=True),
         "With its defaults, SAM refuses these seven minerals on TM: left out one sample at a time at this image's "
         "noise level, each is confused with another, so they all join one group and a map could not say which "
         "is where. Here they are kept apart (KEEP_APART), as a user who insists would run it, and the log warns. "
         "Pure laboratory spectra match few real, mixed pixels, and the map puts buddingtonite where USGS finds "
         "none: the reason the default refuses. Grey = no mineral close enough.",
         cuprite_about + " Every USGS sample of each mineral; maximum angles measured on the image."),
        ("Spectral Angle Mapper, image endmembers", "spectralanglemapper", cuprite,
         dict(tm, OUTPUT=o("cuprite_sam_outcrops.tif"), POINTS=outcrops, LABEL_FIELD="class",
              OUTPUT_RULE=o("cuprite_sam_outcrops_angles.tif"),
              OUTPUT_SUMMARY=o("cuprite_sam_outcrops.csv")),
         "The same method with spectra taken from the image at 15 known outcrops in the north (3 per class): the "
         "ground's own spectra match its mixed pixels far better than laboratory ones. Scored on the south.",
         cuprite_about + " outcrops_north.gpkg: pixels of the northern half that Tetracorder maps as one class."),
        ("Random Forest: training", "trainrandomforest", cuprite,
         dict(tm, MODEL=o("cuprite_rf.onnx"), REPORT=o("cuprite_rf_report.html"), TRAINING=training, FIELD="class",
              SEARCH_ITERATIONS=5, MAX_TREES=200),
         "A classifier learnt from 60 labelled points per class in the north. The report's spatially blocked "
         "cross-validation says which classes TM can separate; the map below is scored on the south, which it "
         "never saw.",
         cuprite_about + " training_points_north.gpkg: labels from the Tetracorder map."),
        ("Random Forest: map", "classifyrandomforest", cuprite,
         dict(tm, OUTPUT=o("cuprite_rf.tif"), MODEL=o("cuprite_rf.onnx"), CONFIDENCE=o("cuprite_rf_confidence.tif")),
         "Alteration classes as the forest predicts them; confidence is the share of tree votes.", cuprite_about),
        ("Random Forest map against sites in the south", "assessaccuracy", [],
         dict(REPORT=o("cuprite_rf_accuracy.html"), MAP=o("cuprite_rf_south.tif"), REFERENCE=sites, FIELD="class"),
         "How a geologist checks a map on ground it was not made from: 30 sites drawn at random within each class "
         "the map shows in the south (it learnt from the north), each visited for its true class (here read from "
         "Tetracorder). The report gives the confusion matrix, each class's precision and recall, and, as the "
         "sites are a sample stratified by map class, the accuracy and true area of each class over the whole "
         "southern map. The next step checks that estimate against every southern pixel.",
         cuprite_about + " cuprite_rf_south.tif: the map's southern half; sites_south.gpkg: the sites, with "
         "Tetracorder's class."),
        ("Random Forest map against the Tetracorder map, pixel by pixel", "assessaccuracy", [],
         dict(REPORT=o("cuprite_rf_census.html"), MAP=o("cuprite_rf_south.tif"),
              REFERENCE_RASTER=o("tetracorder_truth_south.tif")),
         "Where a trusted map exists, the same algorithm scores the map against it pixel by pixel, classes met by "
         "name: a census, not a sample. Its overall accuracy and true areas are what the sites above estimated; "
         "the reference map has errors of its own (Tetracorder fitted 224 AVIRIS bands).",
         cuprite_about + " tetracorder_truth_south.tif: the Tetracorder map's southern half, on the grid of "
         "cuprite_rf_south.tif."),
        ("Mineral tagging (CNN)", "tagminerals", cuprite_as_oli,
         dict(oli, OUTPUT=o("cuprite_tags.tif"), OUTPUT_PROBABILITIES=o("cuprite_tag_probabilities.tif"),
              OUTPUT_GRID=o("cuprite_tag_grid.gpkg")),
         "The bundled Landsat tagger, trained on simulated patches only and offering only the minerals Landsat "
         "identified when it was trained (calcite is not among them; by today's measure, which counts pixels "
         "within the noise margin of another mineral, sericite is borderline and the log warns). Compare with "
         "the truth map: the agreement line says how "
         "often it is right here. On real, mixed ground it finds some alunite and rarely tags the white mica: "
         "a screening aid, not a map.",
         cuprite_about + " As OLI: TM 1-5, 7 stand for OLI B2-B7, and TM1 also for OLI B1, which TM lacks."),
        ("Sentinel-2 L1C SWIR geology 12-8A-4", "bandcomposite", l1c,
         dict(composite(s2_sensor, "msi_12_8a_4", "s2_l1c_jp2_composite_12_8a_4.tif"), RESAMPLING=2),
         "The standard geology view built straight from the JPEG 2000 files of a Level-1C product. This 1 km crop "
         "is mostly haze or cloud, bright in every band and so white: check cloud cover before reading colours.",
         "REAL Sentinel-2 L1C, Slovenia: 13 files at 10/20/60 m, bilinear onto 10 m, scaling from MTD_MSIL1C.xml."),
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
         "Which bands track rare-earth content in soil (Spearman and Pearson r): a first screen, with p-values "
         "corrected for spatial autocorrelation (neighbouring samples are alike) and for the bands tested. The "
         "inversion model's held-out blocks, next, decide what the bands carry.",
         "SIMULATED GF-2 scene and 374 soil samples (as Cheng et al. 2023, Table 3): no real REE imagery exists here."),
        ("Content inversion: model comparison", "traininversion", gf2_scene,
         dict(gf2, OUTPUT_REPORT=o("ree_inversion_report.html"), OUTPUT_MODEL=o("ree_inversion.onnx"),
              POINTS=samples, FIELD="RE2O3", MAX_SAMPLES=5000, MODELS=[0, 1, 2, 3, 4]),
         "The paper's CNN and four baselines compared on held-out spatial blocks; RPD above 2 usually counts as good enough for a "
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
        for f in files if alg else []:  # a step without an algorithm shows what was prepared (the truth map)
            if os.path.exists(f):
                os.remove(f)
        t0 = time.time()
        if alg == "assessaccuracy" and "REFERENCE" in params:  # map and sites from the Random Forest map before
            sites_by_map_class(o("cuprite_rf.tif"), params["MAP"], params["REFERENCE"])
        elif alg == "assessaccuracy":
            south_truth(truth, params["REFERENCE_RASTER"])
        error = run(alg, params, inputs) if alg else None
        seconds = time.time() - t0
        agreement = None if error else (accuracy_line(params["REPORT"]) if alg == "assessaccuracy" else
                                        correlation_line(params["OUTPUT_REPORT"]) if alg == "bandcorrelation" else
                                        cuprite_agreement(params.get("OUTPUT")))
        print(f"{seconds:.1f} s" + (f"  FAILED: {error}" if error else "") + (f"  {agreement}" if agreement else ""),
              flush=True)
        sections.append(dict(title=title, meaning=meaning, about=about, files=files, error=error, seconds=seconds,
                             agreement=agreement))
    t0 = time.time()
    intro = (f"<p>Every output of <code>make demo</code> on the bundled sample data, {len(steps)} steps in "
             f"{time.time() - start:.0f} s. Quicklooks are coloured by the <code>.qml</code> style beside each "
             f"GeoTIFF, as QGIS shows it; open the GeoTIFFs in QGIS for full resolution (input data: "
             f"<a href=\"inputs/\">inputs/</a>). Cuprite results are REAL ground, each with its agreement with "
             f"the USGS Tetracorder map (section 1; docs/validation.md has the full figures). Results marked "
             f"SIMULATED come from scenes with a known truth and test the software, not the geology.</p>")
    index = demo_report.write_index(out, sections, "Prospectra demo: results", intro)
    print(f"[index] quicklooks and index ... {time.time() - t0:.1f} s")
    failed = [s["title"] for s in sections if s["error"]]
    print(f"\nDone in {time.time() - start:.0f} s" + (f"; FAILED: {', '.join(failed)}" if failed else "") +
          f"\nOpen {index}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
