"""The engine on a Dask cluster: an algorithm run tile by tile on dask.distributed workers, each tile written as a
tiled GeoTIFF by the same engine function a single process runs, and the tiles joined by a VRT mosaic.

Covered: band ratio and Spectral Angle Mapper, the per-pixel algorithms, whose every pixel depends on that pixel
alone, so a tile's pixels equal the single-process run's exactly. What a single run decides from the whole image
(SAM's noise level, groups and maximum angles) is decided once, on the client, and handed to every tile. Not yet
covered: tagging (patches overlap tile edges), Random Forest and content prediction.

Dask and distributed are optional: without them the plugin works as before, and run_tiled says what to install.

    from prospectra.core.cluster import run_tiled
    run_tiled("ratio", ["scene.tif"], "out_folder", sensor="sentinel2a_msi", numerator=["B11"], denominator=["B12"])
    run_tiled("sam", ["scene.tif"], "out_folder", scheduler="tcp://10.0.0.5:8786", minerals=["Alunite", "Kaolinite"])

Each returns the path of out_folder/mosaic.vrt. A worker that dies mid-tile has its tile run again elsewhere
(distributed's own retry); what it left half-written carries its process id and is removed at the end."""
import os

import numpy as np
from osgeo import gdal

from .blocks import TILE
from .errors import Canceled, InputError, NullFeedback, require
from .outputs import recover

TILE_PIXELS = 8 * TILE  # a tile of 2048 x 2048 pixels: whole output tiles, some seconds of work each
KINDS = ("ratio", "sam")


def tiles(width, height, size=TILE_PIXELS):
    """(xoff, yoff, xsize, ysize) of the tiles covering the grid, row-major."""
    return [(x, y, min(size, width - x), min(size, height - y))
            for y in range(0, height, size) for x in range(0, width, size)]


def _tile_image(paths, window, job):
    """The image restricted to window: each input as an in-memory VRT of that window (its file name kept, for
    band names read from file names), with the scaling and nodata the whole image was given."""
    import uuid

    from .image import open_image

    folder = f"/vsimem/prospectra-{uuid.uuid4().hex}"
    subsets = [gdal.Translate(f"{folder}/{os.path.basename(p)}.vrt", p, format="VRT", srcWin=list(window))
               for p in paths]
    image = open_image([s.GetDescription() for s in subsets], job["sensor"], band_order=job["band_order"],
                       scaling="reflectance")
    image.scaling, image.nodata, image.scaling_source = job["scaling"], job["nodata"], job["scaling_source"]
    image._keep = tuple(image._keep) + tuple(subsets)
    return image, [s.GetDescription() for s in subsets]


def run_tile(kind, paths, window, path, job):
    """One tile on a worker: the engine function of kind on the window, written to path."""
    image, in_memory = _tile_image(paths, window, job)
    try:
        if kind == "ratio":
            from .band_ratio import band_ratio

            band_ratio(image, job["numerator"], job["denominator"], path, NullFeedback())
        else:
            from .spectral_angle_mapper import spectral_angle_mapper

            # one thread: the cluster runs a task per worker thread already
            spectral_angle_mapper(image, output=path, feedback=NullFeedback(), threads=1, **job["sam"])
    finally:
        del image
        for name in in_memory:  # a long-lived worker must not keep every tile's VRT
            gdal.Unlink(name)
    return path


def plan(kind, paths, image_options, **options):
    """What every tile needs, decided once on the whole image as a single run decides it."""
    from .image import open_image

    image = open_image(paths, **image_options)
    common = {"sensor": image.sensor.id, "band_order": image.band_names, "scaling": image.scaling,
              "nodata": image.nodata, "scaling_source": image.scaling_source}
    if kind == "ratio":
        return image, {**common, "numerator": image.require(options["numerator"], "NUMERATOR"),
                       "denominator": image.require(options["denominator"], "DENOMINATOR")}
    from .spectral_angle_mapper import plan_sam
    from .spectral_library import endmember_library

    run, _ = plan_sam(image, endmember_library(options.get("minerals"), all_samples=True),
                      options.get("bands") or image.surface_bands, options.get("max_angle"))
    return image, {**common, "sam": run}


def run_tiled(kind, paths, folder, scheduler=None, tile=TILE_PIXELS, feedback=None, sensor="sentinel2a_msi",
              scaling="auto", band_order=None, **options):
    """Run kind ('ratio' or 'sam') over the image tile by tile on a Dask cluster (a LocalCluster of this
    machine's cores when scheduler is None, else the scheduler's address); returns the mosaic VRT's path.
    tile: the tile edge in pixels, rounded up to a multiple of the output tile (256).
    Tiles appear in folder as tile_<row>_<col>.tif; on failure or cancel none of them remains."""
    require("Running on a Dask cluster", "dask", "distributed")
    from distributed import Client, LocalCluster, as_completed

    if kind not in KINDS:
        raise InputError("ALGORITHM", f"'{kind}' cannot run on a cluster yet; choose one of {', '.join(KINDS)}.")
    feedback = feedback or NullFeedback()
    paths = [paths] if isinstance(paths, str) else list(paths)
    image_options = {"sensor_id": sensor, "scaling": scaling, "band_order": band_order}
    image, job = plan(kind, paths, image_options, **options)
    if os.path.exists(folder) and os.listdir(folder):
        raise InputError("OUTPUT", f"'{folder}' is not empty; give a new or empty folder for the tiles.")
    tile = max(TILE, -(-tile // TILE) * TILE)  # whole output tiles: SAM's blocks, and so its bits, stay the same
    windows = tiles(image.width, image.height, tile)
    names = [os.path.join(folder, f"tile_{w[1] // tile:03d}_{w[0] // tile:03d}.tif") for w in windows]
    created = not os.path.exists(folder)
    os.makedirs(folder, exist_ok=True)
    cluster = None
    try:
        cluster = LocalCluster(processes=True, dashboard_address=None) if scheduler is None else None
        with Client(cluster if cluster is not None else scheduler) as client:
            futures = [client.submit(run_tile, kind, paths, w, n, job, pure=False, retries=2)
                       for w, n in zip(windows, names)]
            try:
                for done, future in enumerate(as_completed(futures), 1):
                    future.result()  # a failed tile fails the run, with its own error
                    if feedback.isCanceled():
                        raise Canceled("Canceled by the user; no tile was kept.")
                    feedback.setProgress(100.0 * done / len(futures))
            except BaseException:
                client.cancel(futures)
                raise
        recover(folder)  # what a killed worker left half-written
        mosaic = os.path.join(folder, "mosaic.vrt")
        gdal.BuildVRT(mosaic, names)
        return mosaic
    except BaseException:
        if cluster is not None:  # a local cluster's running tiles stop with it, before their files are removed
            cluster.close()
            cluster = None
        for name in os.listdir(folder):
            os.remove(os.path.join(folder, name))
        if created:
            os.rmdir(folder)
        raise
    finally:
        if cluster is not None:
            cluster.close()


def read_mosaic(path):
    """The mosaic's bands as one array (for checks): (bands, rows, cols)."""
    ds = gdal.Open(path)
    return np.stack([ds.GetRasterBand(b + 1).ReadAsArray() for b in range(ds.RasterCount)])
