"""Inputs an annoyed user gives (issue 15): each ends in an error naming the parameter at fault, every file that
existed is byte-identical afterwards (checksums), and no new file remains."""
import glob
import hashlib
import json
import os
import re
import shutil

import numpy as np
import pytest
from osgeo import gdal, ogr

from conftest import DATA, warnings_feedback
from data.rasters import write_raster
from test_band_algorithms import S2_L2A, SENSORS

TILL = os.path.join(DATA, "IOCG_CLB_Till_Geochem_reg_511p.gpkg")


def checksums(folder):
    out = {}
    for root, _, files in os.walk(folder):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                out[os.path.join(root, f)] = hashlib.sha256(fh.read()).hexdigest()
    return out


@pytest.fixture
def refused(run_fails, tmp_path):
    """refused(alg, params, parameter, *texts): the run fails naming parameter, touches no file, leaves none."""
    def run(alg, params, parameter, *texts):
        before = checksums(tmp_path)
        message = run_fails(alg, params, *texts)
        assert parameter in message, message
        assert checksums(tmp_path) == before, "a file that existed was changed"
        return message

    return run


@pytest.fixture
def s2(tmp_path):
    return shutil.copy(S2_L2A, tmp_path)


@pytest.fixture
def till_json(tmp_path):
    """The real till samples as GeoJSON (the input a report's JSON must never replace)."""
    path = str(tmp_path / "samples.json")
    gdal.VectorTranslate(path, TILL, format="GeoJSON", options=["-limit", "200"])
    return path


def test_report_json_never_replaces_a_json_input_of_the_same_stem(refused, till_json, tmp_path):
    refused("prospectra:kriging", {"INPUT": till_json, "FIELD": "La_ppm_511", "PIXEL_SIZE": 2000,
                                   "EXTENT": "346000,414000,7458000,7540000 [EPSG:3067]",
                                   "OUTPUT_REPORT": str(tmp_path / "samples.html")},
            "OUTPUT_REPORT", "also writes 'samples.json', which is one of the inputs")


def test_resampled_library_over_its_library(refused, tmp_path):
    library = tmp_path / "lib.csv"
    library.write_text("wavelength,rock\n" + "".join(f"{w},{0.2 + w / 10000}\n" for w in range(400, 2501, 10)))
    refused("prospectra:resamplelibrary", {"LIBRARY": str(library), "OUTPUT": str(library),
                                           "SENSOR": SENSORS.index("landsat8_oli")}, "OUTPUT", "is one of the inputs")


def test_sam_summary_over_its_library(refused, s2, tmp_path):
    library = tmp_path / "lib.csv"
    library.write_text("wavelength,rock\n" + "".join(f"{w},{0.2 + w / 10000}\n" for w in range(400, 2501, 10)))
    refused("prospectra:spectralanglemapper", {"INPUT": [s2], "LIBRARY": str(library), "OUTPUT_SUMMARY": str(library)},
            "OUTPUT_SUMMARY", "is one of the inputs")


def test_two_outputs_on_one_path(refused, s2, tmp_path):
    same = str(tmp_path / "same.tif")
    refused("prospectra:bandcomposite", {"INPUT": [s2], "OUTPUT": same, "OUTPUT_8BIT": same},
            "OUTPUT_8BIT", "OUTPUT_8BIT and OUTPUT would both write")
    refused("prospectra:spectralanglemapper", {"INPUT": [s2], "ENDMEMBERS": "Calcite, Hematite", "OUTPUT": same,
                                               "OUTPUT_RULE": same}, "OUTPUT_RULE", "would both write")


def test_non_finite_and_out_of_range_numbers_name_their_parameter(refused, tmp_path):
    dn = write_raster(tmp_path / "dn.tif", np.full((12, 8, 8), 1000, np.uint16), gdal.GDT_UInt16)
    for value in ("nan", "inf", float("nan")):
        refused("prospectra:bandratio", {"INPUT": [dn], "SCALING": 5, "SCALE": value, "OFFSET": 0},
                "SCALE", "is not a finite number")
    # Text in an optional decimal parameter was read as 0 (OFFSET=abc ran as '+ 0', INPUT_NODATA=abc dropped zeros)
    for parameter in ("OFFSET", "INPUT_NODATA"):
        refused("prospectra:bandratio", dict({"INPUT": [dn], "SCALING": 5, "SCALE": 0.0001, "OFFSET": 0},
                                             **{parameter: "abc"}), parameter, "'abc' is not a number")
    # A seed beyond a 32-bit integer became 0 without a word: every larger seed gave the same model.
    refused("prospectra:trainrandomforest", {"INPUT": [dn], "SEED": 2 ** 31}, "SEED", "out of range")


def test_a_scale_that_overflows_reflectance_is_refused(refused, tmp_path):
    dn = write_raster(tmp_path / "dn.tif", np.full((12, 8, 8), 1000, np.uint16), gdal.GDT_UInt16)
    refused("prospectra:bandcomposite", {"INPUT": [dn], "SCALING": 5, "SCALE": 1e39, "OFFSET": 0}, "SCALE",
            "overflow")


def test_an_output_name_too_long_for_the_file_system(refused, s2, tmp_path):
    refused("prospectra:bandratio", {"INPUT": [s2], "OUTPUT": str(tmp_path / ("r" * 244 + ".tif"))},
            "OUTPUT", "longer than 200 bytes")


def test_a_folder_given_as_a_file_output(refused, s2, tmp_path):
    folder = tmp_path / "summary.csv"
    folder.mkdir()
    refused("prospectra:spectralanglemapper", {"INPUT": [s2], "ENDMEMBERS": "Calcite, Hematite",
                                               "OUTPUT_SUMMARY": str(folder)}, "OUTPUT_SUMMARY", "is a folder")


def test_null_labels_among_sam_points_are_skipped_not_a_class(qgis_processing, tmp_path):
    """A NULL label names no class: it is skipped and counted, never mapped as a class named 'NULL'."""
    from data.simulated_minerals import make_scene

    path = str(tmp_path / "scene.tif")
    make_scene(path, "landsat8_oli")
    ds = gdal.Open(path)
    x0, dx, _, y0, _, dy = ds.GetGeoTransform()
    ds = None
    points = tmp_path / "points.geojson"
    features = ",".join(
        f'{{"type":"Feature","properties":{{"rock":{label}}},"geometry":{{"type":"Point","coordinates":'
        f'[{x0 + (c + 0.5) * dx},{y0 + (r + 0.5) * dy}]}}}}'
        for label, (c, r) in (('"calcite"', (4, 4)), ("null", (12, 3)), ('"background"', (30, 20))))
    points.write_text('{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::32633"}},'
                      f'"features":[{features}]}}')
    out = str(tmp_path / "classes.tif")
    qgis_processing.run("prospectra:spectralanglemapper", {
        "INPUT": [path], "SENSOR": SENSORS.index("landsat8_oli"), "POINTS": str(points), "LABEL_FIELD": "rock",
        "OUTPUT": out, "OUTPUT_RULE": None, "OUTPUT_SUMMARY": None})
    ds = gdal.Open(out)
    rat = ds.GetRasterBand(1).GetDefaultRAT()
    names = [rat.GetValueAsString(i, 1) for i in range(rat.GetRowCount())]
    assert "NULL" not in names and set(names) <= {"unclassified", "calcite", "background", "calcite / background"}


LIBRARY_ROWS = "".join(f"{w},{0.2 + w / 10000},{0.3}\n" for w in range(400, 2501, 10))


