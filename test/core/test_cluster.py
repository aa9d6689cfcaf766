"""The engine on a real Dask cluster: a scheduler and two worker processes on 127.0.0.1 over TCP, started here.
The mosaic of tiles equals the single-process output pixel for pixel; a worker killed mid-run has its tiles run
again and the output is still equal, with nothing half-written left; a cancel leaves no tile."""
import os
import signal

import numpy as np
import pytest
from osgeo import gdal

from conftest import PLUGINS
from data.cluster_scene import S2, synthetic_scene
from prospectra.core.errors import Canceled, InputError, NullFeedback

try:
    import distributed  # noqa: F401
except Exception as error:  # not installed, or psutil without /proc (the chroot runs): no cluster can start here
    pytest.skip(f"dask.distributed cannot run here ({type(error).__name__}: {error})", allow_module_level=True)


@pytest.fixture(scope="module")
def scheduler():
    from distributed import LocalCluster

    os.environ["PYTHONPATH"] = PLUGINS + os.pathsep + os.environ.get("PYTHONPATH", "")  # workers import prospectra
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, protocol="tcp", host="127.0.0.1",
                           dashboard_address=None)
    yield cluster.scheduler_address
    cluster.close()


def single_process(kind, path, out, **options):
    from prospectra.core.bands.band_ratio import band_ratio
    from prospectra.core.io.image import open_image
    from prospectra.core.spectral.spectral_angle_mapper import map_minerals
    from prospectra.core.spectral.spectral_library import endmember_library

    image = open_image(path, "sentinel2a_msi")
    if kind == "ratio":
        band_ratio(image, options["numerator"], options["denominator"], out, NullFeedback())
    else:
        map_minerals(image, endmember_library(options["minerals"], all_samples=True), image.surface_bands, out,
                     NullFeedback())
    ds = gdal.Open(out)
    return ds.ReadAsArray()


def same_bytes(mosaic, single):
    """The mosaic holds the single-process raster's values, type and shape, byte for byte."""
    from prospectra.core.cluster import read_mosaic

    got, expected = read_mosaic(mosaic), gdal.Open(single).ReadAsArray()
    expected = expected.reshape(got.shape)
    return got.dtype == expected.dtype and got.tobytes() == expected.tobytes()


@pytest.mark.parametrize("kind, options", [("ratio", {"numerator": ["B11"], "denominator": ["B12"]}),
                                           ("sam", {"minerals": ["Calcite", "Hematite", "Kaolinite", "Muscovite"]})])
def test_tiles_on_the_cluster_equal_the_single_process_run(scheduler, tmp_path, kind, options):
    from prospectra.core.cluster import read_mosaic, run_tiled
    from prospectra.core.io.image import open_image

    scene = synthetic_scene(str(tmp_path / "scene.tif"))
    run = run_tiled(kind, open_image(scene, "sentinel2a_msi"), str(tmp_path / "tiles"), scheduler=scheduler, tile=256,
                    **options)
    expected = single_process(kind, scene, str(tmp_path / "single.tif"), **options)
    assert np.array_equal(read_mosaic(run.mosaic)[0], expected)
    assert same_bytes(run.mosaic, str(tmp_path / "single.tif"))
    tiles = sorted(f for f in os.listdir(tmp_path / "tiles") if f.endswith(".tif"))
    assert len(tiles) == 15 and run.summaries[0] is None  # the first tile lies in the scene's hole: no file
    ds = gdal.Open(str(tmp_path / "tiles" / tiles[0]))
    assert ds.GetRasterBand(1).GetBlockSize() == [256, 256]  # tiled GeoTIFF


def test_composite_tiles_take_the_whole_images_stretch(scheduler, tmp_path):
    from prospectra.core.bands.band_composite import band_composite
    from prospectra.core.cluster import run_tiled
    from prospectra.core.io.image import open_image

    image = open_image(synthetic_scene(str(tmp_path / "scene.tif")), "sentinel2a_msi")
    run = run_tiled("composite", image, str(tmp_path / "tiles"), scheduler=scheduler, tile=256,
                    outputs=["composite_8bit"], bands=["B8", "B12", "B3"])
    single = {"composite": str(tmp_path / "single.tif"), "composite_8bit": str(tmp_path / "single8.tif")}
    band_composite(image, ["B8", "B12", "B3"], single["composite"], NullFeedback(), output_byte=single["composite_8bit"])
    for output, path in single.items():
        assert same_bytes(run.mosaics[output], path), output
    # each tile's own stretch would differ: the 8-bit values show the whole image's was used
    assert len({tuple(map(tuple, s["stretch"])) for s in run.summaries if s}) == 1


