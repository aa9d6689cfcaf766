"""Tiled ONNX inference against a brute-force reference, with closed-form models built by code."""
import os

import numpy as np
import pytest
from osgeo import gdal

from data.tagging_scene import OLI, run, scene
from data.tiny_models import band_mean_model, brute_force_probabilities
from prospectra.core.errors import InputError, NullFeedback
from prospectra.core.io.image import open_image
from prospectra.core.learning.onnx_model import load_model
from prospectra.core.learning.patch_tagging import PERCENT_NODATA, PROBABILITY_NODATA, TAG_NODATA, tag_image


@pytest.mark.parametrize("rows, cols, patch, stride, rows_per_pass", [
    (23, 37, 8, 3, 256),  # odd sizes, overlapping patches, edges not on the stride grid
    (23, 37, 8, 3, 5),  # the same in passes of 5 rows: no seams where passes meet
    (40, 32, 8, 8, 16),  # patches side by side
    (5, 6, 8, 4, 256),  # smaller than one patch: edge-padded
    (64, 9, 8, 1, 7),  # every pixel a patch origin
])
def test_probabilities_equal_the_brute_force_reference(tmp_path, rows, cols, patch, stride, rows_per_pass):
    path, cube, valid = scene(tmp_path, rows, cols)
    model = load_model(band_mean_model(tmp_path / "m.onnx", OLI, patch))
    tags, probs, records, summary = run(tmp_path, open_image(path, "landsat8_oli"), model, stride=stride,
                                        rows_per_pass=rows_per_pass)
    expected = brute_force_probabilities(cube, valid, patch, stride, 7)
    assert probs.shape == (7, rows, cols)
    assert np.allclose(probs, expected, atol=1e-5)
    best = expected.argmax(axis=0)
    assert np.array_equal(tags, np.where(expected.max(axis=0) >= 0.5, best + 1, 0))
    assert summary["padded"] == (rows < patch or cols < patch)
    # the grid cells tile the whole extent exactly once
    cover = np.zeros((rows, cols), int)
    for c0, r0, c1, r1, _ in records:
        cover[r0:r1, c0:c1] += 1
    assert (cover == 1).all()


def test_nodata_patches_are_skipped_and_uncovered_pixels_are_nodata(tmp_path):
    path, cube, valid = scene(tmp_path, 24, 24, nodata_at=[(0, 0), (12, 12), (23, 23)])
    model = load_model(band_mean_model(tmp_path / "m.onnx", OLI, 8))
    tags, probs, _, _ = run(tmp_path, open_image(path, "landsat8_oli"), model, stride=4)
    expected = brute_force_probabilities(cube, valid, 8, 4, 7)
    uncovered = np.isnan(expected[0])
    assert uncovered[0, 0] and uncovered[12, 12] and not uncovered[6, 6]
    assert (probs[:, uncovered] == PROBABILITY_NODATA).all() and (tags[uncovered] == TAG_NODATA).all()
    assert np.allclose(probs[:, ~uncovered], expected[:, ~uncovered], atol=1e-5)


def test_percent_probabilities_are_the_exact_means_rounded(tmp_path):
    path, cube, valid = scene(tmp_path, 24, 29, nodata_at=[(0, 0), (12, 12)])
    model = load_model(band_mean_model(tmp_path / "m.onnx", OLI, 8))
    image = open_image(path, "landsat8_oli")
    fraction_tags, _, _, _ = run(tmp_path, image, model, stride=3)
    tags, percent, _, _ = run(tmp_path, image, model, stride=3, percent=True)
    expected = brute_force_probabilities(cube, valid, 8, 3, 7)
    covered = ~np.isnan(expected[0])
    assert np.abs(percent[:, covered] - 100 * expected[:, covered]).max() <= 0.5 + 1e-3
    assert (percent[:, ~covered] == PERCENT_NODATA).all()
    assert np.array_equal(tags, fraction_tags)  # tags come from the exact means, not the rounded ones
    ds = gdal.Open(str(tmp_path / "probabilities.tif"))
    assert ds.GetRasterBand(1).DataType == gdal.GDT_Byte and ds.GetRasterBand(1).GetNoDataValue() == PERCENT_NODATA
    assert ds.GetMetadataItem("PROSPECTRA_PROBABILITY_UNIT") == "percent"


def test_model_checks_before_any_pixel(tmp_path):
    path, _, _ = scene(tmp_path, 16, 16)
    image = open_image(path, "landsat8_oli")
    other = load_model(band_mean_model(tmp_path / "s2.onnx", ["B2", "B3", "B4"], 8, sensor="sentinel2a_msi"))
    with pytest.raises(InputError, match="MODEL: 's2' was trained for sentinel2a_msi but SENSOR is Landsat-8 OLI"):
        tag_image(image, other, str(tmp_path / "t.tif"), NullFeedback())
    missing = load_model(band_mean_model(tmp_path / "b9.onnx", ["B2", "B9"], 8, sensor="landsat9_oli2"))
    with pytest.raises(InputError, match="MODEL: 'b9' needs bands B2, B9; the image lacks B9"):
        tag_image(image, missing, str(tmp_path / "t.tif"), NullFeedback())
    with pytest.raises(InputError, match="STRIDE"):
        tag_image(image, load_model(band_mean_model(tmp_path / "m.onnx", OLI, 8)), str(tmp_path / "t.tif"),
                  NullFeedback(), stride=9)
    assert sorted(os.listdir(tmp_path)) == ["b9.onnx", "m.onnx", "s2.onnx", "scene_16x16.tif"]


