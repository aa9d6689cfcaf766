"""Patch-wise inference of an ONNX model over a whole image: probability per class averaged over every
patch that covers a pixel, a tag raster, and one record per patch for a vector grid.

Patches start every `stride` pixels plus one flush with the far edge, so the outputs cover the full
extent with no missing strip and no seams: each pixel's value is the mean over all the patches that
cover it, whichever output rows are computed together. An image smaller than one patch is padded by
repeating its edge pixels. A patch holding any nodata pixel is not run; pixels that no valid patch
covers are nodata.

Neighbouring pixels covered by the same patches get the same value, so means and tags are computed once
per run of such pixels (with stride = patch size, one run per patch plus the flush edge) and only then
spread onto the pixel grid. The image is read (and normalised) in strips by the model's own thread pool
while it runs the previous strip's patches, and another thread compresses and writes finished rows."""
import copy
import math
import os
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from osgeo import gdal

from ..io.blocks import TILE, RasterWriter, bounded_cache, step
from ..io.image import LOWEST_MEASURED
from ..errors import InputError
from ..report.palettes import UNCLASSIFIED_COLOUR

PROBABILITY_NODATA = -9999.0  # probabilities as fractions (float32)
PERCENT_NODATA = 255  # probabilities as whole percent (byte)
TAG_NODATA = 255
BATCH = 256
STRIP_BYTES = 128 * 2 ** 20  # one strip buffer (float32, the model's bands) on a wide scene; three take turns


def patch_origins(size, patch, stride):
    """Start offsets along one axis: every stride, plus one flush with the far edge."""
    if size <= patch:
        return np.array([0])
    origins = list(range(0, size - patch + 1, stride))
    if origins[-1] != size - patch:
        origins.append(size - patch)
    return np.array(origins)


def cell_edges(origins, patch, size):
    """Edges of a tiling of 0..size in which each patch owns the stretch nearest its centre."""
    centres = origins + patch / 2.0
    inner = np.floor((centres[:-1] + centres[1:]) / 2.0).astype(int)
    return np.concatenate([[0], inner, [size]])


def covering(origins, patch, size):
    """(first, last) index of the patches covering each pixel 0..size-1 along one axis."""
    pixels = np.arange(size)
    return (np.searchsorted(origins + patch, pixels, side="right"),
            np.searchsorted(origins, pixels, side="right") - 1)


def runs(first, last):
    """Consecutive pixels covered by the same patches: (run of each pixel, first and last patch of each run,
    pixels in each run)."""
    new = np.ones(len(first), bool)
    new[1:] = (first[1:] != first[:-1]) | (last[1:] != last[:-1])
    starts = np.flatnonzero(new)
    return np.cumsum(new) - 1, first[starts], last[starts], np.diff(np.append(starts, len(first)))


def range_sum(values, first, last, axis):
    """values summed over index first[i]..last[i] (inclusive) along axis, for each i. A range of one index
    is taken as is, so pixels covered by a single patch get its output exactly."""
    out = np.take(values, first, axis=axis)
    shape = [1] * values.ndim
    shape[axis] = len(first)
    for d in range(1, int((last - first).max(initial=0)) + 1):
        more = (first + d <= last).reshape(shape)
        out += np.where(more, np.take(values, np.minimum(first + d, last), axis=axis), 0)
    return out