@pytest.fixture(scope="module")
def forest(tmp_path_factory):
    """A Random Forest trained on the real Sentinel-2 scene's training polygons (a small search: quick)."""
    from data.random_forest_reference import POLYGONS, layer_features
    from prospectra.core.learning import random_forest as rf
    from prospectra.core.io.image import open_image
    from prospectra.core.learning.training_samples import FeatureStack, extract_samples

    pytest.importorskip("sklearn")
    tmp = tmp_path_factory.mktemp("forest")
    stack = FeatureStack(open_image(S2, "sentinel2a_msi"))
    samples = extract_samples(stack, layer_features(POLYGONS, "class", S2))
    result = rf.train_random_forest(stack, samples, str(tmp / "model.onnx"), str(tmp / "report.html"), iterations=2,
                                    max_trees=30, folds=3, seed=7)
    return result.model_path


def test_random_forest_tiles_equal_the_single_process_run(scheduler, tmp_path, forest):
    from prospectra.core.cluster import run_tiled
    from prospectra.core.io.image import open_image
    from prospectra.core.learning.random_forest import classify_random_forest, load_model

    image = open_image(synthetic_scene(str(tmp_path / "scene.tif")), "sentinel2a_msi")
    outputs = ["classes", "probabilities", "confidence"]
    run = run_tiled("classify", image, str(tmp_path / "tiles"), scheduler=scheduler, tile=256, outputs=outputs,
                    model=forest)
    single = {o: str(tmp_path / f"single_{o}.tif") for o in outputs}
    model = load_model(forest)
    counts = classify_random_forest(model.feature_stack(image), model, *single.values(), NullFeedback())
    for output, path in single.items():
        assert same_bytes(run.mosaics[output], path), output
    assert sum(s["valid_pixels"] for s in run.summaries if s) == counts["valid_pixels"] > 0


@pytest.mark.parametrize("stride", [None, 5])
def test_tagging_carries_the_patch_overlap_across_tile_edges(scheduler, tmp_path, stride):
    """The bundled Sentinel-2 tagger (16-pixel patches, stride 8 by default; 5 puts patch edges off the tile grid):
    pixels near a tile edge average patches that reach into the next tile, as in one run, so no seam."""
    from prospectra.core.cluster import run_tiled
    from prospectra.core.io.image import open_image
    from prospectra.core.learning.onnx_model import bundled_models, load_model
    from prospectra.core.learning.patch_tagging import tag_image

    model_path = bundled_models("tagging")["tagger_sentinel2_msi"]
    image = open_image(synthetic_scene(str(tmp_path / "scene.tif"), size=700), "sentinel2a_msi")
    run = run_tiled("tag", image, str(tmp_path / "tiles"), scheduler=scheduler, tile=256,
                    outputs=["probabilities"], model=model_path, stride=stride)
    single = {"tags": str(tmp_path / "tags.tif"), "probabilities": str(tmp_path / "probabilities.tif")}
    summary = tag_image(image, load_model(model_path), single["tags"], NullFeedback(), single["probabilities"], stride)
    for output, path in single.items():
        assert same_bytes(run.mosaics[output], path), output
    tags = gdal.Open(single["tags"]).ReadAsArray()
    assert len(np.unique(tags[tags != 255])) > 1 and summary["patches"] > 1000  # varied tags, not a blank map


def test_content_prediction_tiles_equal_the_single_process_run(scheduler, tmp_path):
    from data.simulated_ree import make_ree_scene
    from prospectra.core.cluster import run_tiled
    from prospectra.core.geochem.content_prediction import predict_content
    from prospectra.core.io.image import open_image
    from prospectra.core.learning.onnx_model import bundled_models, load_model

    model_path = bundled_models("regression")["inversion_gf2_pms"]
    scene = str(tmp_path / "ree.tif")
    make_ree_scene(scene, size=600)  # SIMULATED GF-2 scene
    image = open_image(scene, "gf2_pms")
    run = run_tiled("content", image, str(tmp_path / "tiles"), scheduler=scheduler, tile=256, model=model_path)
    stats = predict_content(image, load_model(model_path), str(tmp_path / "single.tif"), NullFeedback())
    assert same_bytes(run.mosaic, str(tmp_path / "single.tif"))
    assert stats["max"] > stats["min"]