@pytest.mark.parametrize("name, content", [
    ("ragged.csv", "wavelength,rock,soil\n" + LIBRARY_ROWS + "2510,0.4\n"),
    ("binary.csv", b"\x00\x01\x02\xff\xfe" * 200),
    ("blank_wavelength.csv", "wavelength,rock,soil\n" + LIBRARY_ROWS + ",0.4,0.3\n"),
    ("one_name_twice.csv", "wavelength,rock,Rock\n" + LIBRARY_ROWS),
    ("band_space_name_twice.csv", "band,calcite,calcite\n" + "".join(
        f"{b},0.2,0.3\n" for b in ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12"))),
])
def test_malformed_csv_libraries(refused, s2, tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    refused("prospectra:spectralanglemapper", {"INPUT": [s2], "LIBRARY": str(path), "OUTPUT_RULE": None,
                                               "OUTPUT_SUMMARY": None}, "LIBRARY")


def test_a_latin1_csv_library_is_read_with_its_accents(qgis_processing, s2, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(("wavelength,roche altérée,sol\n" + LIBRARY_ROWS).encode("latin-1"))
    out = str(tmp_path / "classes.tif")
    qgis_processing.run("prospectra:spectralanglemapper", {"INPUT": [s2], "LIBRARY": str(path), "OUTPUT": out,
                                                           "OUTPUT_RULE": None, "OUTPUT_SUMMARY": None})
    ds = gdal.Open(out)
    rat = ds.GetRasterBand(1).GetDefaultRAT()
    assert "roche altérée" in [rat.GetValueAsString(i, 1) for i in range(rat.GetRowCount())]


ENVI_HEADER = ("ENVI\nsamples = 211\nlines = 2\nbands = 1\nheader offset = {offset}\nfile type = ENVI Spectral Library\n"
               "data type = 4\nbyte order = 0\nwavelength units = Nanometers\nreflectance scale factor = {factor}\n"
               "spectra names = {{{names}}}\nwavelength = {{{wavelengths}}}\n")


@pytest.mark.parametrize("offset, factor, names, bad_wavelength", [
    (0, "1", "rock, soil", "abc"), (0, "one", "rock, soil", None), (0, "1", "rock, soil, leaf", None),
    (-8, "1", "rock, soil", None), (0, "1", "rock, soil", "nan"), (10 ** 20, "1", "rock, soil", None),
    (10 ** 6, "1", "rock, soil", None), (0, "1", "rock, rock", None)])
def test_malformed_envi_libraries(refused, s2, tmp_path, offset, factor, names, bad_wavelength):
    wavelengths = [str(w) for w in range(400, 2510, 10)]
    if bad_wavelength:
        wavelengths[5] = bad_wavelength
    sli = tmp_path / "lib.sli"
    np.full((2, 211), 0.3, np.float32).tofile(sli)
    (tmp_path / "lib.hdr").write_text(ENVI_HEADER.format(offset=offset, factor=factor, names=names,
                                                         wavelengths=", ".join(wavelengths)))
    refused("prospectra:spectralanglemapper", {"INPUT": [s2], "LIBRARY": str(sli), "OUTPUT_RULE": None,
                                               "OUTPUT_SUMMARY": None}, "LIBRARY", "lib.hdr")


@pytest.mark.parametrize("bad", ['REFLECTANCE_MULT_BAND_3 = "abc"', 'SUN_ELEVATION = nan'])
def test_landsat_metadata_with_non_numeric_values(refused, tmp_path, bad):
    cube = np.full((7, 8, 8), 9000, np.uint16)
    path = write_raster(tmp_path / "LC08_L1TP_TEST_B1-7.tif", cube, gdal.GDT_UInt16, crs=32633,
                        descriptions=[f"B{i}" for i in range(1, 8)])
    lines = [f"REFLECTANCE_MULT_BAND_{i} = 2.0E-05\nREFLECTANCE_ADD_BAND_{i} = -0.1" for i in range(1, 8)]
    text = "\n".join(lines) + "\nSUN_ELEVATION = 45.0\n"
    key = bad.split(" = ")[0]
    text = "\n".join(bad if line.startswith(key + " ") else line for line in text.splitlines())
    (tmp_path / "LC08_L1TP_TEST_MTL.txt").write_text(text)
    refused("prospectra:bandratio", {"INPUT": [path], "SENSOR": SENSORS.index("landsat8_oli")}, "SCALING",
            "LC08_L1TP_TEST_MTL.txt", "not a number")


def test_sentinel2_metadata_with_a_non_numeric_quantification(refused, tmp_path):
    path = write_raster(tmp_path / "s2.tif", np.full((12, 8, 8), 2000, np.uint16), gdal.GDT_UInt16, crs=32633)
    (tmp_path / "MTD_MSIL2A.xml").write_text("<root><BOA_QUANTIFICATION_VALUE>ten thousand"
                                             "</BOA_QUANTIFICATION_VALUE></root>")
    refused("prospectra:bandratio", {"INPUT": [path]}, "SCALING", "MTD_MSIL2A.xml", "not a number")


def tagging(tmp_path, cube=None, patch=4, meta=None, **outputs):
    """tagminerals' parameters: a closed-form model of patch pixels with extra metadata meta, on cube (default a
    uniform 7-band 16 x 16 scene) as Landsat-8 bands; optional outputs unset unless given."""
    from data.tagging_scene import OLI
    from data.tiny_models import band_mean_model

    cube = np.full((7, 16, 16), 0.2, np.float32) if cube is None else cube
    return {"INPUT": [write_raster(tmp_path / "l8.tif", cube, crs=32633, descriptions=OLI)],
            "SENSOR": SENSORS.index("landsat8_oli"), "MODEL_FILE": band_mean_model(tmp_path / "model.onnx", OLI, patch,
                                                                                   extra_meta=meta),
            "OUTPUT_PROBABILITIES": None, "OUTPUT_GRID": None, **outputs}


@pytest.mark.parametrize("meta", [{"colours": "red, green"}, {"threshold": "high"}, {"threshold": "nan"},
                                  {"bands": "B1,B1,B3,B4,B5,B6,B7"}])
def test_model_metadata_that_is_not_json_or_not_a_number(refused, tmp_path, meta):
    refused("prospectra:tagminerals", tagging(tmp_path, meta=meta), "MODEL", "malformed")


@pytest.mark.parametrize("normalisation", ['{"mean": 0.2, "std": 0.1}',
                                           '{"mean": [0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2], "std": [NaN, 1, 1, 1, 1, 1, 1]}'])
def test_model_normalisation_that_is_not_one_finite_number_per_band(refused, tmp_path, normalisation):
    """A scalar mean ended in a traceback (len() of a number); a NaN std made every pixel nodata, and the run said
    no patch was free of nodata."""
    refused("prospectra:tagminerals", tagging(tmp_path, meta={"normalisation": normalisation}), "MODEL_FILE",
            "the normalisation needs one finite mean")


@pytest.mark.parametrize("name", ["grid", "grid.xyz"])
def test_a_vector_output_without_a_format_extension(refused, tmp_path, name):
    """QGIS writes such a name as grid.gpkg; the run would have reported a file that does not exist."""
    refused("prospectra:tagminerals", tagging(tmp_path, OUTPUT_GRID=str(tmp_path / name)), "OUTPUT_GRID",
            "does not end in the extension of a vector format QGIS writes")


def test_no_file_is_written_beside_the_inputs_nor_into_them(qgis_processing, tmp_path):
    """QGIS loads each input as a layer to check and resolve it, and computes statistics for the new layer's
    stretch; GDAL wrote them beside the user's raster when the layer was dropped (here a 0.5 MB .aux.xml), and into
    a VRT input itself (its statistics and a 4096-bucket histogram per band). The folder of the inputs is left as it
    was, byte for byte."""
    import gc

    inputs, out = tmp_path / "inputs", tmp_path / "out"
    inputs.mkdir(), out.mkdir()
    names = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12"]
    scene = write_raster(inputs / "scene.tif", np.random.default_rng(0).uniform(0.05, 0.5, (12, 64, 64))
                         .astype(np.float32), crs=32633, descriptions=names)
    vrt = str(inputs / "scene.vrt")
    gdal.Translate(vrt, scene, format="VRT")
    before = checksums(inputs)
    for source in (scene, vrt):
        qgis_processing.run("prospectra:bandratio", {"INPUT": [source], "OUTPUT": str(out / "ratio.tif")})
        qgis_processing.run("prospectra:bandcomposite", {"INPUT": [source], "OUTPUT": str(out / "rgb.tif")})
    gc.collect()  # the layers QGIS loaded are dropped with their context
    assert checksums(inputs) == before and len(before) == 2


def test_a_file_listed_beside_a_layer_of_the_project_is_not_loaded(qgis_processing, tmp_path):
    """One band a layer of the project (by its id), the others file paths: the run loaded every path as a layer to
    read its source, and GDAL left an .aux.xml of its statistics beside each band file."""
    import gc

    from qgis.core import QgsProject, QgsRasterLayer

    inputs = tmp_path / "inputs"
    inputs.mkdir()
    names = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12"]
    rng = np.random.default_rng(0)
    bands = [write_raster(inputs / f"band_{n}.tif", rng.uniform(0.05, 0.5, (1, 32, 32)).astype(np.float32),
                          crs=32633) for n in names]
    before = checksums(inputs)
    layer = QgsRasterLayer(bands[0], "B1")
    QgsProject.instance().addMapLayer(layer)
    try:
        qgis_processing.run("prospectra:bandratio", {"INPUT": [layer.id(), *bands[1:]], "SENSOR": 2,
                                                     "OUTPUT": str(tmp_path / "ratio.tif")})
        gc.collect()  # the layers QGIS loaded are dropped with their context
        assert checksums(inputs) == before
    finally:
        QgsProject.instance().removeMapLayer(layer.id())


def test_qgis_process_writes_nothing_beside_the_inputs_nor_into_them(qgis_process, tmp_path):
    """qgis_process checks every parameter before anything else runs, and loaded each raster input as a layer to do
    so: the layer's statistics went into a VRT input and beside a GeoTIFF (.aux.xml) when the process ended. Every
    raster parameter kind (a list of layers, one layer, an optional one) is checked here with a VRT and a GeoTIFF;
    the folder of the inputs is left as it was, byte for byte."""
    inputs, out = tmp_path / "inputs", tmp_path / "out"
    inputs.mkdir(), out.mkdir()
    rng = np.random.default_rng(0)
    names = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12"]
    scene = write_raster(inputs / "scene.tif", rng.uniform(0.05, 0.5, (12, 64, 64)).astype(np.float32), crs=32633,
                         descriptions=names)
    classes = write_raster(inputs / "classes.tif", rng.integers(1, 4, (1, 64, 64)).astype(np.uint8), crs=32633)
    grid = write_raster(inputs / "grid.tif", np.zeros((1, 12, 10), np.float32), crs=3067,
                        geotransform=(352000, 5000, 0, 7530000, 0, -5000))
    vrts = {}
    for path in (scene, classes, grid):
        vrts[path] = path[:-4] + ".vrt"
        gdal.Translate(vrts[path], path, format="VRT")
    before = checksums(inputs)
    for source in (scene, vrts[scene]):
        qgis_process("run", "prospectra:bandratio", "--", f"INPUT={source}", "SENSOR=2", f"OUTPUT={out / 'r.tif'}")
    qgis_process("run", "prospectra:assessaccuracy", "--", f"MAP={vrts[classes]}", f"REFERENCE_RASTER={classes}",
                 f"REPORT={out / 'a.html'}")
    qgis_process("run", "prospectra:assessaccuracy", "--", f"MAP={classes}", f"REFERENCE_RASTER={vrts[classes]}",
                 f"REPORT={out / 'a.html'}")
    for reference in (grid, vrts[grid]):
        qgis_process("run", "prospectra:kriging", "--", f"INPUT={TILL}", "FIELD=La_ppm_511", f"REFERENCE={reference}",
                     f"OUTPUT={out / 'k.tif'}")
    assert checksums(inputs) == before and len(before) == 6


def test_qgis_process_refuses_a_raster_beside_a_bad_value_without_loading_it(qgis_process, tmp_path):
    """A raster file listed with a missing file or a folder, or given with QGIS layer options ('x.vrt|option:...'):
    the parameter check loaded the file as a layer, so the VRT was rewritten with its statistics and an .aux.xml
    left beside the GeoTIFF; the message was 'Incorrect parameter value for INPUT', or for the options that the
    file 'does not exist'. Now each names the parameter and the value at fault, and the inputs are as they were."""
    inputs, out = tmp_path / "inputs", tmp_path / "out"
    inputs.mkdir(), out.mkdir()
    names = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12"]
    scene = write_raster(inputs / "scene.tif", np.random.default_rng(0).uniform(0.05, 0.5, (12, 32, 32)).astype(
        np.float32), crs=32633, descriptions=names)
    vrt = scene[:-4] + ".vrt"
    gdal.Translate(vrt, scene, format="VRT")
    missing, folder = str(inputs / "missing.tif"), str(tmp_path / "folder.tif")
    os.mkdir(folder)
    before = checksums(inputs)
    ratio = ("run", "prospectra:bandratio", "--", "SENSOR=2", f"OUTPUT={out / 'r.tif'}")
    for args, *expected in [
            ((*ratio, f"INPUT={scene}", f"INPUT={missing}"), f"INPUT: '{missing}' does not exist"),
            ((*ratio, f"INPUT={vrt}", f"INPUT={missing}"), f"INPUT: '{missing}' does not exist"),
            ((*ratio, f"INPUT={vrt}", f"INPUT={folder}"), f"INPUT: '{folder}' is a folder"),
            ((*ratio, f"INPUT={vrt}|option:NUM_THREADS=1"), "INPUT: ", "adds layer options after '|'"),
            (("run", "prospectra:assessaccuracy", "--", f"MAP={scene}", f"REFERENCE_RASTER={vrt}|option:X=1",
              f"REPORT={out / 'a.html'}"), "REFERENCE_RASTER: ", "adds layer options after '|'")]:
        proc = qgis_process(*args, check=False)
        assert proc.returncode != 0 and all(text in proc.stderr for text in expected), proc.stderr
        assert "Traceback" not in proc.stderr and not os.listdir(out), proc.stderr
        assert checksums(inputs) == before, args


def test_a_raster_parameter_clone_checks_files_unloaded_as_the_original(qgis_processing, tmp_path):
    """QGIS clones parameters (a model's child algorithm, the toolbox): a clone keeps Prospectra's class, and with it
    the check that does not load a file (no layer in the context's store), and every property QGIS shows or saves."""
    from qgis.core import QgsApplication, QgsProcessingContext

    from prospectra.algorithms.parameters import RasterInput, RasterInputs

    path = write_raster(tmp_path / "one.tif", np.ones((1, 4, 4), np.float32), crs=32633)
    cloned = set()
    for algorithm in QgsApplication.processingRegistry().providerById("prospectra").algorithms():
        for original in algorithm.parameterDefinitions():
            if not isinstance(original, (RasterInput, RasterInputs)):
                continue
            copy = original.clone()
            assert type(copy) is type(original) and copy.asScriptCode() == original.asScriptCode()
            assert (copy.flags(), copy.help(), copy.metadata(), copy.defaultValue()) == \
                (original.flags(), original.help(), original.metadata(), original.defaultValue())
            context = QgsProcessingContext()
            assert copy.checkValueIsAcceptable([path] if isinstance(copy, RasterInputs) else path, context)
            assert not context.temporaryLayerStore().count()
            cloned.add((algorithm.name(), original.name()))
    assert {("bandratio", "INPUT"), ("classifyrandomforest", "EXTRA_FEATURES"), ("assessaccuracy", "MAP"),
            ("assessaccuracy", "REFERENCE_RASTER"), ("kriging", "REFERENCE")} <= cloned


def test_a_raster_truncated_after_its_header(refused, tmp_path):
    cube = np.random.default_rng(0).uniform(0.05, 0.5, (12, 600, 600)).astype(np.float32)
    path = write_raster(tmp_path / "cut.tif", cube, crs=32633)
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
    refused("prospectra:bandratio", {"INPUT": [path]}, "INPUT", "damaged or truncated")


def test_a_cancelled_run_keeps_every_earlier_output_and_leaves_no_new_one(qgis_processing, s2, tmp_path):
    """Outputs that existed (a class map and its summary from an earlier run) come back byte for byte; the tag grid
    QGIS creates before the run starts does not stay."""
    from qgis.core import QgsProcessingException

    from conftest import cancel_above
    from data.tiny_models import band_mean_model

    bands = ["B1", "B2", "B3", "B4", "B5", "B6", "B7"]
    model = band_mean_model(tmp_path / "model.onnx", bands, 4)
    cube = np.random.default_rng(0).uniform(0.05, 0.5, (7, 600, 600)).astype(np.float32)
    scene = write_raster(tmp_path / "l8.tif", cube, crs=32633, descriptions=bands)
    old_tags = write_raster(tmp_path / "tags.tif", np.ones((1, 8, 8), np.uint8))
    (tmp_path / "tags.qml").write_text("<qgis>an earlier style</qgis>")
    before = checksums(tmp_path)
    with pytest.raises(QgsProcessingException, match="Canceled"):
        qgis_processing.run("prospectra:tagminerals", {
            "INPUT": [scene], "SENSOR": SENSORS.index("landsat8_oli"), "MODEL_FILE": model, "OUTPUT": old_tags,
            "OUTPUT_PROBABILITIES": str(tmp_path / "probabilities.tif"), "OUTPUT_GRID": str(tmp_path / "grid.gpkg")},
            feedback=cancel_above(30))
    assert checksums(tmp_path) == before


def test_a_killed_runs_leftovers_are_undone_by_the_next_run(qgis_processing, s2, tmp_path):
    """A run killed outright leaves its kept-aside original, its mark on the output it was writing and its
    temporary files; the next run writing into the folder puts the original back and removes the temporary files
    (their process no longer exists)."""
    from prospectra.core.io.blocks import process_tag

    dead = process_tag().rsplit("-", 1)[0] + f"-{2 ** 22 + 12345}"  # this host; above Linux's pid_max: no such process
    elsewhere = f"otherhost-{2 ** 22 + 12345}"  # a process of another host sharing the folder: never touched
    original = b"the user's own file"
    (tmp_path / f".ratio.tif.{dead}.kept").write_bytes(original)
    (tmp_path / "ratio.tif").write_bytes(b"half of a killed run's output")
    record = tmp_path / f".prospectra.{dead}.0123abcd.transaction"  # not committed: its record is still there
    (tmp_path / f".ratio.tif.{dead}.writing").write_text(str(record))
    record.write_text(str(tmp_path / f".ratio.tif.{dead}.writing"))
    (tmp_path / f".ratio.tif.{dead}.0123abcd.part.tif").write_bytes(b"partial")
    (tmp_path / f".report.html.{dead}.89abcdef.part").write_bytes(b"partial")
    (tmp_path / f".grid.gpkg.{dead}.0123abcd.part.gpkg").write_bytes(b"partial")
    (tmp_path / f".grid.gpkg.{dead}.0123abcd.part.gpkg-journal").write_bytes(b"its journal")
    (tmp_path / f".theirs.tif.{elsewhere}.89abcdef.part.tif").write_bytes(b"another host is writing this")
    qgis_processing.run("prospectra:bandratio", {"INPUT": [s2], "OUTPUT": str(tmp_path / "other.tif")})
    assert (tmp_path / "ratio.tif").read_bytes() == original
    assert [f for f in os.listdir(tmp_path) if f.startswith(".")] == [f".theirs.tif.{elsewhere}.89abcdef.part.tif"]


KRIGE = {"FIELD": "La_ppm_511", "PIXEL_SIZE": 2000, "EXTENT": "346000,414000,7458000,7540000 [EPSG:3067]"}


def test_kriging_blames_the_parameter_at_fault(refused, till_json, tmp_path):
    refused("prospectra:kriging", dict(KRIGE, INPUT=till_json, VARIOGRAM_MODEL=4,
                                       VARIOGRAM_PARAMETERS="sill=-5, range=40000, nugget=1"),
            "VARIOGRAM_PARAMETERS", "sill=-5")
    far = dict(KRIGE, INPUT=till_json, EXTENT="-5000000,-4990000,1000000,1010000 [EPSG:3067]")
    refused("prospectra:kriging", far, "EXTENT", "none of the", "samples of INPUT lies in or near the grid")
    # every geometry null, in a GeoJSON that names its CRS: it was blamed on a missing coordinate system
    nowhere = tmp_path / "nowhere.json"
    nowhere.write_text(json.dumps({"type": "FeatureCollection", "crs": {"type": "name", "properties": {
        "name": "urn:ogc:def:crs:EPSG::3067"}}, "features": [{"type": "Feature", "geometry": None, "properties": {
            "La_ppm_511": 10.0 + i}} for i in range(12)]}))
    refused("prospectra:kriging", dict(KRIGE, INPUT=str(nowhere)), "INPUT",
            "none of the layer's 12 features has a geometry")


def test_kriging_refuses_a_value_that_is_no_measurement(refused, tmp_path):
    path = str(tmp_path / "huge.json")
    gdal.VectorTranslate(path, TILL, format="GeoJSON", options=["-limit", "60"])
    with open(path) as f:
        text = f.read()
    value = re.search(r'"La_ppm_511":\s*([^,}]+)', text)  # GDAL's GeoJSON spacing differs between versions
    with open(path, "w") as f:
        f.write(text[:value.start(1)] + "1e300" + text[value.end(1):])
    refused("prospectra:kriging", dict(KRIGE, INPUT=path), "FIELD", "1e+300, which is no measurement")


def test_a_plot_name_matplotlib_cannot_write(refused, tmp_path):
    refused("prospectra:resamplelibrary", {"OUTPUT": str(tmp_path / "lib.csv"), "OUTPUT_PLOT": str(tmp_path / "lib.xyz")},
            "OUTPUT_PLOT", "no image format matplotlib writes")


def test_nan_infinity_and_fill_values_are_nodata_in_every_output(qgis_processing, tmp_path):
    """A float scene with NaN, infinite and -3.4e38 (a common fill value) patches and no nodata value declared:
    those pixels are nodata in the composite (float and 8-bit) and the ratio, the stretch and its style are
    finite, and every other pixel is mapped."""
    source = gdal.Open(S2_L2A)  # kept open while its bands are read: GDAL frees them with the dataset
    cube = source.ReadAsArray().astype(np.float32)
    cube[:, :20, :20] = np.nan
    cube[:, 30:40, 30:40] = np.inf
    cube[:, 50:60, 50:60] = np.float32(-3.4e38)
    bad = np.zeros(cube.shape[1:], bool)
    bad[:20, :20] = bad[30:40, 30:40] = bad[50:60, 50:60] = True
    names = [source.GetRasterBand(i + 1).GetDescription() for i in range(12)]
    scene = write_raster(tmp_path / "filled.tif", cube, descriptions=names)
    out = {k: str(tmp_path / f"{k}.tif") for k in ("float", "byte", "ratio")}
    qgis_processing.run("prospectra:bandcomposite", {"INPUT": [scene], "OUTPUT": out["float"], "OUTPUT_8BIT": out["byte"]})
    qgis_processing.run("prospectra:bandratio", {"INPUT": [scene], "OUTPUT": out["ratio"]})
    for key, path in out.items():
        ds = gdal.Open(path)
        values = ds.ReadAsArray()
        values = values if values.ndim == 3 else values[None]
        nodata = ds.GetRasterBand(1).GetNoDataValue()
        assert np.isfinite(values).all(), key
        assert (values == nodata).all(axis=0)[bad].all() and not (values == nodata).any(axis=0)[~bad].all(), key
        if key != "ratio":  # the ratio's denominator may be zero elsewhere; the composite maps every other pixel
            assert not (values == nodata).any(axis=0)[~bad].any(), key
    assert ">nan<" not in (tmp_path / "float.qml").read_text()


# ---- a second sweep: inputs found by trying to break every raster algorithm again ----------------------------

def test_a_complex_raster_is_refused(refused, tmp_path):
    cube = (np.full((12, 8, 8), 0.2) + 0.1j).astype(np.complex64)
    path = write_raster(tmp_path / "complex.tif", cube, gdal.GDT_CFloat32)
    refused("prospectra:bandratio", {"INPUT": [path]}, "INPUT", "complex numbers")


def test_an_output_folder_nobody_can_write_in(refused, s2):
    """/proc or /sys takes no new file, even from root, for whom permission bits say nothing (a chroot may have
    neither mounted: then there is no such folder to try)."""
    from prospectra.core.io.blocks import _writable

    folder = next((f for f in ("/proc", "/sys") if os.path.isdir(f) and not _writable(f)), None)
    if folder is None:
        pytest.skip("no folder here refuses new files")
    refused("prospectra:bandratio", {"INPUT": [s2], "OUTPUT": f"{folder}/ratio.tif"}, "OUTPUT", "is not writable")


def test_no_output_replaces_an_inputs_style_or_gdal_sidecar(refused, s2, tmp_path):
    style = tmp_path / "sen2_rstoolbox_12band.qml"
    # Where the input has no style, an output's style there would become the one QGIS loads with the input.
    assert os.path.dirname(s2) == str(tmp_path) and not style.exists()
    refused("prospectra:bandcomposite", {"INPUT": [s2], "OUTPUT": str(tmp_path / "c.tif"),
                                         "OUTPUT_8BIT": str(tmp_path / "sen2_rstoolbox_12band.tiff")},
            "OUTPUT_8BIT", "the style or GDAL sidecar QGIS reads with the input")
    style.write_text("<qgis>the user's own style</qgis>")
    refused("prospectra:bandratio", {"INPUT": [s2], "OUTPUT": str(tmp_path / "sen2_rstoolbox_12band.tiff")},
            "OUTPUT", "the style or GDAL sidecar QGIS reads with the input")
    refused("prospectra:spectralanglemapper", {"INPUT": [s2], "ENDMEMBERS": "Calcite, Hematite",
                                               "OUTPUT_SUMMARY": s2 + ".aux.xml"},
            "OUTPUT_SUMMARY", "the style or GDAL sidecar QGIS reads with the input")


def test_a_map_named_after_its_model_can_be_made_again(qgis_processing, tmp_path):
    """The .qml beside a model x.onnx is no style of the model (a model is no layer) but that of the map x.tif an
    earlier run made with it: a second run into x.tif replaces it (it was refused, as the demo's second run was)."""
    from data.tiny_models import band_mean_model

    bands = ["B1", "B2", "B3", "B4", "B5", "B6", "B7"]
    model = band_mean_model(tmp_path / "tags.onnx", bands, 4)
    cube = np.random.default_rng(0).uniform(0.05, 0.5, (7, 64, 64)).astype(np.float32)
    scene = write_raster(tmp_path / "l8.tif", cube, crs=32633, descriptions=bands)
    run = {"INPUT": [scene], "SENSOR": SENSORS.index("landsat8_oli"), "MODEL_FILE": model,
           "OUTPUT": str(tmp_path / "tags.tif")}
    qgis_processing.run("prospectra:tagminerals", run)
    assert (tmp_path / "tags.qml").exists()
    qgis_processing.run("prospectra:tagminerals", run)
    assert (tmp_path / "tags.tif").exists()


def test_sam_points_that_are_not_points_or_lack_the_label_field(refused, s2, tmp_path):
    lines = tmp_path / "lines.geojson"
    lines.write_text('{"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "EPSG:4326"}}, '
                     '"features": [{"type": "Feature", "properties": {"rock": "a"}, "geometry": {"type": '
                     '"LineString", "coordinates": [[-50.65, -3.57], [-50.64, -3.58]]}}]}')
    refused("prospectra:spectralanglemapper", {"INPUT": [s2], "POINTS": str(lines), "LABEL_FIELD": "rock"},
            "POINTS", "is not a point layer")
    points = tmp_path / "points.geojson"
    points.write_text(lines.read_text().replace('"LineString", "coordinates": [[-50.65, -3.57], [-50.64, -3.58]]',
                                                '"Point", "coordinates": [-50.65, -3.57]'))
    refused("prospectra:spectralanglemapper", {"INPUT": [s2], "POINTS": str(points), "LABEL_FIELD": "nosuch"},
            "LABEL_FIELD", "'nosuch' is not a field of POINTS (its fields: rock)")


def test_sam_bands_one_band_or_a_band_twice(refused, s2):
    sam = {"INPUT": [s2], "ENDMEMBERS": "Calcite, Kaolinite", "KEEP_APART": True}
    refused("prospectra:spectralanglemapper", dict(sam, BANDS="B11"), "BANDS", "at least 2 bands")
    refused("prospectra:spectralanglemapper", dict(sam, BANDS="B11, B11, B12"), "BANDS", "B11 is listed more than once")


def test_sam_class_angles_that_name_a_class_twice(refused, s2):
    refused("prospectra:spectralanglemapper", {"INPUT": [s2], "ENDMEMBERS": "Calcite, Hematite",
                                               "CLASS_ANGLES": "Calcite=0.1; calcite=0.2"},
            "CLASS_ANGLES", "calcite is given more than one angle")


def test_sam_library_with_one_spectrum_under_two_names(refused, s2, tmp_path):
    """'Alpha2x' is 'Alpha' doubled: the same shape, which SAM cannot tell apart (the second class never won)."""
    library = tmp_path / "lib.csv"
    library.write_text("wavelength,Alpha,Alpha2x,Beta\n" + "".join(
        f"{w},{0.1 + w / 10000:.4f},{2 * (0.1 + w / 10000):.4f},{0.5 - w / 10000:.4f}\n" for w in range(400, 2501, 10)))
    refused("prospectra:spectralanglemapper", {"INPUT": [s2], "LIBRARY": str(library)}, "LIBRARY",
            "'Alpha' and 'Alpha2x' have the same spectral shape in these bands")


@pytest.mark.parametrize("content, expected", [
    ("wavelength,rock\n" + "".join(f"{w},0.3\n" for w in range(400, 2501, 10)) + "1600,0.9\n",
     "the wavelength 1600 nm appears more than once"),
    ("wavelength,,soil\n" + "".join(f"{w},0.3,0.2\n" for w in range(400, 2501, 10)), "column 2 has no name"),
    ("rock,soil\n" + "".join(f"{0.05 + w / 5000:.3f},0.2\n" for w in range(400, 2501, 10)),
     "which no reflectance spectrum covers"),
])
def test_csv_libraries_whose_wavelengths_cannot_be(refused, s2, tmp_path, content, expected):
    library = tmp_path / "lib.csv"
    library.write_text(content)
    refused("prospectra:spectralanglemapper", {"INPUT": [s2], "LIBRARY": str(library)}, "LIBRARY", expected)
    refused("prospectra:resamplelibrary", {"LIBRARY": str(library), "SENSOR": SENSORS.index("landsat8_oli"),
                                           "OUTPUT": str(tmp_path / "out.csv")}, "LIBRARY", expected)


def test_envi_library_in_nanometres_declared_as_micrometres(refused, s2, tmp_path):
    wavelengths = np.arange(400.0, 2501.0, 10.0)
    np.full((1, wavelengths.size), 0.3, np.float32).tofile(tmp_path / "lib.sli")
    (tmp_path / "lib.hdr").write_text(f"ENVI\nsamples = {wavelengths.size}\nlines = 1\nbands = 1\nheader offset = 0\n"
                                      f"data type = 4\nbyte order = 0\nwavelength units = Micrometers\n"
                                      f"spectra names = {{rock}}\nwavelength = {{{', '.join(map(str, wavelengths))}}}\n")
    refused("prospectra:spectralanglemapper", {"INPUT": [s2], "LIBRARY": str(tmp_path / "lib.sli")}, "LIBRARY",
            "which no reflectance spectrum covers")


def test_a_model_without_metadata_declared_wrongly(refused, tmp_path):
    from data.tiny_models import band_mean_model

    bands = ["B1", "B2", "B3", "B4", "B5", "B6", "B7"]
    path = write_raster(tmp_path / "l8.tif", np.full((7, 16, 16), 0.2, np.float32), crs=32633, descriptions=bands)
    bare = band_mean_model(tmp_path / "bare.onnx", bands, 4, metadata=False)
    tag = {"INPUT": [path], "SENSOR": SENSORS.index("landsat8_oli"), "MODEL_FILE": bare, "OUTPUT_GRID": None,
           "OUTPUT_PROBABILITIES": None}
    refused("prospectra:tagminerals", dict(tag, MODEL_BANDS="B1,B1,B2,B3,B4,B5,B6", MODEL_PATCH_SIZE=4),
            "MODEL_BANDS", "B1 is listed more than once")
    refused("prospectra:tagminerals", dict(tag, MODEL_BANDS="B1,B2,B3", MODEL_PATCH_SIZE=4),
            "MODEL_BANDS", "takes 7 for its bands, not 3")
    refused("prospectra:tagminerals", dict(tag, MODEL_BANDS=",".join(bands), MODEL_PATCH_SIZE=8),
            "MODEL_PATCH_SIZE", "takes 4 for its patch size, not 8")
    refused("prospectra:tagminerals", dict(tag, MODEL_BANDS=",".join(bands)), "MODEL_PATCH_SIZE", "patch size")


def test_a_symlinked_companion_stays_a_link_after_a_failed_run(refused, s2, tmp_path):
    """The transaction keeps an existing output's companions aside and puts them back on failure: a link the user
    made is put back as that link, not as a copy of the file it points to."""
    target = tmp_path / "my_style.qml"
    target.write_text("<qgis>shared style</qgis>")
    out = tmp_path / "out"
    out.mkdir()
    (out / "ratio.qml").symlink_to(target)
    refused("prospectra:bandratio", {"INPUT": [s2], "PRESET": 0, "NUMERATOR": "B11", "DENOMINATOR": "B13",
                                     "OUTPUT": str(out / "ratio.tif")}, "DENOMINATOR")
    assert os.path.islink(out / "ratio.qml") and os.readlink(out / "ratio.qml") == str(target)


def test_kriging_grids_and_variograms_that_cannot_be(refused, till_json):
    refused("prospectra:kriging", dict(KRIGE, INPUT=till_json, PIXEL_SIZE=0.5), "PIXEL_SIZE",
            "at most 100,000 a side and 1,000,000,000 in all")  # 136000 x 164000: 22 Gpx, refused before any work
    power = dict(KRIGE, INPUT=till_json, VARIOGRAM_MODEL=2)
    refused("prospectra:kriging", dict(power, VARIOGRAM_PARAMETERS="scale=1, exponent=3, nugget=0"),
            "VARIOGRAM_PARAMETERS", "valid for exponents above 0 and below 2")
    refused("prospectra:kriging", dict(KRIGE, INPUT=till_json, VARIOGRAM_MODEL=4,
                                       VARIOGRAM_PARAMETERS="sill=10, sill=20, range=5000, nugget=1"),
            "VARIOGRAM_PARAMETERS", "sill is given more than once")


def test_a_scene_extent_off_the_globe(refused, tmp_path):
    """Refused before any search, so no catalogue is needed (the address answers nothing)."""
    for extent in ("500,600,100,200 [EPSG:4326]", "10,10.1,-95,-94 [EPSG:4326]"):
        refused("prospectra:loadscene", {"CATALOGUE": 3, "CATALOGUE_URL": "http://127.0.0.1:9/", "EXTENT": extent,
                                         "START_DATE": "2023-06-01", "END_DATE": "2023-07-01",
                                         "OUTPUT": str(tmp_path / "scene.tif")}, "EXTENT", "UTM")


def test_polygons_where_point_samples_are_read(refused, tmp_path):
    """Each vertex of a polygon was taken as a sample (the closing one twice); now the layer is refused."""
    from osgeo import ogr, osr

    path = str(tmp_path / "squares.gpkg")
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(path)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(3067)
    layer = ds.CreateLayer("squares", srs, ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("value", ogr.OFTReal))
    for i in range(20):
        x, y = 360000 + 1500 * (i % 7), 7480000 + 1700 * (i // 7)
        f = ogr.Feature(layer.GetLayerDefn())
        f.SetGeometry(ogr.CreateGeometryFromWkt(f"POLYGON (({x} {y}, {x + 8} {y}, {x + 8} {y + 8}, {x} {y}))"))
        f.SetField("value", float(i))
        layer.CreateFeature(f)
    ds = None
    refused("prospectra:kriging", dict(KRIGE, INPUT=path, FIELD="value"), "INPUT", "is not a point layer")


def test_file_outputs_in_a_format_their_name_denies(refused, till_json, s2, tmp_path):
    """A report in 'r.txt', a table in 'c.png' or a model without .onnx: refused, as every file output is."""
    refused("prospectra:kriging", dict(KRIGE, INPUT=till_json, OUTPUT_REPORT=str(tmp_path / "r.txt")),
            "OUTPUT_REPORT", "does not end in .html or .htm")
    refused("prospectra:spectralanglemapper", {"INPUT": [s2], "ENDMEMBERS": "Calcite, Hematite",
                                               "OUTPUT_SUMMARY": str(tmp_path / "summary")},
            "OUTPUT_SUMMARY", "does not end in .csv")


OLI7 = ["B1", "B2", "B3", "B4", "B5", "B6", "B7"]


def model_meta(task="tagging", sensor="landsat8_oli", bands=OLI7, patch=4, **more):
    meta = {"prospectra_spec": "1", "task": task, "sensor": sensor, "bands": ",".join(bands), "patch_size": str(patch),
            "version": "0.0.1", "licence": "GPL-3.0-or-later", "training_data": "none: a test model"}
    return {**meta, **{k: v if isinstance(v, str) else json.dumps(v) for k, v in more.items()}}


@pytest.mark.parametrize("values, meta, expected", [
    ([3.0, 0.2], {"classes": ["a", "b"]}, "returned 3 where a probability (0 to 1) was expected"),
    ([-0.5, 0.6], {"classes": ["a", "b"]}, "returned -0.5 where a probability"),
    ([float("nan"), 0.7], {"classes": ["a", "b"]}, "returned nan where a probability"),
    ([0.2, 0.3, 0.4], {"classes": ["a", "b"]}, "gives 3 values per pixel or patch, but it names 2 classes"),
    ([0.2, 0.3], {"classes": ["tags", "top"]}, "class names must differ"),
    ([0.2, 0.3], {"classes": ["Calcite", "calcite"]}, "class names must differ"),
    ([0.2, 0.3], {"classes": ["a", "b"], "colours": ["red", "#zzzzzz"]}, "colours must be '#rrggbb' strings"),
    ([0.1] * 300, {"classes": [f"m{i}" for i in range(300)]}, "names 300 classes; a class raster holds at most 254"),
])
def test_taggers_that_break_the_model_rules(refused, tmp_path, values, meta, expected):
    from data.tiny_models import constant_model

    image = write_raster(tmp_path / "l8.tif", np.full((7, 16, 16), 0.2, np.float32), crs=32633, descriptions=OLI7)
    model = constant_model(tmp_path / "m.onnx", values, OLI7, 4, model_meta(**meta))
    refused("prospectra:tagminerals", {"INPUT": [image], "SENSOR": SENSORS.index("landsat8_oli"), "MODEL_FILE": model,
                                       "OUTPUT_PROBABILITIES": str(tmp_path / "p.tif"),
                                       "OUTPUT_GRID": str(tmp_path / "g.gpkg")}, "MODEL_FILE", expected)


@pytest.mark.parametrize("values, more, expected", [
    ([1.5, 99.0], {}, "gives 2 values per pixel or patch, but a content map takes one"),
    ([float("nan")], {}, "returned NaN, infinity or -9999 (the map's nodata value) for every one of the 256 valid"),
    ([-9999.0], {}, "returned NaN, infinity or -9999 (the map's nodata value) for every one of the 256 valid"),
    ([1.5], {"target_range": [5, 1]}, "malformed Prospectra metadata: target_range must be"),
    ([1.5], {"target_range": "[0, NaN]"}, "malformed Prospectra metadata: target_range must be"),
    ([1.5], {"target_range": "lots"}, "malformed Prospectra metadata"),
])
def test_content_models_that_break_the_model_rules(refused, tmp_path, values, more, expected):
    from data.tiny_models import constant_model

    bands = ["B1", "B2", "B3", "B4"]
    image = write_raster(tmp_path / "gf2.tif", np.full((4, 16, 16), 0.2, np.float32), crs=32649, descriptions=bands)
    model = constant_model(tmp_path / "m.onnx", values, bands, 1,
                           model_meta("regression", "gf2_pms", bands, 1, target="RE2O3", unit="%", **more))
    refused("prospectra:predictcontent", {"INPUT": [image], "SENSOR": SENSORS.index("gf2_pms"), "MODEL_FILE": model},
            "MODEL_FILE", expected)


@pytest.mark.parametrize("name", ["models.onnx", "models"])
def test_a_folder_given_as_the_model_file(refused, tmp_path, name):
    """Was 'MODEL_FILE: ... does not exist' (a folder named like a model) or QGIS's 'Incorrect parameter value'."""
    folder = tmp_path / name
    folder.mkdir()
    l8 = write_raster(tmp_path / "l8.tif", np.full((7, 16, 16), 0.2, np.float32), crs=32633, descriptions=OLI7)
    gf2 = write_raster(tmp_path / "gf2.tif", np.full((4, 16, 16), 0.2, np.float32), crs=32649,
                       descriptions=["B1", "B2", "B3", "B4"])
    for alg, image, sensor in (("prospectra:tagminerals", l8, "landsat8_oli"), ("prospectra:predictcontent", gf2, "gf2_pms")):
        refused(alg, {"INPUT": [image], "SENSOR": SENSORS.index(sensor), "MODEL_FILE": str(folder)}, "MODEL_FILE",
                f"MODEL_FILE: '{folder}' is a folder, not a model file")


def test_band_descriptions_of_another_sensor(refused, tmp_path):
    """Sentinel-2 band names under SENSOR Landsat-8: refused, not read as the Landsat stack (a silent band shift)."""
    names = ["B2", "B3", "B4", "B8", "B8A", "B11", "B12"]
    path = write_raster(tmp_path / "s2.tif", np.full((7, 8, 8), 0.2, np.float32), crs=32633, descriptions=names)
    refused("prospectra:bandratio", {"INPUT": [path], "SENSOR": SENSORS.index("landsat8_oli")}, "SENSOR",
            "name bands of Sentinel-2A MSI")


def test_a_gdal_mask_and_the_files_own_scale_are_honoured(qgis_processing, tmp_path):
    """Pixels masked by the GeoTIFF's own mask are nodata in the output; a float raster of reflectance x 10000
    that declares its scale (GDAL band metadata) is read as reflectance. Reference: numpy on the same values."""
    gdal.SetConfigOption("GDAL_TIFF_INTERNAL_MASK", "YES")
    bands = ["B1", "B2", "B3", "B4", "B5", "B6", "B7"]
    cube = np.random.default_rng(0).uniform(500, 4000, (7, 16, 16)).astype(np.float32)
    path = write_raster(tmp_path / "scaled.tif", cube, crs=32633, descriptions=bands)
    ds = gdal.Open(path, gdal.GA_Update)
    ds.CreateMaskBand(gdal.GMF_PER_DATASET)
    mask = np.full((16, 16), 255, np.uint8)
    mask[:, :5] = 0
    ds.GetRasterBand(1).GetMaskBand().WriteArray(mask)
    for i in range(7):
        ds.GetRasterBand(i + 1).SetScale(1e-4)
    ds = None
    gdal.SetConfigOption("GDAL_TIFF_INTERNAL_MASK", None)
    out = str(tmp_path / "ratio.tif")
    qgis_processing.run("prospectra:bandratio", {"INPUT": [path], "SENSOR": SENSORS.index("landsat8_oli"),
                                                 "PRESET": 0, "NUMERATOR": "B6", "DENOMINATOR": "B7", "OUTPUT": out})
    result = gdal.Open(out)
    ratio, nodata = result.ReadAsArray(), result.GetRasterBand(1).GetNoDataValue()
    assert (ratio[:, :5] == nodata).all()
    assert np.allclose(ratio[:, 5:], cube[5, :, 5:] / cube[6, :, 5:], rtol=1e-5)
    assert "scale and offset" in result.GetMetadataItem("PROSPECTRA_SCALING")


def test_a_mineral_named_twice(refused, s2):
    refused("prospectra:spectralanglemapper", {"INPUT": [s2], "ENDMEMBERS": "Calcite, calcite, CALCITE"},
            "ENDMEMBERS", "Calcite is named 3 times")


def test_libraries_that_half_cover_the_sensor_or_use_tabs(refused, tmp_path):
    """The library is at fault, not SPECTRA (left empty), and resamplelibrary has no BANDS to suggest."""
    vnir = tmp_path / "vnir.csv"
    vnir.write_text("wavelength,rock\n" + "".join(f"{w},0.3\n" for w in range(400, 1001, 10)))
    message = refused("prospectra:resamplelibrary", {"LIBRARY": str(vnir), "SENSOR": SENSORS.index("sentinel2a_msi"),
                                                     "OUTPUT": str(tmp_path / "out.csv")},
                      "LIBRARY", "'rock' does not cover band(s)")
    assert "BANDS" not in message
    tabs = tmp_path / "tabs.txt"
    tabs.write_text("wavelength\trock\n" + "".join(f"{w}\t0.3\n" for w in range(400, 2501, 10)))
    refused("prospectra:resamplelibrary", {"LIBRARY": str(tabs), "SENSOR": SENSORS.index("sentinel2a_msi"),
                                           "OUTPUT": str(tmp_path / "out.csv")}, "LIBRARY", "has a header row of one column")


def test_a_run_killed_before_it_replaced_a_raster_never_brings_it_back_later(qgis_processing, s2, tmp_path):
    """Killed before its rename, a run leaves its kept-aside hard link to the very file at the output: dropped, not
    left to put an old result back over a newer one (it was, two runs later)."""
    from prospectra.core.io.blocks import process_tag

    dead = process_tag().rsplit("-", 1)[0] + f"-{2 ** 22 + 12345}"
    ratio = tmp_path / "ratio.tif"
    ratio.write_bytes(b"an earlier result")
    os.link(ratio, tmp_path / f".ratio.tif.{dead}.kept")
    (tmp_path / f".ratio.tif.{dead}.writing").touch()
    qgis_processing.run("prospectra:bandratio", {"INPUT": [s2], "OUTPUT": str(ratio)})
    newer = ratio.read_bytes()
    assert newer != b"an earlier result"
    qgis_processing.run("prospectra:bandratio", {"INPUT": [s2], "OUTPUT": str(tmp_path / "other.tif")})
    assert ratio.read_bytes() == newer
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".")]


def test_a_geopackage_a_killed_run_was_writing_in_place(qgis_processing, s2, tmp_path):
    """QGIS writes vector outputs in place: a killed run leaves a partial GeoPackage and its journal. The next run
    in the folder puts the earlier file back and drops the journal (replayed, it wiped the file put back); a
    GeoPackage the killed run had just begun, with nothing before it, is removed."""
    from prospectra.core.io.blocks import process_tag

    dead = process_tag().rsplit("-", 1)[0] + f"-{2 ** 22 + 12345}"
    earlier = b"SQLite format 3\x00 the earlier grid"
    (tmp_path / f".grid.gpkg.{dead}.kept").write_bytes(earlier)
    (tmp_path / "grid.gpkg").write_bytes(b"SQLite format 3\x00 half a grid")
    (tmp_path / "grid.gpkg-journal").write_bytes(b"hot journal")
    (tmp_path / f".grid.gpkg.{dead}.writing").touch()
    (tmp_path / "zones.gpkg").write_bytes(b"SQLite format 3\x00 begun, never finished")
    (tmp_path / "zones.gpkg-wal").write_bytes(b"log")
    (tmp_path / f".zones.gpkg.{dead}.writing").touch()
    qgis_processing.run("prospectra:bandratio", {"INPUT": [s2], "OUTPUT": str(tmp_path / "other.tif")})
    assert (tmp_path / "grid.gpkg").read_bytes() == earlier
    assert sorted(f for f in os.listdir(tmp_path) if "gpkg" in f) == ["grid.gpkg"]


def tag_grid_run(qgis_processing, tmp_path, grid, feedback=None):
    """tagminerals with a closed-form model of 20-pixel patches on a 600 x 600 scene, writing its patch grid (30 x 30
    cells) to grid."""
    cube = np.random.default_rng(0).uniform(0.05, 0.5, (7, 600, 600)).astype(np.float32)
    return qgis_processing.run("prospectra:tagminerals", tagging(
        tmp_path, cube, 20, STRIDE=20, OUTPUT=str(tmp_path / "tags.tif"), OUTPUT_GRID=grid), feedback=feedback)


def test_a_vector_output_is_written_aside_and_renamed_at_the_end(qgis_processing, tmp_path):
    """Half-way through the run the user's earlier GeoPackage is untouched at its path and the new grid grows
    under a hidden name (a kill there leaves the earlier file whole, not a broken one); at the end the grid is at
    the path, its layer named after the file, and nothing else is left. Before, QGIS wrote it in place."""
    from qgis.core import QgsProcessingFeedback

    grid = tmp_path / "grid.gpkg"
    grid.write_bytes(b"SQLite format 3\x00 the earlier grid")
    seen = []

    class Looks(QgsProcessingFeedback):
        def setProgress(self, percent):  # noqa: N802
            if 40 < percent < 90 and not seen:
                seen.append((grid.read_bytes(), [f for f in os.listdir(tmp_path) if f.endswith(".part.gpkg")]))

    result = tag_grid_run(qgis_processing, tmp_path, str(grid), Looks())
    earlier, staged = seen[0]
    assert earlier == b"SQLite format 3\x00 the earlier grid"
    assert len(staged) == 1 and staged[0].startswith(".grid.gpkg.") and staged[0].endswith(".part.gpkg")
    assert result["OUTPUT_GRID"] == str(grid)
    source = ogr.Open(str(grid))
    assert [source.GetLayer(i).GetName() for i in range(source.GetLayerCount())] == ["grid"]
    assert source.GetLayer(0).GetFeatureCount() == 30 * 30  # 600 / 20 cells a side
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".")]


def test_a_staged_vector_output_is_loaded_from_the_users_path(qgis_processing, tmp_path):
    """What the toolbox does with a vector output once the run ends: the layer it loads into the project, and the
    result, name the user's file, not the hidden name it was written under."""
    from qgis.core import (QgsApplication, QgsProcessingContext, QgsProcessingFeedback,
                           QgsProcessingOutputLayerDefinition, QgsProject)

    grid = str(tmp_path / "grid.gpkg")
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    alg = QgsApplication.processingRegistry().createAlgorithmById("prospectra:tagminerals")
    results, ok = alg.run(tagging(tmp_path, np.full((7, 40, 40), 0.2, np.float32), 20,
                                  OUTPUT=str(tmp_path / "tags.tif"),
                                  OUTPUT_GRID=QgsProcessingOutputLayerDefinition(grid, QgsProject.instance())),
                          context, QgsProcessingFeedback())
    assert ok and results["OUTPUT_GRID"] == grid  # as QGIS gives it for a file written in place
    assert list(context.layersToLoadOnCompletion()) == [grid]
    assert context.layerToLoadOnCompletionDetails(grid).name == "Patch grid with tags"


def test_a_shapefile_output_is_replaced_or_kept_whole(qgis_processing, tmp_path):
    """A shapefile is four files or more. A cancelled run puts every one of the earlier shapefile's back byte for
    byte (only the .shp came back before: its .dbf and .shx were the cancelled run's); a run that succeeds
    replaces them together and removes the earlier ones it does not write (a spatial index), and nothing else is
    left."""
    from qgis.core import QgsProcessingException

    from conftest import cancel_above

    grid = str(tmp_path / "grid.shp")
    tag_grid_run(qgis_processing, tmp_path, grid)
    source = ogr.Open(grid)  # kept while its layer is read
    earlier = source.GetLayer(0).GetFeatureCount()
    source = None
    def shapefile():
        return {os.path.basename(f): c for f, c in checksums(tmp_path).items() if "grid" in f}

    (tmp_path / "grid.qix").write_bytes(b"a spatial index of the earlier grid")  # QGIS writes none
    before = shapefile()
    assert {os.path.splitext(f)[1] for f in before} >= {".shp", ".shx", ".dbf", ".prj", ".qix"}
    with pytest.raises(QgsProcessingException, match="Canceled"):
        tag_grid_run(qgis_processing, tmp_path, grid, cancel_above(50))
    assert shapefile() == before
    result = tag_grid_run(qgis_processing, tmp_path, grid)
    assert not (tmp_path / "grid.qix").exists()  # a stale index would hide the new grid's cells
    assert result["OUTPUT_GRID"] == grid
    source = ogr.Open(grid)
    layer = source.GetLayer(0)
    assert layer.GetName() == "grid" and layer.GetFeatureCount() == earlier == 900
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".")]