def tag_image(image, model, output, feedback, output_probabilities=None, stride=None, threshold=None,
              on_patches=None, rows_per_pass=None, percent=True):
    """Run model on patches of the whole image; write the tag raster (and probabilities); returns a summary.

    percent: probabilities written as whole percent in bytes (0-100), else as float32 fractions (0-1). Percent
    is the default: a quarter of the bytes to expand and compress, so about a quarter of the time, for a
    precision (0.5 %) far finer than any tagger's calibration; the patch grid keeps each patch's exact value.

    on_patches(cells, probabilities) receives, per strip read, an (n, 4) array of the grid cells the valid
    patches own (col0, row0, col1, row1 in pixels) and their (n, classes) probabilities. It is called in the
    writer thread, in order, so that writing the cells overlaps with the model running on the next strip.

    rows_per_pass is the height of the strips read and of the output rows written together (default: whole
    input blocks and output tiles)."""
    p = model.patch_size
    stride = int(stride or model.stride)
    if not 0 < stride <= p:
        raise InputError("STRIDE", f"the stride must be between 1 and the patch size ({p} pixels); got {stride}.")
    threshold = model.threshold if threshold is None else float(threshold)
    if not 0 <= threshold <= 1:
        raise InputError("THRESHOLD", f"the threshold is a probability between 0 and 1; got {threshold}.")
    model.check_image(image)
    k = len(model.classes)
    width, height = image.width, image.height
    padded_w, padded_h = max(width, p), max(height, p)
    grid = _PatchGrid(width, height, p, stride)
    strip, cache = _strip_rows(image, rows_per_pass, len(model.bands))
    # Batches run side by side, one onnxruntime thread each: a light model keeps the cores busier this way
    # than one batch at a time split over threads (3.0 against 4.0-4.5 CPU seconds for the bundled tagger).
    predict = model.predictor(normalise=False, threads=1)
    # The outputs are runs of equal values, which DEFLATE packs best as they are: no predictor (for float
    # probabilities at stride 8, a third smaller and a third of the CPU time of the floating-point predictor).
    # Runs of bytes pack nearly as well at DEFLATE's fastest level, in a quarter of the time of the default.
    # Compression runs in the writer thread alone: the model keeps every core busy already.
    geo = (image.geotransform, image.projection)
    prob_type, prob_nodata, prob_zlevel = (np.uint8, PERCENT_NODATA, 1) if percent else \
        (np.float32, PROBABILITY_NODATA, None)
    with bounded_cache(cache), \
            RasterWriter(output, width, height, 1, np.uint8, *geo, TAG_NODATA, ["tag"], predictor=1, zlevel=1,
                         threads=1) as tags_out, \
            (RasterWriter(output_probabilities, width, height, k, prob_type, *geo, prob_nodata, model.classes,
                          predictor=1, zlevel=prob_zlevel, threads=1)
             if output_probabilities else nullcontext()) as prob_out:
        # Named and coloured before any pixel: a GeoTIFF cannot take a colour table once data is flushed.
        tags_out.set_classes({0: ("none", UNCLASSIFIED_COLOUR),
                              **{i + 1: cc for i, cc in enumerate(zip(model.classes, model.class_colours()))}})
        with _Writer() as writer, ThreadPoolExecutor(os.cpu_count() or 1) as pool:
            patch_rows = _PatchRows(predict, model.refuse_non_probabilities, pool, feedback, grid.ox, grid.oy, p, k)
            rows = _OutputRows(grid, patch_rows, writer, tags_out, prob_out, threshold, percent, k,
                               rows_per_pass or min(strip, TILE), on_patches)
            windows = [(0, y, width, min(strip, height - y)) for y in range(0, height, strip)]
            strips = _prefetching(pool, _normalising(image, model), model.bands, windows)
            try:
                for (_, r0, _, _), stack, valid in strips:
                    last = r0 + stack.shape[1] == height
                    if padded_w > width or (last and padded_h > height):
                        pad = ((0, padded_h - height if last else 0), (0, padded_w - width))
                        stack, valid = np.pad(stack, ((0, 0),) + pad, mode="edge"), np.pad(valid, pad, mode="edge")
                    patch_rows.submit(stack, valid, r0)
                    # The previous strip's patches are collected only now, so that the pool already has this
                    # strip's batches queued while they are averaged and written: no core waits between strips.
                    rows.emit(*patch_rows.collect(keep=1))
                rows.emit(*patch_rows.collect(keep=0))
            except BaseException:
                patch_rows.cancel()  # the pool would otherwise run the queued batches before shutting down
                raise
        if patch_rows.run == 0:
            raise InputError("INPUT", "no patch of the image is free of nodata: nothing could be tagged.")
        meta = {"PROSPECTRA_MODEL": model.name, "PROSPECTRA_CLASSES": ";".join(model.classes),
                "PROSPECTRA_THRESHOLD": threshold, "PROSPECTRA_STRIDE": stride,
                "PROSPECTRA_SCALING": image.scaling_source}
        tags_out.set_metadata(meta)
        if output_probabilities:
            prob_out.set_metadata({**meta, "PROSPECTRA_PROBABILITY_UNIT": "percent" if percent else "fraction"})
    feedback.setProgress(100)
    return {"patches": patch_rows.run, "stride": stride, "threshold": threshold, "padded": (width < p or height < p),
            "pixels_per_tag": {("none" if i == 0 else model.classes[i - 1]): int(c) for i, c in enumerate(rows.counts)}}


class _PatchGrid:
    """Where the patches of a whole-image pass lie: their origins along each axis, the grid cells they own, and
    for each output row and column the range of patches covering it, grouped into runs of equal ranges."""

    def __init__(self, width, height, patch, stride):
        self.height = height
        self.ox = patch_origins(max(width, patch), patch, stride)
        self.oy = patch_origins(max(height, patch), patch, stride)
        self.edges_x, self.edges_y = cell_edges(self.ox, patch, width), cell_edges(self.oy, patch, height)
        self.first_y, self.last_y = covering(self.oy, patch, height)
        self.col_run, self.col_first, self.col_last, self.col_size = runs(*covering(self.ox, patch, width))


