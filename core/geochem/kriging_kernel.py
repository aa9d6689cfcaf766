"""Ordinary Kriging's per-pixel kernel, compiled by numba: each pixel's k nearest samples, its neighbour set's
Kriging system (solved once per set and window), its prediction and Kriging variance, in one pass over a
window's blocks. The systems are pykrige's moving-window ones (the variogram matrix with a zero diagonal,
bordered by ones), so the values equal pykrige's to rounding.

Each block of pixels comes with candidate samples that hold every one of its pixels' k nearest
(kriging.SharedNeighbourhoods finds them), so a pixel's search looks at a few dozen samples, not all of them.

Imported only through kriging.pixel_kernel(), which says how to install numba where it is missing. The compiled
code is cached on disk, as SAM's kernel is (spectral/sam_kernel.py)."""
import math

import numba
import numpy as np

# pykrige's models, by position in kriging.VARIOGRAM_MODELS; parameters in pykrige's order (PARAMETER_NAMES)
LINEAR, POWER, GAUSSIAN, SPHERICAL, EXPONENTIAL = range(5)


@numba.njit(nogil=True, cache=True)
def semivariances(model, p, d, out):
    """pykrige's variogram models (variogram_models.py) at the distances d, into out: the same formulas, with
    squares and cubes as products rather than pow calls (equal to 1e-13 relative; pow made the kernel twice as
    slow), and one loop per model, without branches, so that the compiler vectorises it."""
    if model == LINEAR:
        for i in range(len(d)):
            out[i] = p[0] * d[i] + p[1]
    elif model == POWER:
        for i in range(len(d)):
            out[i] = p[0] * d[i] ** p[1] + p[2]
    elif model == GAUSSIAN:
        scale = p[1] * 4.0 / 7.0
        scale *= scale
        for i in range(len(d)):
            out[i] = p[0] * (1.0 - math.exp(-(d[i] * d[i]) / scale)) + p[2]
    elif model == EXPONENTIAL:
        scale = p[1] / 3.0
        for i in range(len(d)):
            out[i] = p[0] * (1.0 - math.exp(-d[i] / scale)) + p[2]
    else:  # spherical: beyond the range h = 1, and 1.5 - 0.5 is exactly 1 (pykrige: psill + nugget)
        for i in range(len(d)):
            h = min(d[i] / p[1], 1.0)
            out[i] = p[0] * (1.5 * h - 0.5 * (h * h * h)) + p[2]


@numba.njit(nogil=True, cache=True)
def same_set(a, b):
    for i in range(len(a)):
        if a[i] != b[i]:
            return False
    return True


@numba.njit(nogil=True, cache=True)
def pivot_row(a, c):
    """Partial pivoting: the row at or below c with the largest value in column c; a zero there is a singular
    system, refused rather than divided by."""
    best = c
    for r in range(c + 1, a.shape[0]):
        if abs(a[r, c]) > abs(a[best, c]):
            best = r
    if a[best, c] == 0.0:
        raise ValueError("singular Kriging system: the samples of a neighbourhood do not determine the weights")
    return best


@numba.njit(nogil=True, cache=True)
def factorise(a, pivots):
    """LU factorisation with partial pivoting, in place (a = P L U, as LAPACK's getrf): about a microsecond for a
    17-square system, where np.linalg.inv's allocations took longer than its arithmetic (a quarter of the
    kernel's time). For the prediction alone, which needs one solve: invert() takes three times as long."""
    n = a.shape[0]
    for c in range(n):
        best = pivot_row(a, c)
        pivots[c] = best
        if best != c:
            for j in range(n):
                a[c, j], a[best, j] = a[best, j], a[c, j]
        for r in range(c + 1, n):
            f = a[r, c] / a[c, c]
            a[r, c] = f
            for j in range(c + 1, n):
                a[r, j] -= f * a[c, j]


@numba.njit(nogil=True, cache=True)
def solve(lu, pivots, b):
    """Solve with the factorise()d matrix, b in place."""
    n = lu.shape[0]
    for c in range(n):
        b[c], b[pivots[c]] = b[pivots[c]], b[c]
    for r in range(n):
        for j in range(r):
            b[r] -= lu[r, j] * b[j]
    for r in range(n - 1, -1, -1):
        for j in range(r + 1, n):
            b[r] -= lu[r, j] * b[j]
        b[r] /= lu[r, r]


