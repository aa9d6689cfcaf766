"""tagminerals through processing.run: closed-form models built by code, and the bundled models."""
import os
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from osgeo import gdal, ogr

from data.rasters import write_raster
from data.tiny_models import band_mean_model, brute_force_probabilities
from test_band_algorithms import SENSORS
from data.tagging_scene import OLI, scene


def test_tiny_model_outputs_and_grid(qgis_processing, tmp_path):
    path, cube, valid = scene(tmp_path, 30, 41)
    model = band_mean_model(tmp_path / "mean.onnx", OLI, 8)
    out, prob, grid = (str(tmp_path / n) for n in ("tags.tif", "probabilities.tif", "grid.gpkg"))
    from qgis.core import QgsProcessingFeedback

    feedback = QgsProcessingFeedback()
    qgis_processing.run("prospectra:tagminerals", {
        "INPUT": [path], "SENSOR": SENSORS.index("landsat8_oli"), "MODEL_FILE": model, "STRIDE": 3,
        "THRESHOLD": 0.55, "OUTPUT": out, "OUTPUT_PROBABILITIES": prob, "OUTPUT_GRID": grid}, feedback=feedback)
    assert "onnxruntime runs the model on the CPU" in feedback.textLog()  # no GPU here
    expected = brute_force_probabilities(cube, valid, 8, 3, 7)
    percent = gdal.Open(prob).ReadAsArray()  # the default unit: whole percent
    assert np.abs(percent - 100 * expected).max() <= 0.5 + 1e-3
    tags = gdal.Open(out).ReadAsArray()
    assert np.array_equal(tags, np.where(expected.max(axis=0) >= 0.55, expected.argmax(axis=0) + 1, 0))
    source = ogr.Open(grid)  # keep the data source alive while its layer is read
    layer = source.GetLayer(0)
    names = [layer.GetLayerDefn().GetFieldDefn(i).GetName() for i in range(layer.GetLayerDefn().GetFieldCount())]
    assert names[:3] == ["tags", "top", "mineral 1"]
    area = 0.0
    for f in layer:
        probs = [f.GetField(f"mineral {j}") for j in range(1, 8)]
        assert f.GetField("tags") == ", ".join(f"mineral {j + 1}" for j, p in enumerate(probs) if p >= 0.55)
        assert f.GetField("top") == f"mineral {int(np.argmax(probs)) + 1}"
        area += f.GetGeometryRef().GetArea()
    assert area == pytest.approx(30 * 41 * 30 * 30)  # the cells tile the whole image
    ramp = ET.parse(str(tmp_path / "probabilities.qml")).getroot().find("pipe/rasterrenderer")
    assert (ramp.get("type"), ramp.get("classificationMin"), ramp.get("classificationMax")) == \
        ("singlebandpseudocolor", "0", "100")


def test_grid_of_tagged_patches_only(qgis_processing, tmp_path):
    path, _, _ = scene(tmp_path, 30, 41)
    model = band_mean_model(tmp_path / "mean.onnx", OLI, 8)

    def grid_cells(choice):
        grid = str(tmp_path / f"grid{choice}.gpkg")
        qgis_processing.run("prospectra:tagminerals", {
            "INPUT": [path], "SENSOR": SENSORS.index("landsat8_oli"), "MODEL_FILE": model, "STRIDE": 3,
            "THRESHOLD": 0.55, "GRID_CELLS": choice, "OUTPUT": str(tmp_path / f"tags{choice}.tif"),
            "OUTPUT_PROBABILITIES": None, "OUTPUT_GRID": grid})
        source = ogr.Open(grid)
        return sorted((f.GetField("tags"), f.GetGeometryRef().ExportToWkt()) for f in source.GetLayer(0))

    every, tagged = grid_cells(0), grid_cells(1)
    assert 0 < len(tagged) < len(every)
    assert tagged == [cell for cell in every if cell[0]]  # the tagged cells of the full grid, unchanged