class _OutputRows:
    """The output side of a pass: hands each strip's patches to on_patches, and once every patch covering a
    chunk of output rows has run, averages them into probabilities and tags and queues the rows for writing."""

    def __init__(self, grid, patch_rows, writer, tags_out, prob_out, threshold, percent, k, chunk, on_patches):
        self.grid, self.patch_rows, self.writer, self.tags_out, self.prob_out = grid, patch_rows, writer, tags_out, \
            prob_out
        self.threshold, self.percent, self.k, self.chunk, self.on_patches = threshold, percent, k, chunk, on_patches
        self.counts = np.zeros(k + 1)  # pixels per tag (0: none)
        self.emitted = 0  # output rows queued so far

    def emit(self, i, j, probs):
        """Hand the patches just collected to on_patches, then finish and write the output rows whose
        covering patches have all been collected, in whole chunks."""
        g, patch_rows, chunk = self.grid, self.patch_rows, self.chunk
        if self.on_patches is not None and len(i):
            cells = np.stack([g.edges_x[j], g.edges_y[i], g.edges_x[j + 1], g.edges_y[i + 1]], axis=1)
            self.writer.put(self.on_patches, cells, probs)
        final = g.height if patch_rows.done == len(g.oy) else \
            int(np.searchsorted(g.last_y, patch_rows.done)) // chunk * chunk
        for y0 in range(self.emitted, final, chunk):
            self.writer.put(self._write, y0, *self._finish(y0, min(y0 + chunk, final)))
        self.emitted = max(self.emitted, final)
        patch_rows.forget(g.first_y[self.emitted] if self.emitted < g.height else len(g.oy))

    def _finish(self, y0, y1):
        """Means and tags of the output rows y0..y1, whose covering patches have all run."""
        g = self.grid
        i0 = g.first_y[y0]
        probs, ok = self.patch_rows.get(i0, g.last_y[y1 - 1] + 1)
        row_run, row_first, row_last, row_size = runs(g.first_y[y0:y1] - i0, g.last_y[y0:y1] - i0)
        sums = range_sum(range_sum(probs, row_first, row_last, 0), g.col_first, g.col_last, 1)
        hits = range_sum(range_sum(ok.astype(np.float32), row_first, row_last, 0), g.col_first, g.col_last, 1)
        covered = hits > 0
        mean = np.full(sums.shape, PROBABILITY_NODATA, np.float32)
        np.divide(sums, hits[:, :, None], out=mean, where=covered[:, :, None])
        best = mean.argmax(axis=2)  # first class on ties
        top = np.take_along_axis(mean, best[:, :, None], axis=2)[:, :, 0]
        tag = np.where(top >= self.threshold, best + 1, 0).astype(np.uint8)
        tag[~covered] = TAG_NODATA
        area = row_size[:, None] * g.col_size[None, :]
        self.counts += np.bincount(tag[covered], weights=area[covered], minlength=self.k + 1)
        # Onto the pixel columns now; the writer repeats the rows, one band at a time to bound memory.
        tag = np.take(tag, g.col_run, axis=1)
        if self.prob_out is not None:
            if self.percent:
                mean = np.where(covered[:, :, None], np.rint(mean * 100), PERCENT_NODATA).astype(np.uint8)
            mean = np.take(np.ascontiguousarray(mean.transpose(2, 0, 1)), g.col_run, axis=2)
        return row_run, tag, mean

    def _write(self, y0, row_run, tag, mean):
        outputs = [(self.tags_out, 0, tag)] + \
            ([(self.prob_out, c, mean[c]) for c in range(self.k)] if self.prob_out is not None else [])
        for out, band, values in outputs:
            out.write(band, 0, y0, np.take(values, row_run, axis=0))
            # Compressed here, in the writer thread, rather than wherever GDAL's cache happens to fill up.
            out.ds.GetRasterBand(band + 1).FlushCache()


