"""The engine on a real Dask cluster: a scheduler and two worker processes on 127.0.0.1 over TCP, started here.
The mosaic of tiles equals the single-process output pixel for pixel; a worker killed mid-run has its tiles run
again and the output is still equal, with nothing half-written left; a cancel leaves no tile."""
import os
import signal

import numpy as np
import pytest
from osgeo import gdal

from conftest import DATA, PLUGINS
from prospectra.core.errors import Canceled, InputError, NullFeedback

try:
    import distributed  # noqa: F401
except Exception as error:  # not installed, or psutil without /proc (the chroot runs): no cluster can start here
    pytest.skip(f"dask.distributed cannot run here ({type(error).__name__}: {error})", allow_module_level=True)
S2 = os.path.join(DATA, "sen2_rstoolbox_12band.tif")


@pytest.fixture(scope="module")
def scheduler():
    from distributed import LocalCluster

    os.environ["PYTHONPATH"] = PLUGINS + os.pathsep + os.environ.get("PYTHONPATH", "")  # workers import prospectra
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, protocol="tcp", host="127.0.0.1",
                           dashboard_address=None)
    yield cluster.scheduler_address
    cluster.close()


def single_process(kind, path, out, **options):
    from prospectra.core.band_ratio import band_ratio
    from prospectra.core.image import open_image
    from prospectra.core.spectral_angle_mapper import map_minerals
    from prospectra.core.spectral_library import endmember_library

    image = open_image(path, "sentinel2a_msi")
    if kind == "ratio":
        band_ratio(image, options["numerator"], options["denominator"], out, NullFeedback())
    else:
        map_minerals(image, endmember_library(options["minerals"], all_samples=True), image.surface_bands, out,
                     NullFeedback())
    ds = gdal.Open(out)
    return ds.ReadAsArray()


@pytest.mark.parametrize("kind, options", [("ratio", {"numerator": ["B11"], "denominator": ["B12"]}),
                                           ("sam", {"minerals": ["Calcite", "Hematite", "Kaolinite", "Muscovite"]})])
def test_tiles_on_the_cluster_equal_the_single_process_run(scheduler, tmp_path, kind, options):
    from prospectra.core.cluster import read_mosaic, run_tiled

    scene = synthetic_scene(str(tmp_path / "scene.tif"))
    mosaic = run_tiled(kind, [scene], str(tmp_path / "tiles"), scheduler=scheduler, tile=256, **options)
    expected = single_process(kind, scene, str(tmp_path / "single.tif"), **options)
    assert np.array_equal(read_mosaic(mosaic)[0], expected)
    tiles = sorted(f for f in os.listdir(tmp_path / "tiles") if f.endswith(".tif"))
    assert len(tiles) == 16 and tiles[0] == "tile_000_000.tif"
    ds = gdal.Open(str(tmp_path / "tiles" / tiles[0]))
    assert ds.GetRasterBand(1).GetBlockSize() == [256, 256]  # tiled GeoTIFF


def synthetic_scene(path, size=1000):
    """SIMULATED: real Sentinel-2 pixels (the RStoolbox scene) tiled out to size x size with noise added, so that
    tiles hold varied ground and edge tiles are partial."""
    rng = np.random.default_rng(0)
    real = gdal.Open(S2).ReadAsArray().astype(np.float32)
    reps = (1, -(-size // real.shape[1]), -(-size // real.shape[2]))
    cube = (np.tile(real, reps)[:, :size, :size] + rng.normal(0, 0.005, (12, size, size))).clip(0.001, 1)
    cube = cube.astype(np.float32)
    ds = gdal.GetDriverByName("GTiff").Create(path, size, size, 12, gdal.GDT_Float32, ["TILED=YES"])
    ds.SetGeoTransform((300000, 10, 0, 5000000, 0, -10))
    ds.SetProjection(gdal.Open(S2).GetProjection())
    names = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12"]
    for i in range(12):
        ds.GetRasterBand(i + 1).WriteArray(cube[i])
        ds.GetRasterBand(i + 1).SetDescription(names[i])
    ds = None
    return path


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

    scene = synthetic_scene(str(tmp_path / "scene.tif"))
    options = {"minerals": ["Calcite", "Hematite", "Kaolinite"]}
    feedback = KillAWorker(scheduler)
    mosaic = run_tiled("sam", [scene], str(tmp_path / "tiles"), scheduler=scheduler, tile=256, feedback=feedback,
                       **options)
    assert feedback.killed is not None
    assert np.array_equal(read_mosaic(mosaic)[0], single_process("sam", scene, str(tmp_path / "single.tif"), **options))
    assert not [f for f in os.listdir(tmp_path / "tiles") if f.startswith(".")]  # nothing half-written remains


def test_cancel_leaves_no_tile(scheduler, tmp_path):
    from prospectra.core.cluster import run_tiled

    class CancelAtOnce(NullFeedback):
        def isCanceled(self):  # noqa: N802
            return True

    with pytest.raises(Canceled):
        run_tiled("ratio", [S2], str(tmp_path / "tiles"), scheduler=scheduler, tile=64, feedback=CancelAtOnce(),
                  numerator=["B11"], denominator=["B12"])
    assert not os.path.exists(tmp_path / "tiles")


def test_a_folder_with_files_is_refused(scheduler, tmp_path):
    from prospectra.core.cluster import run_tiled

    (tmp_path / "tiles").mkdir()
    (tmp_path / "tiles" / "mine.txt").write_text("keep me")
    with pytest.raises(InputError, match="OUTPUT: .* is not empty"):
        run_tiled("ratio", [S2], str(tmp_path / "tiles"), scheduler=scheduler, numerator=["B11"], denominator=["B12"])
    assert (tmp_path / "tiles" / "mine.txt").read_text() == "keep me"