def test_a_shapefile_named_in_capitals(qgis_processing, tmp_path):
    """QGIS writes GRID.SHP's files as .shp, .dbf ...: they are found in any case and put at GRID.SHP, GRID.DBF
    ... (the run had failed, the renamed grid not found; before the grid was staged, the result named a file
    that did not exist)."""
    grid = str(tmp_path / "GRID.SHP")
    assert tag_grid_run(qgis_processing, tmp_path, grid)["OUTPUT_GRID"] == grid
    source = ogr.Open(grid)
    assert source.GetLayer(0).GetFeatureCount() == 900
    assert {"GRID.SHP", "GRID.SHX", "GRID.DBF"} <= set(os.listdir(tmp_path))
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".")]


def test_a_layer_added_to_a_geopackage_keeps_its_other_layers(qgis_processing, tmp_path):
    """'Save to GeoPackage' adds a layer to an existing file ('ogr:' destination): it is written into that file,
    never into a new one that would drop the file's other layers; a cancelled run leaves the file as it was."""
    from qgis.core import QgsProcessingException

    from conftest import cancel_above

    path = tmp_path / "field.gpkg"
    source = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    source.CreateLayer("sites", geom_type=ogr.wkbPoint)
    source = None
    destination = f"ogr:dbname='{path}' table=\"grid\" (geom)"
    before = checksums(tmp_path)
    with pytest.raises(QgsProcessingException, match="Canceled"):
        tag_grid_run(qgis_processing, tmp_path, destination, cancel_above(50))
    assert checksums(tmp_path)[str(path)] == before[str(path)]
    tag_grid_run(qgis_processing, tmp_path, destination)
    source = ogr.Open(str(path))
    assert sorted(source.GetLayer(i).GetName() for i in range(source.GetLayerCount())) == ["grid", "sites"]
    assert source.GetLayerByName("grid").GetFeatureCount() == 900


