"""Patch tagging read in strips, averaged per run of pixels covered by the same patches, written by a second
thread: the same outputs as the brute-force reference, whatever the strip height, the stride or the blocks."""
import json
import os
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest
from osgeo import gdal

from data.tagging_scene import OLI, run, scene
from data.tiny_models import band_mean_model, brute_force_probabilities
from prospectra.core.learning import patch_tagging
from prospectra.core.io.blocks import TILE
from prospectra.core.errors import Canceled, NullFeedback
from prospectra.core.io.image import open_image
from prospectra.core.learning.onnx_model import load_model
from prospectra.core.learning.patch_tagging import PROBABILITY_NODATA, STRIP_BYTES, TAG_NODATA, patch_origins, tag_image


def tiled(path, block=16):
    """The scene rewritten with small tiles, pixel-interleaved (GDAL's default for several bands)."""
    out = path.replace(".tif", f"_tiled{block}.tif")
    gdal.Translate(out, path, creationOptions=["TILED=YES", f"BLOCKXSIZE={block}", f"BLOCKYSIZE={block}"])
    return out


def test_stride_equal_to_the_patch_gives_each_pixel_its_one_patch_exactly(tmp_path):
    rows, cols, p = 37, 45, 8  # not multiples of 8: the last patch of each axis is flush with the edge
    path, cube, valid = scene(tmp_path, rows, cols, nodata_at=[(3, 3), (36, 44), (20, 41)])
    model = load_model(band_mean_model(tmp_path / "m.onnx", OLI, p))
    tags, probs, records, summary = run(tmp_path, open_image(path, "landsat8_oli"), model, stride=p)
    expected = brute_force_probabilities(cube, valid, p, p, 7)
    uncovered = np.isnan(expected[0])
    assert uncovered.any() and (~uncovered).any()
    assert (probs[:, uncovered] == PROBABILITY_NODATA).all() and (tags[uncovered] == TAG_NODATA).all()
    assert np.allclose(probs[:, ~uncovered], expected[:, ~uncovered], atol=1e-6)
    ys, xs = patch_origins(rows, p, p), patch_origins(cols, p, p)
    assert summary["patches"] == sum(valid[y:y + p, x:x + p].all() for y in ys for x in xs) == len(records)
    # A pixel covered by one patch only holds that patch's output, bit for bit.
    for y in ys[:-1]:
        for x in xs[:-1]:
            if valid[y:y + p, x:x + p].all():
                own = model.predict(cube[None, :, y:y + p, x:x + p])[0]
                block = probs[:, y:y + p, x:x + p]
                ends_y, ends_x = min(p, ys[-1] - y), min(p, xs[-1] - x)  # before the flush patches start
                assert (block[:, :ends_y, :ends_x] == own[:, None, None]).all()
    best = np.nan_to_num(expected, nan=-1).argmax(axis=0)
    top = np.nan_to_num(expected, nan=-1).max(axis=0)
    assert np.array_equal(tags[~uncovered], np.where(top >= 0.5, best + 1, 0)[~uncovered])


@pytest.mark.parametrize("stride", [3, 8])
def test_outputs_do_not_depend_on_the_strip_height(tmp_path, stride):
    path, _, _ = scene(tmp_path, 70, 29, nodata_at=[(30, 10)])
    image = open_image(path, "landsat8_oli")
    model = load_model(band_mean_model(tmp_path / "m.onnx", OLI, 8))
    outputs = [run(tmp_path, image, model, str(rows), stride=stride, rows_per_pass=rows)
               for rows in (None, 3, 8, 13, 64)]
    tags, probs, records, summary = outputs[0]
    for other in outputs[1:]:
        assert np.array_equal(other[0], tags) and np.array_equal(other[1], probs)
        assert [r[:4] for r in other[2]] == [r[:4] for r in records]
        assert other[3] == summary


@pytest.mark.parametrize("stride", [3, 8])
def test_tiled_input_read_in_default_strips(tmp_path, stride):
    rows, cols = 600, 40  # three default strips of 256 rows over 16-row tiles
    path, cube, valid = scene(tmp_path, rows, cols, nodata_at=[(255, 20), (300, 3)])
    image = open_image(tiled(path), "landsat8_oli")
    model = load_model(band_mean_model(tmp_path / "m.onnx", OLI, 8))
    tags, probs, records, _ = run(tmp_path, image, model, stride=stride)
    expected = brute_force_probabilities(cube, valid, 8, stride, 7)
    covered = ~np.isnan(expected[0])
    assert np.allclose(probs[:, covered], expected[:, covered], atol=1e-5)
    assert (probs[:, ~covered] == PROBABILITY_NODATA).all() and (tags[~covered] == TAG_NODATA).all()
    cover = np.zeros((rows, cols), int)
    for c0, r0, c1, r1, _ in records:
        cover[r0:r1, c0:c1] += 1
    assert cover.max() == 1  # cells of valid patches never overlap


