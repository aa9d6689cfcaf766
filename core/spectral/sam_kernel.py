"""SAM's pixel kernel, compiled by numba: one pass over a window's rows does what took a dozen numpy passes (the
scaling to reflectance, every pixel's dot product with every member, a running best, a limit test, a tally), in
chunks of CHUNK pixels of one row whose bands and running rows stay in the CPU's first-level cache. Each pixel is
computed on its own, in a fixed order and without fused multiply-adds, so its class and angles are the same bits
whatever window or tile it is read in and whichever x86 CPU runs it (a cluster's tiles match the one-process map).

Imported only through spectral_angle_mapper.pixel_kernel(), which says how to install numba where it is missing.
The compiled code is cached on disk (numba's cache beside this file, or in the user's cache folder when this
folder is read-only): the first run on a machine compiles for about 2 s, later runs load it in about 0.2 s. The
cache is rebuilt when this file changes, not when spectral_angle_mapper does: CLASS_NODATA, which it takes from
there, is part of the class raster's format and never changes."""
import numba
import numpy as np

from .spectral_angle_mapper import CLASS_NODATA

CHUNK = 512  # pixels at once: 10 bands x 2 KB, within a 32 KB first-level cache (256 or 1024 took 7-20 % longer)
PAD = 16  # floats after each band's row of the chunk: rows 4 KB apart would share cache sets (20 % slower)


