"""The engine on a Dask cluster: an algorithm run tile by tile on dask.distributed workers, each tile written as a
tiled GeoTIFF by the same engine function a single process runs, and the tiles joined by a VRT mosaic per output.

Covered: band ratio, band composite, Spectral Angle Mapper, Random Forest classification, mineral tagging and
content prediction. What a single run decides from the whole image (SAM's noise level, groups and maximum angles,
the composite's stretch, the tagger's stride and threshold) is decided once, on the client, and handed to every
tile, so every tile's pixels equal the single-process run's exactly. Tagging averages overlapping patches: each
tile is run on a window widened to every patch that covers one of its pixels (its halo, on the whole image's patch
grid) and then cut back to the tile, so no seam appears at tile edges.

Dask and distributed are optional: without them the plugin works as before, and run_tiled says what to install.

    from prospectra.core.cluster import run_tiled
    from prospectra.core.io.image import open_image
    image = open_image("scene.tif", "sentinel2a_msi")
    run = run_tiled("ratio", image, "out_folder", numerator=["B11"], denominator=["B12"])
    run = run_tiled("sam", image, "out_folder", scheduler="tcp://10.0.0.5:8786", minerals=["Alunite", "Kaolinite"],
                    outputs=["classes", "angles"])
    run.mosaic, run.mosaics["angles"]  # out_folder/classes.vrt, out_folder/angles.vrt

A worker that dies mid-tile has its tile run again elsewhere (distributed's own retry); what it left half-written
carries its process id and is removed at the end. A tile without one valid pixel writes no file: the mosaic holds
nodata there, as the single-process output does."""
import os
import uuid
from dataclasses import dataclass

import numpy as np
from osgeo import gdal

from .io.blocks import TILE, temporary_name
from .errors import Canceled, InputError, NullFeedback, require
from .io.outputs import recover, staged

TILE_PIXELS = 8 * TILE  # a tile of 2048 x 2048 pixels: whole output tiles, some seconds of work each
GTIFF_OPTIONS = ["TILED=YES", f"BLOCKXSIZE={TILE}", f"BLOCKYSIZE={TILE}", "COMPRESS=DEFLATE", "INTERLEAVE=BAND"]
CONNECT_SECONDS = 10  # to reach a scheduler
STOP_SECONDS = 60  # for running tiles to end after a cancel or a failed tile
# Each kind's outputs; the first is always written, the others when asked for.
OUTPUTS = {"ratio": ("ratio",), "composite": ("composite", "composite_8bit"), "sam": ("classes", "angles"),
           "classify": ("classes", "probabilities", "confidence"), "tag": ("tags", "probabilities"),
           "content": ("content",)}
KINDS = tuple(OUTPUTS)


@dataclass
class TiledRun:
    mosaics: dict  # output -> its VRT mosaic
    summaries: list  # per tile, row-major: the engine function's summary, None for a tile without valid data
    job: dict  # what every tile was given (the plan)

    @property
    def mosaic(self):
        return next(iter(self.mosaics.values()))


def tiles(width, height, size=TILE_PIXELS):
    """(xoff, yoff, xsize, ysize) of the tiles covering the grid, row-major."""
    return [(x, y, min(size, width - x), min(size, height - y))
            for y in range(0, height, size) for x in range(0, width, size)]


def halo(start, stop, size, patch, stride):
    """(first, end) along one axis of the patches of a whole-image tagging run (patch_tagging.patch_origins) that
    cover pixels start..stop-1: the window a tile must be tagged on for its pixels to average the same patches."""
    from .learning.patch_tagging import patch_origins

    origins = patch_origins(max(size, patch), patch, stride)
    covering = origins[(origins < stop) & (origins + patch > start)]
    return int(covering.min()), min(size, int(covering.max()) + patch)


def _tile_image(job, window):
    """The image restricted to window, as an in-memory VRT, with the band names, scaling and nodata the whole
    image was given; and the VRT's name, to unlink."""
    from .io.image import open_image

    name = f"/vsimem/prospectra-{uuid.uuid4().hex}.vrt"
    gdal.Translate(name, job["source"], format="VRT", srcWin=list(window))
    image = open_image(name, job["sensor"], band_order=job["band_order"], scaling="reflectance")
    image.scaling, image.nodata, image.scaling_source = job["scaling"], job["nodata"], job["scaling_source"]
    return image, name


class _TileFeedback(NullFeedback):
    """A tile's feedback: canceled once the client has written the run's stop file (the tile folder is on storage
    every worker sees), so a tile already running ends at its next block, without waiting for the scheduler."""

    def __init__(self, stop):
        self.stop = stop

    def isCanceled(self):  # noqa: N802
        return os.path.exists(self.stop)