def test_the_output_folder_removed_during_the_run(qgis_processing, s2, tmp_path):
    """The file system failing under a run ends in a sentence, not a traceback."""
    from qgis.core import QgsProcessingException, QgsProcessingFeedback

    out = tmp_path / "out"
    out.mkdir()

    class RemovesTheFolder(QgsProcessingFeedback):
        def setProgress(self, percent):  # noqa: N802
            if out.exists():
                shutil.rmtree(out)

    with pytest.raises(QgsProcessingException, match="a file could not be written or read: .*Was a folder removed"):
        qgis_processing.run("prospectra:bandratio", {"INPUT": [s2], "OUTPUT": str(out / "ratio.tif")},
                            feedback=RemovesTheFolder())


def test_landsat_tm_collection2_band_descriptions_are_tm_bands(qgis_processing, tmp_path):
    """SR_B1..SR_B7 are Landsat-8 names too, and TM's own in Collection 2: read as TM bands, not refused."""
    names = ["SR_B1", "SR_B2", "SR_B3", "SR_B4", "SR_B5", "SR_B7"]
    path = write_raster(tmp_path / "tm.tif", np.full((6, 8, 8), 0.2, np.float32), crs=32622, descriptions=names)
    out = str(tmp_path / "ratio.tif")
    qgis_processing.run("prospectra:bandratio", {"INPUT": [path], "SENSOR": SENSORS.index("landsat5_tm"),
                                                 "PRESET": 0, "NUMERATOR": "B5", "DENOMINATOR": "B7", "OUTPUT": out})
    assert np.allclose(gdal.Open(out).ReadAsArray(), 1.0)


