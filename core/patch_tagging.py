"""Patch-wise inference of an ONNX model over a whole image: probability per class averaged over every
patch that covers a pixel, a tag raster, and one record per patch for a vector grid.

Patches start every `stride` pixels plus one flush with the far edge, so the outputs cover the full
extent with no missing strip and no seams: each pixel's value is the mean over all the patches that
cover it, whichever output rows are computed together. An image smaller than one patch is padded by
repeating its edge pixels. A patch holding any nodata pixel is not run; pixels that no valid patch
covers are nodata."""
from contextlib import nullcontext

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .blocks import RasterWriter, bounded_cache, step
from .errors import InputError

PROBABILITY_NODATA = -9999.0
TAG_NODATA = 255
BATCH = 256


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


def tag_image(image, model, output, feedback, output_probabilities=None, stride=None, threshold=None,
              on_patches=None, rows_per_pass=256):
    """Run model on patches of the whole image; write the tag raster (and probabilities); returns a summary.

    on_patches(records) receives, per pass, one (col0, row0, col1, row1, probabilities) per valid patch:
    the grid cell it owns, in pixels."""
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
    ox, oy = patch_origins(padded_w, p, stride), patch_origins(padded_h, p, stride)
    edges_x, edges_y = cell_edges(ox, p, width), cell_edges(oy, p, height)
    passes = list(range(0, height, rows_per_pass))
    counts = np.zeros(k + 1, dtype=np.int64)
    patches_run = 0
    geo = (image.geotransform, image.projection)
    with bounded_cache(), RasterWriter(output, width, height, 1, np.uint8, *geo, TAG_NODATA, ["tag"]) as tags_out, \
            (RasterWriter(output_probabilities, width, height, k, np.float32, *geo, PROBABILITY_NODATA, model.classes)
             if output_probabilities else nullcontext()) as prob_out:
        for i, y0 in enumerate(passes):
            step(feedback, i, len(passes))
            y1 = min(y0 + rows_per_pass, height)
            rows = oy[(oy < y1) & (oy + p > y0)]
            r0 = int(rows.min())
            stack, valid = _read_padded(image, model.bands, r0, int(rows.max()) + p, padded_w)
            sums = np.zeros((k, y1 - y0, padded_w), np.float32)
            hits = np.zeros((y1 - y0, padded_w), np.float32)
            records = []
            windows = sliding_window_view(stack, (p, p), axis=(1, 2))
            # Nodata pixels per patch from an integral image: four look-ups per patch, not p x p.
            invalid = np.zeros((valid.shape[0] + 1, valid.shape[1] + 1), np.int32)
            invalid[1:, 1:] = np.cumsum(np.cumsum(~valid, axis=0, dtype=np.int32), axis=1)
            for row_origin in rows:
                a, b = row_origin - r0, row_origin - r0 + p
                ok = (invalid[b, ox + p] - invalid[a, ox + p] - invalid[b, ox] + invalid[a, ox]) == 0
                if not ok.any():
                    continue
                good = ox[ok]
                patches = np.ascontiguousarray(np.moveaxis(windows[:, row_origin - r0, good], 0, 1))
                probs = np.concatenate([model.predict(patches[b:b + BATCH]) for b in range(0, len(patches), BATCH)])
                patches_run += len(patches)
                # Each patch adds its probabilities to the p columns it covers: a difference array along x.
                diff = np.zeros((k + 1, padded_w + 1), np.float32)
                np.add.at(diff[:k].T, good, probs)
                np.add.at(diff[:k].T, good + p, -probs)
                np.add.at(diff[k], good, 1.0)
                np.add.at(diff[k], good + p, -1.0)
                line = np.cumsum(diff[:, :padded_w], axis=1)
                top, bottom = max(row_origin, y0) - y0, min(row_origin + p, y1) - y0
                sums[:, top:bottom] += line[:k, None, :]
                hits[top:bottom] += line[k][None, :]
                if on_patches is not None:
                    cell = np.searchsorted(oy, row_origin)
                    if y0 <= edges_y[cell] < y1:
                        for col_index, probabilities in zip(np.flatnonzero(ok), probs):
                            records.append((int(edges_x[col_index]), int(edges_y[cell]), int(edges_x[col_index + 1]),
                                            int(edges_y[cell + 1]), probabilities))
            covered = hits[:, :width] > 0.5
            mean = np.full((k, y1 - y0, width), PROBABILITY_NODATA, np.float32)
            np.divide(sums[:, :, :width], hits[None, :, :width], out=mean, where=covered[None])
            best, top = argmax_first_axis(mean)
            tag = np.where(top >= threshold, best + 1, 0).astype(np.uint8)
            tag[~covered] = TAG_NODATA
            tags_out.write(0, 0, y0, tag)
            counts += np.bincount(tag[covered], minlength=k + 1)
            if output_probabilities:
                for c in range(k):
                    prob_out.write(c, 0, y0, mean[c])
            if on_patches is not None and records:
                on_patches(records)
        if patches_run == 0:
            raise InputError("INPUT", "no patch of the image is free of nodata: nothing could be tagged.")
        meta = {"PROSPECTRA_MODEL": model.name, "PROSPECTRA_CLASSES": ";".join(model.classes),
                "PROSPECTRA_THRESHOLD": threshold, "PROSPECTRA_STRIDE": stride,
                "PROSPECTRA_SCALING": image.scaling_source}
        tags_out.set_metadata(meta)
        if output_probabilities:
            prob_out.set_metadata(meta)
    feedback.setProgress(100)
    return {"patches": patches_run, "stride": stride, "threshold": threshold, "padded": (width < p or height < p),
            "pixels_per_tag": {("none" if i == 0 else model.classes[i - 1]): int(c) for i, c in enumerate(counts)}}


def argmax_first_axis(values):
    """(index, value) of the maximum along axis 0, first index on ties, as numpy's argmax; one vectorised
    comparison per class instead of numpy's slow reduction across a short leading axis."""
    best = values[0].copy()
    index = np.zeros(best.shape, np.intp)
    for c in range(1, len(values)):
        better = values[c] > best
        np.copyto(best, values[c], where=better)
        index[better] = c
    return index, best


def _read_padded(image, bands, r0, r1, padded_w):
    """Rows r0..r1 of the bands at full width; beyond the image (smaller than a patch) the edge repeats."""
    stop = min(r1, image.height)
    stack, valid = image.read_stack(bands, (0, r0, image.width, stop - r0))
    pad = ((0, r1 - stop), (0, padded_w - image.width))
    if any(n for pair in pad for n in pair):
        stack = np.pad(stack, ((0, 0),) + pad, mode="edge")
        valid = np.pad(valid, pad, mode="edge")
    return stack, valid