def run_tile(kind, job, window, paths):
    """One tile on a worker: the engine function of kind on the window, writing {output: path}. Returns its summary
    (None when the tile holds no valid pixel, and then writes nothing) and what its reads noted (Image.read_notes:
    fills left out, bands of one value), which the run reports as a single run would."""
    try:
        image, name = _tile_image(job, window)
    except RuntimeError as e:  # GDAL: the worker cannot read the input
        raise InputError("SCHEDULER", f"a worker could not read the image ({str(e).strip()[:200]}); the inputs and "
                                      "the output folder must be on storage every worker sees.") from None
    try:
        try:
            return _engine(kind, job, image, paths), image.read_notes(window[:2])
        except RuntimeError as e:  # GDAL: the worker cannot write into the tile folder, or read on
            raise InputError("SCHEDULER", f"a worker could not read or write a tile ({str(e).strip()[:200]}); the "
                                          "inputs and the output folder must be on storage every worker sees.") from None
        except InputError as e:
            # The engine refuses an image with nothing it can compute (all nodata, a ratio's denominator never
            # positive, no patch free of nodata); a tile of a valid image may well be one (a scene's nodata corner),
            # and its pixels are nodata in the single-process output. The one other bad input the engine finds
            # mid-run, a damaged file, fails this read of the tile again.
            if e.parameter != "INPUT":
                raise
            image.read_stack(job["bands"], (0, 0, image.width, image.height))
            return None, image.read_notes(window[:2])
    finally:
        del image
        gdal.Unlink(name)  # a long-lived worker must not keep every tile's VRT


def _engine(kind, job, image, paths):
    feedback = _TileFeedback(job["stop"])
    if kind == "ratio":
        from .bands.band_ratio import band_ratio

        return band_ratio(image, job["numerator"], job["denominator"], paths["ratio"], feedback,
                          job["description"] or "ratio")
    if kind == "composite":
        from .bands.band_composite import band_composite

        return band_composite(image, job["bands"], paths["composite"], feedback, output_byte=paths.get("composite_8bit"),
                              stretch=job["stretch"])
    if kind == "sam":
        from .spectral.spectral_angle_mapper import spectral_angle_mapper

        # one thread: the cluster runs a task per worker thread already
        return spectral_angle_mapper(image, output=paths["classes"], output_rule=paths.get("angles"), feedback=feedback,
                                     threads=1, **job["sam"])
    if kind == "classify":
        from .learning.random_forest import classify_random_forest, load_model

        model = load_model(job["model"])
        return classify_random_forest(model.feature_stack(image), model, paths["classes"], paths.get("probabilities"),
                                      paths.get("confidence"), feedback)
    if kind == "content":
        from .geochem.content_prediction import predict_content
        from .learning.onnx_model import load_model

        return predict_content(image, load_model(job["model"]), paths["content"], feedback)
    return _tag_tile(job, image, paths, feedback)


def _tag_tile(job, image, paths, feedback):
    """Tag the tile's halo window (job['tile_in_halo'] is the tile's place in it), then cut the tile out of it."""
    from .learning.onnx_model import load_model
    from .learning.patch_tagging import tag_image

    model = load_model(job["model"], bands=job["declared_bands"], patch_size=job["declared_patch"])
    wide = {output: temporary_name(path, ".halo.tif") for output, path in paths.items()}
    try:
        summary = tag_image(image, model, wide["tags"], feedback, wide.get("probabilities"), job["stride"],
                            job["threshold"], percent=job["percent"])
        for output, path in paths.items():
            with staged(path) as part:
                gdal.Translate(part, wide[output], srcWin=list(job["tile_in_halo"]),
                               creationOptions=GTIFF_OPTIONS + ["PREDICTOR=1", "ZLEVEL=1"])
        return summary
    finally:
        for path in wide.values():
            for leftover in (path, path + ".aux.xml"):
                if os.path.exists(leftover):
                    os.remove(leftover)


def _source(image):
    """What a worker opens for the image: its file, or the XML of the VRT stacking its files on one grid."""
    if image.ds.GetDriver().ShortName == "VRT":
        return image.ds.GetMetadata("xml:VRT")[0]
    return image.ds.GetDescription()