def test_an_undeclared_fill_value_is_nodata_in_every_output(qgis_processing, qgis_process, tmp_path):
    """-9999 in the top 20 rows of a reflectance raster that declares no nodata, as files often carry it: no
    reflectance takes it (io.image.LOWEST_MEASURED). Composite, 8-bit composite, ratio, SAM and tags leave the strip
    nodata, and below the strip (and beyond the tagger's patches that reach into it) write what they write for the
    same raster without the strip (SAM the same valid area: its limits follow the noise it measures on the valid
    pixels). Before, the stretch ran from -9999, the 8-bit copy wrote the strip as data, and the tagger tagged it
    Malachite at 100 %."""
    cube = gdal.Open(S2_L2A).ReadAsArray()
    filled = cube.copy()
    filled[:, :20] = -9999.0
    clean_path = write_raster(tmp_path / "clean.tif", cube, descriptions=None)
    fill_path = write_raster(tmp_path / "filled.tif", filled, descriptions=None)
    s2 = {"SENSOR": SENSORS.index("sentinel2a_msi")}
    runs = {"bandcomposite": {"OUTPUT": "c.tif", "OUTPUT_8BIT": "c8.tif"}, "bandratio": {"OUTPUT": "r.tif"},
            "spectralanglemapper": {"ENDMEMBERS": "Calcite, Hematite, Kaolinite", "OUTPUT": "s.tif",
                                    "OUTPUT_RULE": "sa.tif", "KEEP_APART": True},
            "tagminerals": {"OUTPUT": "t.tif"}}
    for alg, params in runs.items():
        outputs = {}
        for name, path in (("clean", clean_path), ("filled", fill_path)):
            given = {k: str(tmp_path / f"{name}_{v}") if str(v).endswith(".tif") else v for k, v in params.items()}
            qgis_processing.run(f"prospectra:{alg}", {"INPUT": [path], **s2, **given})
            outputs[name] = {k: v for k, v in given.items() if str(v).endswith(".tif")}
        for key in outputs["clean"]:
            clean, filled_out = (gdal.Open(outputs[n][key]) for n in ("clean", "filled"))
            nodata = filled_out.GetRasterBand(1).GetNoDataValue()
            got, want = filled_out.ReadAsArray(), clean.ReadAsArray()
            got, want = (a if a.ndim == 3 else a[None] for a in (got, want))
            assert (got[:, :20] == nodata).all(), (alg, key)
            below = 20 + (16 if alg == "tagminerals" else 0)  # patches that reach into the strip
            if alg == "spectralanglemapper":
                assert np.array_equal(got[:, below:] == nodata, want[:, below:] == nodata), key
            elif key != "OUTPUT_8BIT":  # its stretch is the valid pixels' own, which the strip changes
                assert np.array_equal(got[:, below:], want[:, below:]), (alg, key)
    for path, warned in ((fill_path, True), (clean_path, False)):  # the log says what was left out, and why
        log = qgis_process("run", "prospectra:bandratio", "--", f"INPUT={path}", f"SENSOR={s2['SENSOR']}",
                           f"OUTPUT={tmp_path / 'log_ratio.tif'}")
        assert ("INPUT holds values below -0.5 after scaling (as low as -9999)" in log.stdout + log.stderr) == warned