class _PatchRows:
    """Runs the model on patch rows as the strips holding them arrive, and keeps their outputs until the
    output rows they cover are finished. A patch row straddling two strips is run from the end of the one
    (kept as the tail) and the start of the next: every patch runs once and every row is read once.

    submit() queues a strip's batches in the pool; collect() waits for the batches queued before and
    gathers their outputs, so the pool can work on the next strip while the caller uses this one's."""

    def __init__(self, predict, check, pool, feedback, ox, oy, patch, k):
        self.predict, self.pool, self.feedback, self.ox, self.oy, self.p = predict, pool, feedback, ox, oy, patch
        self.check = check  # raises unless a batch's outputs are probabilities
        self.next = 0  # first patch row not submitted yet
        self.done = 0  # first patch row not collected yet
        self.base = 0  # first patch row kept
        self.probs = np.zeros((0, len(ox), k), np.float32)  # per kept patch row and column; 0 where not run
        self.ok = np.zeros((0, len(ox)), bool)  # the patch was run (free of nodata)
        self.tail = None  # (stack, valid, first row) of the rows read that patch rows not run yet need
        self.pending = []  # per strip submitted: its runs' (ok, batches, futures)
        self.run = 0

    def submit(self, stack, valid, r0):
        """Queue the patch rows that end within the rows read so far. The batches read stack until they are
        collected: the caller must not overwrite it before then."""
        oy, p = self.oy, self.p
        stop = int(np.searchsorted(oy + p, r0 + stack.shape[1], side="right"))
        runs = []
        if self.tail is not None:
            tail, tail_valid, t0 = self.tail
            split = min(stop, int(np.searchsorted(oy, r0)))  # patch rows starting in the tail
            if split > self.next:
                # Only the straddling rows are joined, not the whole strip.
                start, end = oy[self.next] - t0, oy[split - 1] + p - r0
                runs.append(self._queue(np.concatenate([tail[:, start:], stack[:, :end]], axis=1),
                                        np.concatenate([tail_valid[start:], valid[:end]]), oy[self.next], split))
        runs.append(self._queue(stack, valid, r0, stop))
        self.pending.append(runs)
        r1 = r0 + stack.shape[1]
        need = oy[self.next] if self.next < len(oy) else r1  # first row the patch rows not run yet need
        if need >= r1:
            self.tail = None
        elif need >= r0:  # a copy, so that the strip itself is freed
            self.tail = (stack[:, need - r0:].copy(), valid[need - r0:].copy(), need)
        else:  # a strip shorter than a patch: the tail grows
            self.tail = (np.concatenate([tail[:, need - t0:], stack], axis=1),
                         np.concatenate([tail_valid[need - t0:], valid]), need)

    def _queue(self, block, valid, r0, stop):
        """Queue patch rows self.next..stop, all within block (whose first row is image row r0)."""
        ox, p = self.ox, self.p
        if stop <= self.next:
            return np.zeros((0, len(ox)), bool), [], []
        rows = self.oy[self.next:stop] - r0
        if valid.all():
            ok = np.ones((len(rows), len(ox)), bool)
        else:
            # Nodata pixels per patch from an integral image: four look-ups per patch, not p x p.
            invalid = np.zeros((valid.shape[0] + 1, valid.shape[1] + 1), np.int32)
            invalid[1:, 1:] = np.cumsum(np.cumsum(~valid, axis=0, dtype=np.int32), axis=1)
            a, b = rows[:, None], rows[:, None] + p
            ok = (invalid[b, ox + p] - invalid[a, ox + p] - invalid[b, ox] + invalid[a, ox]) == 0
        rr, cc = np.nonzero(ok)
        # (row, column, band, y, x) view of every patch position; indexing it copies each batch contiguously.
        windows = np.moveaxis(sliding_window_view(block, (p, p), axis=(1, 2)), 0, 2)
        batches = [(rr[s:s + BATCH], cc[s:s + BATCH]) for s in range(0, len(rr), BATCH)]
        self.next = stop
        return ok, batches, [self.pool.submit(lambda r, c: self.predict(windows[rows[r], ox[c]]), r, c)
                             for r, c in batches]

    def collect(self, keep):
        """Wait for all strips submitted but the last keep ones; the row, column and probabilities of each
        patch they ran, as arrays."""
        done = [(np.zeros(0, int), np.zeros(0, int), np.zeros((0, self.probs.shape[2]), np.float32))]
        while len(self.pending) > keep:
            for ok, batches, futures in self.pending.pop(0):
                probs = np.zeros(ok.shape + (self.probs.shape[2],), np.float32)
                for i, ((r, c), future) in enumerate(zip(batches, futures)):
                    out = future.result()
                    self.check(out)
                    probs[r, c] = out
                    # Progress and cancel per batch: a strip can take minutes with a small stride or a heavy model.
                    step(self.feedback, self.done + len(ok) * (i + 1) / len(batches), len(self.oy))
                rr, cc = np.nonzero(ok)
                self.probs = np.concatenate([self.probs, probs])
                self.ok = np.concatenate([self.ok, ok])
                done.append((self.done + rr, cc, probs[rr, cc]))
                self.done += len(ok)
                self.run += len(rr)
        return [np.concatenate(parts) for parts in zip(*done)]

    def cancel(self):
        """Drop the batches queued and not started."""
        for runs in self.pending:
            for _, _, futures in runs:
                for future in futures:
                    future.cancel()

    def get(self, i0, i1):
        return self.probs[i0 - self.base:i1 - self.base], self.ok[i0 - self.base:i1 - self.base]

    def forget(self, i):
        """Drop the outputs of patch rows before i: no unfinished output row needs them."""
        self.probs, self.ok = self.probs[i - self.base:], self.ok[i - self.base:]
        self.base = i