def plan(kind, image, **options):
    """What every tile needs, decided once on the whole image as a single run decides it."""
    job = {"source": _source(image), "sensor": image.sensor.id, "band_order": image.band_names,
           "scaling": image.scaling, "nodata": image.nodata, "scaling_source": image.scaling_source}
    if kind == "ratio":
        numerator = image.require(options["numerator"], "NUMERATOR")
        denominator = image.require(options["denominator"], "DENOMINATOR")
        return {**job, "numerator": numerator, "denominator": denominator, "description": options.get("description"),
                "cut": options.get("cut") or (2.0, 98.0), "bands": list(dict.fromkeys(numerator + denominator))}
    if kind == "composite":
        from .bands.band_composite import composite_stretch

        rgb = image.require(options["bands"], "BANDS")
        return {**job, "bands": rgb, "stretch": composite_stretch(image, rgb, options.get("cut") or (2.0, 98.0))}
    if kind == "sam":
        from .spectral.spectral_angle_mapper import plan_sam
        from .spectral.spectral_library import endmember_library

        library = options.get("library")
        if library is None:
            library = endmember_library(options.get("minerals"), all_samples=True)
        run, decided = plan_sam(image, library, options.get("bands") or image.surface_bands, options.get("max_angle"),
                                options.get("class_angles"), options.get("keep_apart", False))
        return {**job, "sam": run, "decided": decided, "bands": run["bands"]}
    if kind == "classify":
        from .learning.random_forest import load_model

        model = load_model(options["model"])
        model.feature_stack(image)  # the model fits the image, before any tile runs
        return {**job, "model": os.path.abspath(options["model"]), "bands": model.band_names}
    from .learning.onnx_model import load_model

    model = load_model(options["model"], bands=options.get("model_bands"), patch_size=options.get("model_patch"))
    model.check_image(image)
    job.update(model=os.path.abspath(options["model"]), bands=model.bands)
    if kind == "content":
        return job
    return {**job, "declared_bands": options.get("model_bands"), "declared_patch": options.get("model_patch"),
            "patch": model.patch_size, "stride": int(options.get("stride") or model.stride),
            "threshold": model.threshold if options.get("threshold") is None else float(options["threshold"]),
            "percent": options.get("percent", True)}