@numba.njit(nogil=True, cache=True)
def invert(a, inverse):
    """inverse = a^-1 by Gauss-Jordan elimination with partial pivoting; a is overwritten. For the variance,
    which needs the whole inverse: 17 solves with factorise()'s factors took twice as long."""
    n = a.shape[0]
    inverse[:, :] = 0.0
    for i in range(n):
        inverse[i, i] = 1.0
    for c in range(n):
        best = pivot_row(a, c)
        if best != c:
            for j in range(n):
                a[c, j], a[best, j] = a[best, j], a[c, j]
                inverse[c, j], inverse[best, j] = inverse[best, j], inverse[c, j]
        scale = 1.0 / a[c, c]
        for j in range(c + 1, n):  # a's columns up to c are done: unit columns from here on
            a[c, j] *= scale
        for j in range(n):
            inverse[c, j] *= scale
        for r in range(n):
            if r != c:
                f = a[r, c]
                for j in range(c + 1, n):
                    a[r, j] -= f * a[c, j]
                for j in range(n):
                    inverse[r, j] -= f * inverse[c, j]


@numba.njit(nogil=True, cache=True)
def set_key(ids):
    h = np.int64(0)
    for i in ids:  # wraps around; only spreads the sets over the table, which compares them in full
        h = h * np.int64(1000003) + i
    return h


@numba.njit(nogil=True, cache=True)
def find(table, set_keys, set_ids, key, ids):
    """(the set's index, or -1, and the table slot where it is or would go): open addressing, linear probing."""
    slot = key & (len(table) - 1)
    while table[slot] >= 0:
        t = table[slot]
        if set_keys[t] == key and same_set(set_ids[t], ids):
            return t, slot
        slot = (slot + 1) & (len(table) - 1)
    return -1, slot


@numba.njit(nogil=True, cache=True)
def grow(set_ids, set_keys, weights_z, inverses, want_variance):
    """The full table of sets, with twice the room: (set_ids, set_keys, weights_z, inverses, table), the hash
    table rebuilt at twice the new room."""
    room = len(set_keys)
    set_ids = np.concatenate((set_ids, np.empty_like(set_ids)))
    set_keys = np.concatenate((set_keys, np.empty_like(set_keys)))
    weights_z = np.concatenate((weights_z, np.empty_like(weights_z)))
    if want_variance:
        inverses = np.concatenate((inverses, np.empty_like(inverses)))
    table = np.full(4 * room, -1, np.int64)
    for t in range(room):
        table[find(table, set_keys, set_ids, set_keys[t], set_ids[t])[1]] = t
    return set_ids, set_keys, weights_z, inverses, table


@numba.njit(nogil=True, cache=True)
def k_nearest(d2, nc, k, near, near_d):
    """Into near, the positions of the k nearest of the first nc candidates by squared distance d2 (ties: the
    earlier candidate), in increasing order, which is sample order: the set's identity. near_d: work space."""
    n = 0
    for i in range(nc):  # by insertion, nearest first
        if n == k and d2[i] >= near_d[k - 1]:
            continue
        j = n if n < k else k - 1
        while j > 0 and near_d[j - 1] > d2[i]:
            near_d[j], near[j] = near_d[j - 1], near[j - 1]
            j -= 1
        near_d[j], near[j] = d2[i], i
        n = min(n + 1, k)
    for i in range(1, k):  # then in candidate order
        t = near[i]
        j = i
        while j > 0 and near[j - 1] > t:
            near[j] = near[j - 1]
            j -= 1
        near[j] = t


@numba.njit(nogil=True, cache=True)
def solve_set(ids, sx, sy, z, model, p, want_variance, a, pivots, between, w, inverse):
    """pykrige's system for the samples ids, solved: w = inverse [z, 0] (the system is symmetric, so a pixel's
    prediction is [g, 1] . w), and, when want_variance, inverse itself. a, pivots, between: work space."""
    k = len(ids)
    for i in range(k):  # the upper half, mirrored: distances between samples are symmetric
        for j in range(i + 1, k):
            between[j] = math.sqrt((sx[ids[i]] - sx[ids[j]]) ** 2 + (sy[ids[i]] - sy[ids[j]]) ** 2)
        semivariances(model, p, between[i + 1:], a[i, i + 1:k])
        for j in range(i + 1, k):
            a[i, j] = -a[i, j]
            a[j, i] = a[i, j]
        a[i, i] = 0.0
        a[i, k] = 1.0
        a[k, i] = 1.0
    a[k, k] = 0.0
    if want_variance:
        invert(a, inverse)
        for i in range(k + 1):
            w[i] = 0.0
            for j in range(k):
                w[i] += inverse[i, j] * z[ids[j]]
    else:
        factorise(a, pivots)
        for i in range(k):
            w[i] = z[ids[i]]
        w[k] = 0.0
        solve(a, pivots, w)