class _Writer:
    """Runs write(*args) jobs in order in one background thread: GDAL compresses and writes finished rows
    while the model runs on the next strip (both release the GIL). A failure is raised in the caller."""

    def __init__(self):
        self.jobs = queue.Queue(maxsize=1)  # one strip waiting at most: memory stays bounded
        self.error = None
        self.thread = threading.Thread(target=self._work, daemon=True)

    def _work(self):
        while True:
            job = self.jobs.get()
            if job is None:
                return
            if self.error is None:
                try:
                    job[0](*job[1:])
                except BaseException as e:
                    self.error = e

    def put(self, *job):
        if self.error is not None:
            raise self.error
        self.jobs.put(job)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and self.error is None:
            self.error = exc  # skip the writes still queued: the outputs are deleted anyway
        self.jobs.put(None)
        self.thread.join()  # the datasets are closed after this, never under a running write
        if exc_type is None and self.error is not None:
            raise self.error
        return False


def _prefetching(pool, image, names, windows):
    """(window, stack, valid) per window, the next one read by the pool that runs the model: a reader
    thread of its own would make one thread more than there are cores, and the time slicing between them
    costs more than the read itself. Three strip buffers take turns, so that no strip costs fresh pages:
    the one read ahead, the one whose batches are queued and the one whose batches still run. A buffer is
    reused once the caller asks for the second strip after its own (_PatchRows collects one strip behind)."""
    rows = max(h for _, _, _, h in windows)
    buffers = [np.empty((len(names), rows, windows[0][2]), np.float32) for _ in range(min(3, len(windows)))]
    future = pool.submit(image.read_stack, names, windows[0], buffers[0])
    for i, window in enumerate(windows):
        stack, valid = future.result()
        if i + 1 < len(windows):
            future = pool.submit(image.read_stack, names, windows[i + 1], buffers[(i + 1) % 3])
        yield (window, stack, valid)


def _normalising(image, model):
    """The image with the model's normalisation folded into its reflectance scaling, so the reader thread
    applies it in the pass that converts to float32 instead of the model's caller in another pass."""
    if model.mean is None:
        return image
    view = copy.copy(image)
    view.scaling, view.lowest = dict(image.scaling), dict(image.lowest)
    for band, mean, std in zip(model.bands, model.mean.astype(float), model.std.astype(float)):
        scale, offset = image.scaling[band]
        view.scaling[band] = (scale / std, (offset - mean) / std)
        # the reader's lowest reflectance in the same units: a dark pixel is data, only a fill is not
        view.lowest[band] = np.float32((image.lowest.get(band, LOWEST_MEASURED) - mean) / std)
    return view


def _strip_rows(image, rows_per_pass, bands):
    """(rows read per strip, GDAL cache size). Strips span whole input blocks so each block is decoded
    once, and whole output tiles; on a wide scene, as many rows of whole tiles (one at least) as keep a strip
    of the model's bands within STRIP_BYTES (three strips take turns). The cache holds one row of input blocks of every band (a
    pixel-interleaved file decodes all its bands to read any one, and a strip may cover part of a block row)
    plus the output tiles being written."""
    band = image.ds.GetRasterBand(1)
    block_rows = band.GetBlockSize()[1]
    aligned = math.lcm(TILE, block_rows)
    strip = rows_per_pass or min(aligned if aligned <= 2 * TILE else TILE,
                                 max(TILE, STRIP_BYTES // (bands * image.width * 4) // TILE * TILE))
    input_bytes = image.width * max(strip, block_rows) * image.ds.RasterCount * gdal.GetDataTypeSize(band.DataType) // 8
    output_bytes = image.width * TILE * 8  # the output band being written
    return strip, max(64 * 2 ** 20, min(input_bytes, 1024 * 2 ** 20) * 5 // 4 + output_bytes)