@numba.njit(nogil=True, cache=True)
def classify_rows(stack, valid, scale, offset, nodata, lowest, unit, member_class, group, cos_limits, margin,
                  want_angles, classes, angles, counts, row0, row1):
    """Classify rows row0 to row1 of a window.

    stack: (bands, rows, cols) values (float32, or the bands' own 8- or 16-bit integer type), reflectance = value x
    scale + offset per band, nodata where a value equals the band's nodata (NaN: none) (Image.stored_scaling) or
    where reflectance is below lowest (an undeclared fill value, io.image.LOWEST_MEASURED);
    valid: (rows, cols) bool; unit: (members, bands) float32 unit spectra; member_class: each member's class
    (int64); group: each class's group (int64); cos_limits: each class's cos(maximum angle) (float32); margin:
    radians by which the best class must beat the best class of another group (0: no margin test).
    Fills classes (rows, cols) uint8 (class + 1, 0 unclassified, CLASS_NODATA), the cosines of the class angles
    (classes, rows, cols) float32 when want_angles (1 where nodata), and adds to counts (members + 2: pixels won per
    member, then unclassified, nodata).

    The best member is the largest dot product (the pixel's norm is common to all; ties go to the first member),
    and its class is the best class, since a class's dot product is its members' largest. The arccos runs only
    for the rule image, after this (spectral_angle_mapper.classify_rows)."""
    m, nb = unit.shape
    k = cos_limits.shape[0]
    cols = stack.shape[2]
    use_margin = margin > 0 and group.max() > 0
    need_class_dots = want_angles or use_margin
    pixels = np.empty((nb, CHUNK + PAD), np.float32)  # the chunk's reflectance, band by band
    dot = np.empty(CHUNK, np.float32)
    best = np.empty(CHUNK, np.float32)
    best_member = np.empty(CHUNK, np.int32)
    norm = np.empty(CHUNK, np.float32)
    seen = np.empty(CHUNK, np.bool_)
    measured = np.empty(CHUNK, np.bool_)
    class_dots = np.empty((k, CHUNK), np.float32)
    member_limit = np.empty(m, np.float32)  # the limit and class value of each member's class, looked up once
    member_value = np.empty(m, np.uint8)
    for j in range(m):
        member_limit[j] = cos_limits[member_class[j]]
        member_value[j] = member_class[j] + 1
    cos_margin, sin_margin = np.cos(margin), np.sin(margin)
    one = np.float32(1.0)
    for r in range(row0, row1):
        for c0 in range(0, cols, CHUNK):
            n = min(CHUNK, cols - c0)
            # Reflectance, norms, nodata, and whether any band is positive (all-zero or all-negative pixels have
            # no spectrum), in the one pass that reads the window.
            norm[:n] = 0
            seen[:n] = False
            measured[:n] = valid[r, c0:c0 + n]
            for b in range(nb):
                stored, here = stack[b, r, c0:c0 + n], pixels[b]
                s, o, fill = scale[b], offset[b], nodata[b]
                for p in range(n):
                    x = np.float32(stored[p]) * s + o  # float32, as the reader scales (numba takes uint16 to float64)
                    here[p] = x
                    norm[p] += x * x
                    seen[p] |= x > 0
                    measured[p] &= (stored[p] != fill) & (x >= lowest)
            for p in range(n):
                norm[p] = np.sqrt(norm[p])
                # A spectrum too faint (1e-30) or too bright for float32 has no norm to divide by: no spectrum.
                seen[p] &= measured[p] & (norm[p] > 0) & (norm[p] < np.inf)
            if need_class_dots:
                class_dots[:, :n] = -np.inf
            for j in range(m):
                # Four bands per pass over the chunk: a quarter of the loads and stores of the running dot product.
                dot[:n] = 0
                for b in range(0, nb - nb % 4, 4):
                    u0, u1, u2, u3 = unit[j, b], unit[j, b + 1], unit[j, b + 2], unit[j, b + 3]
                    x0, x1, x2, x3 = pixels[b], pixels[b + 1], pixels[b + 2], pixels[b + 3]
                    for p in range(n):
                        dot[p] += (u0 * x0[p] + u1 * x1[p]) + (u2 * x2[p] + u3 * x3[p])
                for b in range(nb - nb % 4, nb):
                    u0, x0 = unit[j, b], pixels[b]
                    for p in range(n):
                        dot[p] += u0 * x0[p]
                if j == 0:
                    best[:n] = dot[:n]
                    best_member[:n] = 0
                else:
                    jj = np.int32(j)
                    for p in range(n):
                        d = dot[p]
                        wins = d > best[p]
                        best[p] = d if wins else best[p]
                        best_member[p] = jj if wins else best_member[p]
                if need_class_dots:
                    own = class_dots[member_class[j]]
                    for p in range(n):
                        own[p] = max(own[p], dot[p])
            out = classes[r, c0:c0 + n]
            for p in range(n):
                bm = best_member[p]
                ok = seen[p] & (best[p] >= member_limit[bm] * norm[p])
                out[p] = member_value[bm] if ok else 0
            if use_margin:  # the best class of another group within the margin: unclassified
                for p in range(n):
                    if out[p] == 0:
                        continue
                    mine = group[member_class[best_member[p]]]
                    other = np.float32(-np.inf)
                    for c in range(k):
                        if group[c] != mine:
                            other = max(other, class_dots[c, p])
                    # angle(other) - angle(best) > margin, without arccos: the other's cosine is below the cosine
                    # of the best angle plus the margin, cos(a + m) = cos a cos m - sin a sin m (a + m <= pi).
                    cos_best = min(max(best[p] / norm[p], -1.0), 1.0)
                    cos_other = min(max(other / norm[p], -1.0), 1.0)
                    if not (cos_best >= -cos_margin and
                            cos_other < cos_best * cos_margin - np.sqrt(1.0 - cos_best * cos_best) * sin_margin):
                        out[p] = 0
            for p in range(n):
                if not seen[p]:
                    out[p] = CLASS_NODATA
                    counts[m + 1] += 1
                elif out[p] == 0:
                    counts[m] += 1
                else:
                    counts[best_member[p]] += 1
            if want_angles:  # their cosines: numpy's arccos over the whole part is vectorised, numba's is not
                for c in range(k):
                    a = angles[c, r, c0:c0 + n]
                    for p in range(n):
                        a[p] = min(max(class_dots[c, p] / norm[p], -one), one) if seen[p] else one