def test_bundled_model_is_chosen_for_the_sensor(qgis_processing, tmp_path):
    from qgis.core import QgsProcessingFeedback

    from data.simulated_minerals import make_scene

    class Log(QgsProcessingFeedback):
        errors = []

        def pushWarning(self, error):  # noqa: N802
            self.errors.append(error)

    path = tmp_path / "simulated_s2.tif"
    make_scene(path, "sentinel2a_msi")
    out = str(tmp_path / "tags.tif")
    qgis_processing.run("prospectra:tagminerals", {"INPUT": [str(path)], "OUTPUT": out,
                                                   "OUTPUT_PROBABILITIES": None, "OUTPUT_GRID": None}, feedback=Log())
    ds = gdal.Open(out)
    assert ds.GetMetadataItem("PROSPECTRA_MODEL") == "tagger_sentinel2_msi"
    assert os.path.exists(str(tmp_path / "tags.qml"))
    # The bundled model offers the minerals Sentinel-2 identified by the measure it was trained under; the measure
    # now applies SAM's noise margin, by which unseen muscovite (sericite) samples fall too close to alunite
    warnings = [e for e in Log.errors if "cannot identify reliably" in e]
    assert len(warnings) == 1 and "Sericite (" in warnings[0] and "mistaken for Alunite" in warnings[0]
    assert not any(f"{m} (" in warnings[0] for m in ("Epidote", "Malachite", "Magnetite", "Biotite"))


def test_a_model_naming_minerals_the_sensor_cannot_identify_is_run_with_a_warning(qgis_processing, tmp_path):
    from qgis.core import QgsProcessingFeedback

    class Log(QgsProcessingFeedback):
        errors = []

        def pushWarning(self, error):  # noqa: N802
            self.errors.append(error)

    bands = ["B1", "B2", "B3", "B4", "B5", "B6", "B7"]
    model = band_mean_model(tmp_path / "carbonates.onnx", bands, 4, classes=["Calcite", "Dolomite", "Malachite"])
    path = write_raster(tmp_path / "l8.tif", np.full((7, 16, 16), 0.2, np.float32), crs=32633, descriptions=bands)
    qgis_processing.run("prospectra:tagminerals", {"INPUT": [path], "SENSOR": SENSORS.index("landsat8_oli"),
                                                   "MODEL_FILE": model, "OUTPUT": str(tmp_path / "tags.tif"),
                                                   "OUTPUT_PROBABILITIES": None, "OUTPUT_GRID": None}, feedback=Log())
    warning = next(e for e in Log.errors if "cannot identify reliably" in e)
    assert "Calcite" in warning and "Dolomite" in warning and "Malachite" not in warning


def test_tagging_bad_inputs(run_fails, tmp_path):
    path, _, _ = scene(tmp_path, 16, 16)
    base = {"INPUT": [path], "SENSOR": SENSORS.index("landsat8_oli")}
    bare = band_mean_model(tmp_path / "bare.onnx", OLI, 8, metadata=False)
    run_fails("prospectra:tagminerals", dict(base, MODEL_FILE=bare), "MODEL_FILE", "lacks Prospectra metadata",
              "MODEL_BANDS")
    b9 = band_mean_model(tmp_path / "b9.onnx", ["B2", "B9"], 8, sensor="landsat9_oli2")
    run_fails("prospectra:tagminerals", dict(base, MODEL_FILE=b9), "MODEL_FILE: 'b9' needs bands B2, B9")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07garbage" * 10)
    run_fails("prospectra:tagminerals", dict(base, MODEL_FILE=str(junk)), "is not a readable ONNX model")
    s2 = band_mean_model(tmp_path / "s2.onnx", ["B2", "B3"], 8, sensor="sentinel2a_msi")
    run_fails("prospectra:tagminerals", dict(base, MODEL_FILE=s2), "trained for sentinel2a_msi but SENSOR is Landsat-8")


def test_model_without_metadata_runs_when_declared(qgis_processing, tmp_path):
    path, cube, valid = scene(tmp_path, 20, 20)
    bare = band_mean_model(tmp_path / "bare.onnx", OLI, 8, metadata=False)
    prob = str(tmp_path / "p.tif")
    qgis_processing.run("prospectra:tagminerals", {
        "INPUT": [path], "SENSOR": SENSORS.index("landsat8_oli"), "MODEL_FILE": bare, "MODEL_BANDS": ",".join(OLI),
        "MODEL_PATCH_SIZE": 8, "PROBABILITY_UNIT": 1, "OUTPUT": str(tmp_path / "t.tif"), "OUTPUT_PROBABILITIES": prob,
        "OUTPUT_GRID": None})
    assert np.allclose(gdal.Open(prob).ReadAsArray(), brute_force_probabilities(cube, valid, 8, 4, 7), atol=1e-5)


def test_model_lists_hold_only_models_of_their_task(qgis_processing):
    from qgis.core import QgsApplication

    def options(algorithm):
        return QgsApplication.processingRegistry().algorithmById(algorithm).parameterDefinition("MODEL").options()

    assert options("prospectra:tagminerals")[1:] == ["tagger_landsat_oli", "tagger_landsat_oli_cuprite",
                                                     "tagger_sentinel2_msi"]
    assert options("prospectra:predictcontent")[1:] == ["inversion_gf2_pms"]