def test_one_file_given_twice_and_a_model_of_the_wrong_task_name_their_parameter(refused, tmp_path):
    """The same band file twice is INPUT's fault, with or without BAND_ORDER (with it, the file was read as two
    bands); a regression model given in MODEL_FILE to the tagger names MODEL_FILE, not MODEL; a tagger given to
    predictcontent is refused before its empty target and unit are logged."""
    tm = sorted(glob.glob(os.path.join(DATA, "landsat5_tm", "*_B?.TIF")))
    b1, b3 = (shutil.copy(tm[i], tmp_path) for i in (0, 2))
    landsat = {"SENSOR": SENSORS.index("landsat5_tm"), "SCALING": 5, "SCALE": 0.0001, "OFFSET": 0}
    refused("prospectra:bandcomposite", {"INPUT": [b3, b3, b1], **landsat}, "INPUT",
            "'LT52240631988227CUB02_B3.TIF' is given more than once")
    refused("prospectra:bandcomposite", {"INPUT": [b3, b3, b1], "BAND_ORDER": "B2,B3,B1", **landsat}, "INPUT",
            "is given more than once")
    from prospectra.core.learning.onnx_model import bundled_models

    regression = str(shutil.copy(bundled_models("regression")["inversion_gf2_pms"], tmp_path / "inv.onnx"))
    image = write_raster(tmp_path / "gf2.tif", np.full((4, 16, 16), 0.2, np.float32), crs=32649,
                         descriptions=["B1", "B2", "B3", "B4"])
    refused("prospectra:tagminerals", {"INPUT": [image], "SENSOR": SENSORS.index("gf2_pms"), "MODEL_FILE": regression},
            "MODEL_FILE", "'inv' is a regression model; this algorithm runs tagging models")
    tagger = str(shutil.copy(bundled_models("tagging")["tagger_landsat_oli"], tmp_path / "tagger.onnx"))
    refused("prospectra:predictcontent", {"INPUT": [image], "SENSOR": SENSORS.index("gf2_pms"), "MODEL_FILE": tagger},
            "MODEL_FILE", "'tagger' is a tagging model with 16-pixel patches; content maps need a regression model")