class KillAWorker(NullFeedback):
    """Kills one worker process outright when the first tile is done."""

    def __init__(self, scheduler):
        self.scheduler, self.killed = scheduler, None

    def setProgress(self, percent):  # noqa: N802
        if self.killed is None:
            from distributed import Client

            with Client(self.scheduler) as client:
                pids = client.run(os.getpid)
            self.killed = sorted(pids.values())[0]
            os.kill(self.killed, signal.SIGKILL)


def test_a_worker_killed_mid_run_has_its_tiles_run_again(scheduler, tmp_path):
    from prospectra.core.cluster import read_mosaic, run_tiled
    from prospectra.core.io.image import open_image

    scene = synthetic_scene(str(tmp_path / "scene.tif"))
    options = {"minerals": ["Calcite", "Hematite", "Kaolinite"]}
    feedback = KillAWorker(scheduler)
    run = run_tiled("sam", open_image(scene, "sentinel2a_msi"), str(tmp_path / "tiles"), scheduler=scheduler,
                    tile=256, feedback=feedback, **options)
    assert feedback.killed is not None
    assert np.array_equal(read_mosaic(run.mosaic)[0],
                          single_process("sam", scene, str(tmp_path / "single.tif"), **options))
    assert not [f for f in os.listdir(tmp_path / "tiles") if f.startswith(".")]  # nothing half-written remains


def test_cancel_leaves_no_tile(scheduler, tmp_path):
    from prospectra.core.cluster import run_tiled
    from prospectra.core.io.image import open_image

    class CancelAtOnce(NullFeedback):
        def isCanceled(self):  # noqa: N802
            return True

    with pytest.raises(Canceled):
        run_tiled("ratio", open_image(S2, "sentinel2a_msi"), str(tmp_path / "tiles"), scheduler=scheduler, tile=64,
                  feedback=CancelAtOnce(),
                  numerator=["B11"], denominator=["B12"])
    assert not os.path.exists(tmp_path / "tiles")


def test_a_folder_with_files_is_refused(scheduler, tmp_path):
    from prospectra.core.cluster import run_tiled
    from prospectra.core.io.image import open_image

    (tmp_path / "tiles").mkdir()
    (tmp_path / "tiles" / "mine.txt").write_text("keep me")
    with pytest.raises(InputError, match="OUTPUT: .* is not empty"):
        run_tiled("ratio", open_image(S2, "sentinel2a_msi"), str(tmp_path / "tiles"), scheduler=scheduler,
                  numerator=["B11"], denominator=["B12"])
    assert (tmp_path / "tiles" / "mine.txt").read_text() == "keep me"


def test_cancel_while_tiles_run_stops_them_and_leaves_nothing(scheduler, tmp_path):
    """Cancel once the first tile is done: the tiles running on the workers see the stop file at their next block,
    so nothing is written into the folder after it was cleaned up."""
    import time

    from prospectra.core.cluster import run_tiled
    from prospectra.core.io.image import open_image

    class CancelAfterFirstTile(NullFeedback):
        done = False

        def setProgress(self, percent):  # noqa: N802
            self.done = self.done or percent > 0

        def isCanceled(self):  # noqa: N802
            return self.done

    scene = synthetic_scene(str(tmp_path / "scene.tif"))
    with pytest.raises(Canceled):
        run_tiled("sam", open_image(scene, "sentinel2a_msi"), str(tmp_path / "tiles"), scheduler=scheduler, tile=256,
                  feedback=CancelAfterFirstTile(), minerals=["Calcite", "Hematite", "Kaolinite", "Muscovite"],
                  outputs=["classes", "angles"])
    time.sleep(3)  # a tile that went on running would write now
    assert sorted(os.listdir(tmp_path)) == ["scene.tif"]


def test_a_scheduler_nobody_runs_is_named(tmp_path):
    from prospectra.core.cluster import run_tiled
    from prospectra.core.io.image import open_image
    from stac_servers import free_port

    port = free_port()
    with pytest.raises(InputError) as e:
        run_tiled("ratio", open_image(S2, "sentinel2a_msi"), str(tmp_path / "tiles"), scheduler=f"tcp://127.0.0.1:{port}",
                  numerator=["B11"], denominator=["B12"])
    assert e.value.parameter == "SCHEDULER" and f"127.0.0.1:{port}" in str(e.value)
    assert not os.path.exists(tmp_path / "tiles")