@numba.njit(nogil=True, cache=True)
def krige_blocks(x, y, block, candidates, starts, sx, sy, z, k, model, p, eps, want_variance, out_z, out_s):
    """Krige the pixels of a window, block by block.

    x, y: (rows, cols) pixel centres; block: the blocks' side in pixels (blocks are taken row by row, the last
    ones cut at the window's edge); candidates[starts[b]:starts[b + 1]]: sample indices in increasing order that
    hold every k-nearest set of block b's pixels; sx, sy, z: the samples; model, p: the variogram
    (semivariances); eps: a pixel this close to a sample takes its value (pykrige's rule). Fills out_z and, when
    want_variance, out_s ((rows, cols) float64).

    A pixel mostly has the set of the pixel before it: that set is kept when its farthest member is nearer than
    every other candidate, and only otherwise are the k nearest sought. Each set's system is solved once per
    window, whichever blocks share it (a hash table of the sets met)."""
    rows, cols = x.shape
    per_row = (cols + block - 1) // block
    # the sets met: their samples (increasing), the weights giving the prediction, the inverses for the variance
    room = 256  # grown by grow()
    set_ids = np.empty((room, k), np.int64)
    set_keys = np.empty(room, np.int64)
    weights_z = np.empty((room, k + 1))
    inverses = np.empty((room if want_variance else 1, k + 1, k + 1))
    table = np.full(2 * room, -1, np.int64)
    count = 0
    a = np.empty((k + 1, k + 1))
    pivots = np.empty(k + 1, np.int64)
    between = np.empty(k)
    widest = 0
    for b in range(len(starts) - 1):
        widest = max(widest, starts[b + 1] - starts[b])
    d2 = np.empty(widest)  # squared distances from the pixel to the block's candidates
    member = np.zeros(widest, np.bool_)  # candidates in the current set
    cx, cy = np.empty(widest), np.empty(widest)
    near = np.empty(k, np.int64)  # the current set, as positions in the block's candidates
    near_d = np.empty(k)
    ids = np.empty(k, np.int64)
    d = np.empty(k)
    g = np.empty(k)
    t_row = np.empty(k)
    for b in range(len(starts) - 1):
        r0, c0 = (b // per_row) * block, (b % per_row) * block
        cand = candidates[starts[b]:starts[b + 1]]
        nc = len(cand)
        for i in range(nc):  # the candidates' coordinates side by side: the distance loop vectorises
            cx[i], cy[i] = sx[cand[i]], sy[cand[i]]
        current = -1
        for r in range(r0, min(r0 + block, rows)):
            for c in range(c0, min(c0 + block, cols)):
                px, py = x[r, c], y[r, c]
                for i in range(nc):
                    dx, dy = cx[i] - px, cy[i] - py
                    d2[i] = dx * dx + dy * dy
                same = False
                if current >= 0:
                    inside, outside = 0.0, np.inf
                    for i in range(nc):  # without branches: the compiler vectorises it
                        inside = max(inside, d2[i] if member[i] else 0.0)
                        outside = min(outside, np.inf if member[i] else d2[i])
                    same = inside < outside
                if not same:
                    k_nearest(d2, nc, k, near, near_d)
                    member[:nc] = False
                    for i in range(k):
                        member[near[i]] = True
                        ids[i] = cand[near[i]]
                    key = set_key(ids)
                    current, slot = find(table, set_keys, set_ids, key, ids)
                    if current < 0:  # a new set: pykrige's system for it, solved
                        if count == len(set_keys):  # full
                            set_ids, set_keys, weights_z, inverses, table = grow(set_ids, set_keys, weights_z,
                                                                                 inverses, want_variance)
                            slot = find(table, set_keys, set_ids, key, ids)[1]
                        current = count
                        count += 1
                        table[slot] = current
                        set_keys[current] = key
                        set_ids[current] = ids
                        solve_set(ids, sx, sy, z, model, p, want_variance, a, pivots, between, weights_z[current],
                                  inverses[current if want_variance else 0])
                for i in range(k):
                    d[i] = math.sqrt(d2[near[i]])
                semivariances(model, p, d, g)
                wz = weights_z[current]
                prediction = wz[k]
                for i in range(k):
                    g[i] = 0.0 if d[i] <= eps else -g[i]
                    prediction += g[i] * wz[i]
                out_z[r, c] = prediction
                if want_variance:  # -[g, 1] inverse [g, 1]: rows added into t, two at a time, which vectorises
                    inv = inverses[current]  # (the kernel with the variance took 10-15 % longer one row at a time)
                    for j in range(k):
                        t_row[j] = 2.0 * inv[k, j]
                    i = 0
                    while i + 1 < k:
                        gi, gn = g[i], g[i + 1]
                        for j in range(k):
                            t_row[j] += gi * inv[i, j] + gn * inv[i + 1, j]
                        i += 2
                    if i < k:
                        for j in range(k):
                            t_row[j] += g[i] * inv[i, j]
                    v = inv[k, k]
                    for j in range(k):
                        v += g[j] * t_row[j]
                    out_s[r, c] = -v