def test_samples_loaded_through_a_provider_uri_are_never_overwritten(refused, tmp_path):
    """A CSV of samples as QGIS users load one (delimited text) is an input like a path, however the run is given
    it: the layer, its id in the project (the toolbox), that id as a property (a script, a model), or the URI
    itself where QGIS resolves one (qgis_process on 3.22). The table that would replace it is refused, and the CSV
    stays as it was."""
    from qgis.core import (QgsProcessingContext, QgsProcessingUtils, QgsProject, QgsProperty, QgsProviderRegistry,
                           QgsVectorLayer)

    from data.simulated_till_raster import make_raster, till_points

    if "delimitedtext" not in QgsProviderRegistry.instance().providerList():
        pytest.skip("this QGIS has no delimited-text provider (the chroots install QGIS without provider plugins)")

    x, y, la = till_points("La_ppm_511")
    samples = tmp_path / "samples.csv"
    samples.write_text("x,y,La\n" + "".join(f"{a},{b},{c}\n" for a, b, c in zip(x, y, la)))
    source = f"file://{samples}?type=csv&xField=x&yField=y&crs=EPSG:3067"
    layer = QgsVectorLayer(source, "samples", "delimitedtext")
    assert layer.isValid()
    QgsProject.instance().addMapLayer(layer)
    scene = make_raster(str(tmp_path / "gf2.tif"))
    given = [layer, layer.id(), QgsProperty.fromValue(layer.id())]
    uri = f"delimitedtext://{source}"
    if QgsProcessingUtils.mapLayerFromString(uri, QgsProcessingContext()) is not None:
        given.append(uri)
    try:
        for points in given:
            refused("prospectra:bandcorrelation", {"INPUT": [scene], "SENSOR": 6, "POINTS": points, "FIELD": "La",
                                                   "OUTPUT_TABLE": str(samples),
                                                   "OUTPUT_REPORT": str(tmp_path / "c.html")},
                    "OUTPUT_TABLE", "is one of the inputs")
    finally:
        QgsProject.instance().removeMapLayer(layer.id())


def test_a_refused_output_over_an_input_leaves_the_input_file_itself(refused, till_json):
    """Refused before the output transaction keeps the output's earlier file aside: the input keeps its inode (a
    refused run used to remove it and put a copy back)."""
    inode = os.stat(till_json).st_ino
    refused("prospectra:kriging", {"INPUT": till_json, **KRIGE, "OUTPUT": till_json}, "OUTPUT")
    assert os.stat(till_json).st_ino == inode


def test_a_spectrum_too_faint_for_float32_is_nodata_in_sam_and_its_rule_image(qgis_processing, tmp_path):
    """1e-30 in one band and 0 in the others: positive, but its norm is 0 in float32 (the rule image divided by it
    and ended in a traceback). That pixel is nodata in both outputs, every other one is mapped with finite angles."""
    source = gdal.Open(S2_L2A)
    cube = source.ReadAsArray().astype(np.float32) * 1e-4  # reflectance, taken as stored
    cube[:, 0, 0] = 0
    cube[0, 0, 0] = 1e-30
    names = [source.GetRasterBand(i + 1).GetDescription() for i in range(12)]
    scene = write_raster(tmp_path / "faint.tif", cube, descriptions=names)
    out, rule = str(tmp_path / "sam.tif"), str(tmp_path / "rule.tif")
    qgis_processing.run("prospectra:spectralanglemapper", {"INPUT": [scene], "ENDMEMBERS": "Calcite, Hematite",
                                                           "KEEP_APART": True, "OUTPUT": out, "OUTPUT_RULE": rule})
    classes, angles = gdal.Open(out), gdal.Open(rule)
    c, a = classes.ReadAsArray(), angles.ReadAsArray()
    assert c[0, 0] == classes.GetRasterBand(1).GetNoDataValue()
    assert (c != classes.GetRasterBand(1).GetNoDataValue()).sum() == c.size - 1
    assert (a[:, 0, 0] == angles.GetRasterBand(1).GetNoDataValue()).all() and np.isfinite(a).all()