def test_model_normalisation_is_applied(tmp_path):
    path, cube, valid = scene(tmp_path, 21, 30)
    mean, std = np.linspace(0.1, 0.4, 7), np.linspace(0.5, 2.0, 7)
    norm = {"normalisation": json.dumps({"mean": mean.tolist(), "std": std.tolist()})}
    model = load_model(band_mean_model(tmp_path / "m.onnx", OLI, 8, extra_meta=norm))
    _, probs, _, _ = run(tmp_path, open_image(path, "landsat8_oli"), model, stride=5)
    normalised = (cube - mean[:, None, None]) / std[:, None, None]
    assert np.allclose(probs, brute_force_probabilities(normalised, valid, 8, 5, 7), atol=1e-5)


class CancelAfter(NullFeedback):
    def __init__(self, steps):
        self.steps = steps

    def isCanceled(self):
        self.steps -= 1
        return self.steps < 0


def test_cancel_or_failure_leaves_no_output_and_no_thread(tmp_path):
    path, _, _ = scene(tmp_path, 40, 30)
    image = open_image(path, "landsat8_oli")
    model = load_model(band_mean_model(tmp_path / "m.onnx", OLI, 8))
    before = threading.active_count()
    out, prob = str(tmp_path / "tags.tif"), str(tmp_path / "probabilities.tif")
    with pytest.raises(Canceled):
        tag_image(image, model, out, CancelAfter(2), prob, rows_per_pass=8)

    def fail(cells, probs):
        raise RuntimeError("the grid could not be written")

    with pytest.raises(RuntimeError, match="the grid could not be written"):
        tag_image(image, model, out, NullFeedback(), prob, on_patches=fail, rows_per_pass=8)
    assert sorted(os.listdir(tmp_path)) == ["m.onnx", "scene_40x30.tif"]
    assert threading.active_count() == before


def test_cancel_drops_the_batches_queued_for_the_strip_ahead(tmp_path, monkeypatch):
    monkeypatch.setattr(patch_tagging, "BATCH", 1)  # one patch per batch
    path, _, _ = scene(tmp_path, 200, 40)
    model = load_model(band_mean_model(tmp_path / "m.onnx", OLI, 8))
    run_batch, patches_run = model.predictor(normalise=False, threads=1), []

    def slow_predictor(**kw):  # a heavy model: 50 ms a batch
        def predict(patches):
            time.sleep(0.05)
            patches_run.append(len(patches))
            return run_batch(patches)
        return predict

    model.predictor = slow_predictor
    with pytest.raises(Canceled):
        tag_image(open_image(path, "landsat8_oli"), model, str(tmp_path / "tags.tif"), CancelAfter(3),
                  stride=4, rows_per_pass=8)
    # Cancelled at the fourth batch collected, of the first 8-row strip (one patch row of 9 patches). The second
    # strip's 18 were queued by then: without dropping them, all 27 would run before the pool shut down. About 6
    # run (4 collected, 2 running); the bound leaves room for a slow machine.
    assert 4 <= sum(patches_run) <= 18


def test_strips_of_a_wide_scene_are_fewer_rows_within_the_memory_bound(tmp_path):
    def strip_rows(width, bands):
        path = str(tmp_path / f"wide{width}.tif")  # sparse: no pixel written
        ds = gdal.GetDriverByName("GTiff").Create(path, width, 2048, bands, gdal.GDT_Float32,
                                                  ["TILED=YES", "BLOCKXSIZE=512", "BLOCKYSIZE=512", "SPARSE_OK=YES"])
        return patch_tagging._strip_rows(SimpleNamespace(ds=ds, width=width), None, bands)[0]

    assert strip_rows(5000, 7) == 512  # 72 MB: one row of input blocks
    assert strip_rows(10980, 10) == TILE  # a Sentinel-2 scene: 112 MB, where 512 rows would be 225 MB
    assert TILE * 10 * 10980 * 4 <= STRIP_BYTES < 512 * 10 * 10980 * 4