def test_bad_model_files(tmp_path):
    with pytest.raises(InputError, match="lacks Prospectra metadata .*MODEL_BANDS .* MODEL_PATCH_SIZE"):
        load_model(band_mean_model(tmp_path / "bare.onnx", OLI, 8, metadata=False))
    declared = load_model(str(tmp_path / "bare.onnx"), bands=OLI, patch_size=8)
    assert declared.declared and declared.classes == [f"class {i}" for i in range(1, 8)]
    (tmp_path / "notes.onnx").write_text("this is not a model")
    with pytest.raises(InputError, match="'notes.onnx' is not a readable ONNX model"):
        load_model(str(tmp_path / "notes.onnx"))
    good = open(band_mean_model(tmp_path / "good.onnx", OLI, 8), "rb").read()
    (tmp_path / "cut.onnx").write_bytes(good[:len(good) // 2])
    with pytest.raises(InputError, match="'cut.onnx' is not a readable ONNX model"):
        load_model(str(tmp_path / "cut.onnx"))
    (tmp_path / "tagger.onnx").write_bytes(b"\x80\x04\x95")  # a pickle's header under a model's name
    with pytest.raises(InputError, match="MODEL: 'tagger.onnx' is a Python pickle"):
        load_model(str(tmp_path / "tagger.onnx"))
    with pytest.raises(InputError, match="takes 1 input\\(s\\) of shape \\['batch', 7, 8\\]; .* \\(rank 4\\)"):
        load_model(band_mean_model(tmp_path / "rank3.onnx", OLI, 8, rank=3))
    with pytest.raises(InputError, match="takes 8 for its patch size but its metadata says 16"):
        load_model(band_mean_model(tmp_path / "lie.onnx", OLI, 8, extra_meta={"patch_size": "16"}))


def test_a_normalising_model_tags_every_patch_of_real_ground(tmp_path):
    """A model that normalises its input (the bundled Cuprite tagger: mean 0.27, std 0.03 in OLI B1) gets the
    normalisation folded into the reader's scaling. Dark pixels are data: only reflectance below the reader's
    lowest measurement is nodata, not a normalised value below it (which left 972 of Cuprite's 1081 patches
    untagged). The patch probabilities equal the model's own predict on the same patches read by GDAL."""
    from prospectra.core.learning.onnx_model import bundled_models

    as_oli = str(tmp_path / "cuprite_as_oli.tif")
    gdal.Translate(as_oli, os.path.join(os.path.dirname(__file__), "..", "data", "cuprite", "cuprite_tm.tif"),
                   bandList=[1, 1, 2, 3, 4, 5, 6])
    image = open_image(as_oli, "landsat8_oli", band_order=OLI, scaling="custom", scale=0.0001, offset=0.0)
    model = load_model(bundled_models()["tagger_landsat_oli_cuprite"])
    p = model.patch_size
    cells = []
    summary = tag_image(image, model, str(tmp_path / "tags.tif"), NullFeedback(), stride=p,
                        on_patches=lambda c, probs: cells.append((c.copy(), probs.copy())))
    cube = gdal.Open(as_oli).ReadAsArray().astype(np.float32) * np.float32(0.0001)
    rows, cols = image.height // p, image.width // p
    assert summary["patches"] >= rows * cols  # every patch: the scene has no nodata
    boxes, probabilities = np.concatenate([c for c, _ in cells]), np.concatenate([q for _, q in cells])
    whole = (boxes[:, 2] - boxes[:, 0] == p) & (boxes[:, 3] - boxes[:, 1] == p)  # not the edge-padded ones
    patches = np.stack([cube[:, r:r + p, c:c + p] for c, r, _, _ in boxes[whole, :4]])
    np.testing.assert_allclose(probabilities[whole], model.predict(patches), atol=1e-4)


def test_fill_a_normalising_model_meets_is_reported_in_reflectance(tmp_path):
    """The tagger reads through a view of the image with the model's normalisation folded in; the fill value its
    reads leave out is reported on the image, as reflectance (it was kept on the view, normalised, and lost)."""
    from data.rasters import write_raster

    cube = np.full((7, 40, 40), 0.2, np.float32)
    cube[:, :4] = -0.9999  # reflectance x 10000 of -9999, undeclared
    path = write_raster(tmp_path / "l8.tif", cube, crs=32633, descriptions=OLI)
    model = load_model(band_mean_model(tmp_path / "m.onnx", OLI, 8, extra_meta={
        "normalisation": '{"mean": [0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2], "std": [0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05]}'}))
    image = open_image(path, "landsat8_oli")
    summary = tag_image(image, model, str(tmp_path / "tags.tif"), NullFeedback(), stride=8)
    assert summary["patches"] == 4 * 5  # the 4 fill rows spoil the first row of patches only
    assert image.lowest_left_out() == pytest.approx(-0.9999, abs=1e-6)