@pytest.mark.parametrize("resolution, expected", [(1e9, "coarser than the image"),
                                                  (1e-9, "at most 100,000 a side")])
def test_a_resolution_that_gives_no_pixel_or_a_grid_to_fill_the_disk(refused, s2, tmp_path, resolution, expected):
    """GDAL failed with a traceback on a grid of no pixel; a 0.001 m grid over a 10 m scene began a 1.6 TB file (here
    in degrees). A long, thin image: no pixel across its short side at 250 m."""
    refused("prospectra:bandratio", {"INPUT": [s2], "RESOLUTION": resolution, "RESAMPLING": 1,
                                     "OUTPUT": str(tmp_path / "r.tif")}, "RESOLUTION", expected)
    thin = write_raster(tmp_path / "thin.tif", np.full((12, 10, 1000), 0.2, np.float32), crs=32633,
                        descriptions=["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12"])
    refused("prospectra:bandratio", {"INPUT": [thin], "RESOLUTION": 250, "RESAMPLING": 1,
                                     "OUTPUT": str(tmp_path / "t.tif")}, "RESOLUTION", "not have one pixel across")


def test_custom_bands_given_with_a_preset_are_said_to_be_ignored(qgis_processing, s2, tmp_path):
    """NUMERATOR=B99 beside a preset ratio, or BANDS beside a preset composite, ran the preset without a word."""
    ratio, composite = warnings_feedback(), warnings_feedback()
    qgis_processing.run("prospectra:bandratio", {"INPUT": [s2], "NUMERATOR": "B99", "DENOMINATOR": "B1",
                                                 "OUTPUT": str(tmp_path / "r.tif")}, feedback=ratio)
    qgis_processing.run("prospectra:bandcomposite", {"INPUT": [s2], "BANDS": "B1,B2",
                                                     "OUTPUT": str(tmp_path / "c.tif")}, feedback=composite)
    assert any("NUMERATOR and DENOMINATOR are used only with the Custom ratio, and ignored" in w for w in ratio.warnings)
    assert any("BANDS is used only with the Custom combination" in w for w in composite.warnings)


def test_an_output_over_a_file_a_vrt_input_reads_is_refused(run_fails, s2, tmp_path):
    """A VRT stacking single-band files: OUTPUT on one of them replaced that band's data, and the VRT then read the
    ratio as the band (the output check compared only the paths given). The bands stay byte for byte; the VRT
    too."""
    source = gdal.Open(s2)
    bands = []
    for i in range(source.RasterCount):
        bands.append(str(tmp_path / f"band_{i + 1}.tif"))
        gdal.Translate(bands[-1], source, bandList=[i + 1])
    vrt = gdal.BuildVRT(str(tmp_path / "stack.vrt"), bands, separate=True)
    for i in range(source.RasterCount):
        vrt.GetRasterBand(i + 1).SetDescription(source.GetRasterBand(i + 1).GetDescription())
    vrt = source = None
    before = checksums(tmp_path)
    message = run_fails("prospectra:bandratio", {"INPUT": [str(tmp_path / "stack.vrt")], "OUTPUT": bands[10]},
                        f"'{bands[10]}' is one of the inputs", "read by")
    assert message.startswith("OUTPUT"), message
    assert checksums(tmp_path) == before and set(bands + [str(tmp_path / "stack.vrt")]) <= set(before)


def test_a_multipoint_of_several_points_is_refused_not_counted_as_that_many_samples(refused, qgis_processing, till_json,
                                                                                    tmp_path):
    """Each point of a multipoint became a sample carrying the feature's one value: 30 features were 60 samples to
    Kriging and to bandcorrelation's significance. A single-point multipoint stays a sample."""
    with open(till_json) as f:
        layer = json.load(f)
    for i, feature in enumerate(layer["features"]):
        x, y = feature["geometry"]["coordinates"][:2]
        points = [[x, y], [x + 2.5, y]] if i == 7 else [[x, y]]
        feature["geometry"] = {"type": "MultiPoint", "coordinates": points}
    path = tmp_path / "multi.json"
    path.write_text(json.dumps(layer))
    refused("prospectra:kriging", dict(KRIGE, INPUT=str(path)), "INPUT", "is a multipoint of 2 points")
    del layer["features"][7]
    path.write_text(json.dumps(layer))
    result = qgis_processing.run("prospectra:kriging", dict(KRIGE, INPUT=str(path), OUTPUT=str(tmp_path / "k.tif")))
    assert os.path.exists(result["OUTPUT"])


def test_scale_and_offset_beside_a_product_scaling_are_said_to_be_ignored(qgis_processing, tmp_path):
    """SCALE and OFFSET apply only to the custom SCALING; beside an MTL's scaling they were dropped without a word."""
    cube = np.full((7, 8, 8), 9000, np.uint16)
    cube[:, :4] = 12000  # a scene with some contrast
    path = write_raster(tmp_path / "LC08_L1TP_TEST_B1-7.tif", cube, gdal.GDT_UInt16, crs=32633,
                        descriptions=[f"B{i}" for i in range(1, 8)])
    (tmp_path / "LC08_L1TP_TEST_MTL.txt").write_text("\n".join(
        f"REFLECTANCE_MULT_BAND_{i} = 2.0E-05\nREFLECTANCE_ADD_BAND_{i} = -0.1" for i in range(1, 8))
        + "\nSUN_ELEVATION = 45.0\n")
    feedback = warnings_feedback()
    qgis_processing.run("prospectra:bandratio", {"INPUT": [path], "SENSOR": SENSORS.index("landsat8_oli"),
                                                 "PRESET": 0, "NUMERATOR": "B6", "DENOMINATOR": "B7", "SCALE": 0.0001,
                                                 "OFFSET": 0, "OUTPUT": str(tmp_path / "r.tif")}, feedback=feedback)
    assert any("SCALE and OFFSET are used only with the SCALING 'Custom: DN x SCALE + OFFSET', and ignored" in w
               and "LC08_L1TP_TEST_MTL.txt" in w for w in feedback.warnings), feedback.warnings


@pytest.mark.parametrize("bundled", [True, False])
def test_model_bands_beside_a_model_that_declares_its_own_are_said_to_be_ignored(qgis_processing, tmp_path, bundled):
    """MODEL_BANDS and MODEL_PATCH_SIZE declare a model without metadata; beside a bundled model, or a model file
    with Prospectra metadata, they were dropped without a word."""
    params = tagging(tmp_path, MODEL_BANDS="B2,B3", MODEL_PATCH_SIZE=3, OUTPUT=str(tmp_path / "t.tif"))
    if bundled:
        params["MODEL_FILE"] = None
    feedback = warnings_feedback()
    qgis_processing.run("prospectra:tagminerals", params, feedback=feedback)
    assert any("MODEL_BANDS and MODEL_PATCH_SIZE are used only for a model without Prospectra metadata, and ignored"
               in w for w in feedback.warnings), feedback.warnings


def test_a_bundled_model_beside_a_model_file_is_said_to_be_ignored(qgis_processing, tmp_path):
    """As predictcontent says: MODEL_FILE wins over MODEL, which tagminerals dropped without a word."""
    feedback = warnings_feedback()
    qgis_processing.run("prospectra:tagminerals", tagging(tmp_path, MODEL=1, OUTPUT=str(tmp_path / "t.tif")),
                        feedback=feedback)
    assert "MODEL is ignored: the model of MODEL_FILE tags the patches." in feedback.warnings, feedback.warnings


def test_bands_that_hold_one_value_are_said_to_carry_no_signal(qgis_processing, s2, tmp_path):
    """An all-zero scene made a zero composite without a word; one blank band, a flat channel. A real scene: no
    warning."""
    def warnings(path):
        feedback = warnings_feedback()
        qgis_processing.run("prospectra:bandcomposite", {"INPUT": [path], "OUTPUT": str(tmp_path / "c.tif")},
                            feedback=feedback)
        return [w for w in feedback.warnings if "one value in every valid pixel" in w]

    assert warnings(s2) == []
    zeros = str(tmp_path / "zeros.tif")
    gdal.Translate(zeros, s2, scaleParams=[[0, 1, 0, 0]])
    assert warnings(zeros) == ["INPUT holds one value in every valid pixel of every band read (B8 0, B12 0, B3 0): "
                               "the image carries no signal, so the output (uniform, or a single class) says nothing "
                               "about the ground. Is it a blank or fill-only file, or a fill value not declared in "
                               "INPUT_NODATA?"]
    blank = gdal.Translate(str(tmp_path / "blank_b12.tif"), s2)
    blank.GetRasterBand(12).Fill(0.25)
    blank = None
    said = warnings(str(tmp_path / "blank_b12.tif"))
    assert len(said) == 1 and said[0].startswith("INPUT bands B12 0.25 hold one value"), said


@pytest.mark.parametrize("name, driver", [("grid.txt", "Geoconcept"), ("grid.XML", "PDS4")])
def test_a_vector_output_whose_extension_picks_an_unexpected_format(refused, tmp_path, name, driver):
    """QGIS wrote 'grid.txt' as a Geoconcept export and 'grid.xml' as PDS4, neither what the name promises. Where
    GDAL no longer writes the format (Geoconcept left GDAL 3.11: QGIS 3.44 here), the name ends in no vector format
    QGIS writes, and is refused as such."""
    from qgis.core import QgsVectorFileWriter

    writes = name.rsplit(".", 1)[1].lower() in QgsVectorFileWriter.supportedFormatExtensions()
    refused("prospectra:tagminerals", tagging(tmp_path, OUTPUT_GRID=str(tmp_path / name)), "OUTPUT_GRID",
            *((f"would be written in the {driver} format", "end it in .gpkg, .shp, .geojson or .csv") if writes else
              ("does not end in the extension of a vector format QGIS writes",)))


def test_a_vector_output_named_like_a_layer_of_a_file(refused, tmp_path):
    """'grid.gpkg|layername=cells', as an input layer is named, was written as a new GeoPackage literally named
    'grid.gpkg|layername=cells.gpkg', and left behind by a run that failed."""
    refused("prospectra:tagminerals", tagging(tmp_path, OUTPUT_GRID=f"{tmp_path / 'grid.gpkg'}|layername=cells"),
            "OUTPUT_GRID", "names a layer the way an input does", f"ogr:dbname='{tmp_path / 'grid.gpkg'}' "
            f"table=\"cells\" (geom)")