def run_tiled(kind, image, folder, scheduler=None, tile=TILE_PIXELS, feedback=None, outputs=None, **options):
    """Run kind (one of KINDS) over image tile by tile on a Dask cluster (a LocalCluster of this machine's cores
    when scheduler is None, else the scheduler's address); returns a TiledRun. outputs: which of OUTPUTS[kind] to
    write (default: the first). tile: the tile edge in pixels, rounded up to a multiple of the output tile (256).
    Tiles appear in folder as <output>_<row>_<col>.tif, mosaics as <output>.vrt; on failure or cancel none remain.
    Progress is reported per tile; a cancel cancels the tiles not finished."""
    require("Running on a Dask cluster", "dask", "distributed")
    from distributed import Client, LocalCluster, wait

    if kind not in KINDS:
        raise InputError("ALGORITHM", f"'{kind}' cannot run on a cluster; choose one of {', '.join(KINDS)}.")
    outputs = list(dict.fromkeys([OUTPUTS[kind][0]] + list(outputs or ())))
    unknown = [o for o in outputs if o not in OUTPUTS[kind]]
    if unknown:
        raise InputError("OUTPUT", f"{kind} writes {', '.join(OUTPUTS[kind])}, not {', '.join(unknown)}.")
    feedback = feedback or NullFeedback()
    job = plan(kind, image, **options)
    if os.path.exists(folder) and os.listdir(folder):
        raise InputError("OUTPUT", f"'{folder}' is not empty; give a new or empty folder for the tiles.")
    tile = max(TILE, -(-tile // TILE) * TILE)  # whole output tiles: SAM's blocks, and so its bits, stay the same
    windows = tiles(image.width, image.height, tile)
    feedback.pushInfo(f"{len(windows)} tiles of {tile} x {tile} pixels go to "
                      f"{scheduler or 'a Dask cluster of this machine'}.")
    names = [{o: os.path.join(folder, f"{o}_{w[1] // tile:03d}_{w[0] // tile:03d}.tif") for o in outputs}
             for w in windows]
    created = not os.path.exists(folder)
    os.makedirs(folder, exist_ok=True)
    stop = os.path.join(os.path.abspath(folder), ".stop")
    job = {**job, "stop": stop}
    cluster = None
    try:
        cluster = LocalCluster(processes=True, dashboard_address=None) if scheduler is None else None
        try:
            client = Client(cluster if cluster is not None else scheduler, timeout=CONNECT_SECONDS)
        except (OSError, TimeoutError, ValueError) as e:
            raise InputError("SCHEDULER", f"no Dask scheduler answers at {scheduler} ({str(e).strip()[:200]}); check "
                                          "the address (Settings > Options > Processing > Providers > Prospectra, or "
                                          "--scheduler), or leave it empty to run on this machine.") from None
        with client:
            futures = [client.submit(run_tile, kind, *_tile_job(kind, job, image, w), n, pure=False, retries=2)
                       for w, n in zip(windows, names)]
            try:
                pending, done = set(futures), 0
                while pending:
                    if feedback.isCanceled():
                        raise Canceled("Canceled by the user; no tile was kept.")
                    finished, pending = _wait_a_little(wait, pending)
                    for future in finished:  # one step per tile, however many finished since the last look
                        future.result()  # a failed tile fails the run, with its own error
                        done += 1
                        feedback.setProgress(100.0 * done / len(futures))
                summaries = []
                for summary, notes in (f.result() for f in futures):
                    summaries.append(summary)
                    image.add_read_notes(notes)
            except BaseException:
                # Tiles already running would go on writing while their folder is emptied: the stop file ends
                # them at their next block (and queued ones at once) before the folder is cleaned up.
                with open(stop, "w"):
                    pass
                try:
                    wait(futures, timeout=STOP_SECONDS)
                except TimeoutError:
                    pass  # a tile that does not stop in time: its files carry its process id (outputs.recover)
                client.cancel(futures)
                raise
        recover(folder)  # what a killed worker left half-written
        if all(s is None for s in summaries):
            raise InputError("INPUT", f"no pixel has valid data in bands {', '.join(job['bands'])}: the image is all "
                                      "nodata there.")
        mosaics = {o: _mosaic(os.path.join(folder, f"{o}.vrt"), [n[o] for n, s in zip(names, summaries)
                                                                    if s is not None], image) for o in outputs}
        return TiledRun(mosaics, summaries, job)
    except BaseException:
        if cluster is not None:  # a local cluster's running tiles stop with it, before their files are removed
            cluster.close()
            cluster = None
        _clear(folder, remove=created)
        raise
    finally:
        if cluster is not None:
            cluster.close()


def _wait_a_little(wait, pending):
    """(finished, pending) after at most a quarter second: cancel is checked that often, however long a tile."""
    try:
        return wait(pending, timeout=0.25, return_when="FIRST_COMPLETED")
    except TimeoutError:  # distributed's is the built-in one
        return set(), pending


def _tile_job(kind, job, image, window):
    """(job, window) for one tile: tagging widens the window to the tile's halo and says where the tile lies in it."""
    if kind != "tag":
        return job, window
    x, y, w, h = window
    x0, x1 = halo(x, x + w, image.width, job["patch"], job["stride"])
    y0, y1 = halo(y, y + h, image.height, job["patch"], job["stride"])
    return {**job, "tile_in_halo": (x - x0, y - y0, w, h)}, (x0, y0, x1 - x0, y1 - y0)


def _mosaic(path, tile_paths, image):
    """A VRT of the tiles over the whole image's extent: where a tile holds no valid pixel, the nodata value."""
    gt = image.geotransform
    bounds = (gt[0], gt[3] + gt[5] * image.height, gt[0] + gt[1] * image.width, gt[3])
    gdal.BuildVRT(path, tile_paths, outputBounds=bounds, xRes=gt[1], yRes=abs(gt[5]))
    return path


def read_mosaic(path):
    """The mosaic's bands as one array (for checks): (bands, rows, cols)."""
    ds = gdal.Open(path)
    return np.stack([ds.GetRasterBand(b + 1).ReadAsArray() for b in range(ds.RasterCount)])


def run_into_files(kind, image, files, scheduler, feedback=None, tile=None, **options):
    """run_tiled for a caller that wants single GeoTIFFs, as a single run writes them (the QGIS algorithms when
    a scheduler is set): files maps each output wanted to its path. The tiles go to a hidden folder beside the first
    file (so it must be on storage the workers share, as the inputs must), the mosaics are copied into the files
    with the tiles' metadata, and the folder is removed. Returns the summary the single-process engine function
    returns (every kind; for tagging without the count of patches, which the tiles' halos share)."""
    first = next(iter(files.values()))
    folder = temporary_name(first, ".tiles")
    try:
        run = run_tiled(kind, image, folder, scheduler, tile or TILE_PIXELS, feedback, list(files), **options)
        for output, path in files.items():
            _copy_mosaic(run.mosaics[output], path)
    finally:
        _clear(folder)
    return merged_summary(kind, run, image, files)


def _clear(folder, remove=True):
    """Remove the files of a tile folder, and the folder if remove. What cannot be removed is left: a run's own
    error matters more than its cleanup, and what is left carries a process id (outputs.recover)."""
    if not os.path.isdir(folder):
        return
    for name in os.listdir(folder):
        try:
            os.remove(os.path.join(folder, name))
        except OSError:
            pass
    if remove:
        try:
            os.rmdir(folder)
        except OSError:
            pass


def _copy_mosaic(mosaic, path):
    """The mosaic as one tiled, compressed GeoTIFF at path (written aside, then renamed), with its first tile's
    metadata, band names, class names and colour table."""
    with staged(path) as part:
        ds = gdal.Translate(part, mosaic, creationOptions=GTIFF_OPTIONS + ["BIGTIFF=IF_SAFER", "NUM_THREADS=2"])
        tile = gdal.Open(gdal.Open(mosaic).GetFileList()[1])
        ds.SetMetadata(tile.GetMetadata())
        for b in range(1, ds.RasterCount + 1):
            source, band = tile.GetRasterBand(b), ds.GetRasterBand(b)
            band.SetDescription(source.GetDescription())
            if source.GetCategoryNames():
                band.SetCategoryNames(source.GetCategoryNames())
        ds = tile = None


def merged_summary(kind, run, image, files):
    """The summary a single run of kind returns, from the tiles' summaries (and the output written)."""
    parts = [s for s in run.summaries if s is not None]
    if kind == "composite":
        return {"stretch": run.job["stretch"]}
    if kind == "ratio":
        from .bands.band_composite import cumulative_cut
        from .bands.band_ratio import RATIO_NODATA
        from .io.blocks import Subsample, windows

        # The same every-k-th pixels a single run samples for its stretch, read back from the ratio written.
        sample = Subsample(image.width, image.height)
        ds = gdal.Open(files["ratio"])
        for win in windows(image.width, image.height):
            values = ds.GetRasterBand(1).ReadAsArray(*win)
            sample.add(win, values, values != RATIO_NODATA)
        return {"valid_pixels": sum(s["valid_pixels"] for s in parts), "min": min(s["min"] for s in parts),
                "max": max(s["max"] for s in parts), "stretch": cumulative_cut(sample.values(), *run.job["cut"])}
    if kind == "sam":
        from .spectral.spectral_angle_mapper import CLASS_NODATA, class_rows

        counts, wins = sum(s["counts"] for s in parts), sum(s["member_pixels"] for s in parts)
        counts[CLASS_NODATA] = image.width * image.height - counts[:CLASS_NODATA].sum()  # tiles without data too
        plan = run.job["sam"]
        summary = {**parts[0], "counts": counts, "member_pixels": wins, "nodata_pixels": int(counts[CLASS_NODATA]),
                   "classes": class_rows(plan["endmembers"], counts, wins, parts[0]["pixel_area"])}
        summary.update(run.job["decided"], endmembers=plan["endmembers"], colours=plan["colours"])
        return summary
    if kind == "classify":
        pixels = {name: sum(s["pixels"][name] for s in parts) for name in parts[0]["pixels"]}
        return {"valid_pixels": sum(pixels.values()), "pixels": pixels}
    if kind == "content":
        from .geochem.content_prediction import content_statistics

        def total(key):
            return sum(s[key] for s in parts)

        return content_statistics(total("pixels"), total("sum"), total("sum_sq"), min(s["min"] for s in parts),
                                  max(s["max"] for s in parts), total("non_finite"), total("below_training"),
                                  total("above_training"))
    if kind == "tag":
        from .io.blocks import windows
        from .learning.patch_tagging import TAG_NODATA

        # Tiles tag their halos too, so their counts overlap: the pixels per tag are counted in the tags written.
        names = list(parts[0]["pixels_per_tag"])
        counts = np.zeros(256, np.int64)
        ds = gdal.Open(files["tags"])
        for win in windows(image.width, image.height):
            counts += np.bincount(ds.GetRasterBand(1).ReadAsArray(*win).ravel(), minlength=256)
        ds = None
        return {"patches": None, "stride": run.job["stride"], "threshold": run.job["threshold"],
                "padded": min(image.width, image.height) < run.job["patch"],
                "pixels_per_tag": {n: int(counts[i]) for i, n in enumerate(names) if i != TAG_NODATA}}
    raise InputError("ALGORITHM", f"no single summary is made of {kind}'s tiles; use run_tiled.")
