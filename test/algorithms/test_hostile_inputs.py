"""Inputs an annoyed user gives (issue 15): each ends in an error naming the parameter at fault, every file that
existed is byte-identical afterwards (checksums), and no new file remains."""
import hashlib
import os
import shutil

import numpy as np
import pytest
from osgeo import gdal

from conftest import DATA
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
