"""SIMULATED training patches for the mineral taggers: USGS splib07 alteration minerals mixed linearly into
real Sentinel-2 background pixels in spatial patterns (blobs, veins, halos), with illumination changes and
noise. Nothing here is field data; see the model cards.

A mineral is every USGS reflectance sample of it, split by physical sample into training and held-out samples
(split_samples): patches for training are made only from training samples, so that patches made only from
held-out samples measure what the model does on a sample of the mineral it never saw. Each mineral body in a
patch is one sample, or a blend of two samples of the same mineral. For Sentinel-2, each patch takes the
Sentinel-2A or the Sentinel-2B response curves at random.

Backgrounds (real, from ../shared/data): the RStoolbox Sentinel-2 L2A scene (its +0.1 offset removed) and
the five eo-learn Sentinel-2 L1C scenes. For Landsat-8 OLI they are converted band by band: each pixel's
Sentinel-2 spectrum, interpolated linearly between band centres (held flat beyond them), is convolved with
the OLI response curves; this is linear, so it is done once as a matrix."""
import os
import sys

import numpy as np
from osgeo import gdal

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))
import plugin_path  # noqa: E402,F401  (makes 'prospectra' importable)
from prospectra.core.sensors import sensor as get_sensor  # noqa: E402
from prospectra.core.spectral.spectral_library import Spectrum, SpectralLibrary, usgs_mineral_samples  # noqa: E402

S2_13 = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12"]
PATCH = 16


def model_bands(sensor):
    return [b.name for b in sensor.bands if not b.thermal and b.name not in sensor.atmospheric_bands]


def s2_backgrounds(shared):
    """Real Sentinel-2 cubes (13 bands in S2_13 order, reflectance); the L2A scene lacks B10: its B10 is
    taken as the L1C scenes' median B10 (cirrus band; not used by the taggers)."""
    l1c = np.load(os.path.join(shared, "eolearn_s2_l1c", "REFERENCE_SCENES.npy"))  # (5, 101, 100, 13)
    cubes = [np.moveaxis(t, -1, 0).astype(np.float32) for t in l1c]
    ds = gdal.Open(os.path.join(shared, "rstoolbox_sentinel2_l2a", "sen2_rstoolbox_12band.tif"))
    l2a = ds.ReadAsArray().astype(np.float32) - 0.1
    b10 = np.full((1,) + l2a.shape[1:], np.median(l1c[..., 10]), np.float32)
    cubes.append(np.concatenate([l2a[:10], b10, l2a[10:]]))
    return cubes


def s2_to_sensor_matrix(sensor, bands):
    """(len(bands) x 13) matrix taking a Sentinel-2 spectrum to the sensor's bands."""
    s2 = get_sensor("sentinel2a_msi")
    centres = np.array([s2.band(b).centre_nm for b in S2_13])
    order = np.argsort(centres)
    wavelengths = np.concatenate([[350.0], centres[order], [2550.0]])
    columns = []
    for i in range(13):
        e = np.zeros(13)
        e[i] = 1.0
        values = e[order]
        spectrum = Spectrum("unit", np.concatenate([values[:1], values, values[-1:]]), wavelengths=wavelengths)
        columns.append(SpectralLibrary([spectrum], "unit").resample(sensor, bands)[0])
    return np.array(columns).T


def background_cubes(sensor, bands, shared):
    cubes = s2_backgrounds(shared)
    if sensor.family == "sentinel2_msi":
        index = [S2_13.index(b) for b in bands]
        return [c[index] for c in cubes]
    m = s2_to_sensor_matrix(sensor, bands).astype(np.float32)
    return [np.einsum("ij,jrc->irc", m, c) for c in cubes]


def abundance_pattern(rng):
    """One mineral body in a PATCH x PATCH window: a blob, a vein or a halo, peak abundance 0.4-1.0; or, one
    time in eight, an outcrop filling the whole window at 0.7-1.0."""
    if rng.random() < 0.125:
        return np.full((PATCH, PATCH), rng.uniform(0.7, 1.0), np.float32)
    y, x = np.mgrid[0:PATCH, 0:PATCH].astype(np.float32)
    peak = rng.uniform(0.4, 1.0)
    cy, cx = rng.uniform(-2, PATCH + 2, 2)
    kind = rng.choice(["blob", "vein", "halo"])
    if kind == "blob":
        sy, sx = rng.uniform(1.5, 5.0, 2)
        a = np.exp(-(((y - cy) / sy) ** 2 + ((x - cx) / sx) ** 2))
    elif kind == "vein":
        angle = rng.uniform(0, np.pi)
        d = np.abs((x - cx) * np.sin(angle) - (y - cy) * np.cos(angle))
        a = np.exp(-(d / rng.uniform(0.7, 2.0)) ** 2)
    else:
        r = np.hypot(y - cy, x - cx)
        a = np.exp(-((r - rng.uniform(3, 8)) / rng.uniform(1.0, 2.0)) ** 2)
    return (peak * a).astype(np.float32)


def split_samples(minerals, sensor, bands, seed=0, held_share=1 / 3):
    """{mineral: (training spectra (k, bands), held-out spectra (j, bands))}: the mineral's USGS samples that
    cover the bands, split by physical sample (ASD and Beckman measurements of one sample stay together), at
    least one sample on each side. Minerals with a single sample are left out (nothing to hold out)."""
    rng = np.random.default_rng(seed)
    library, matrix, _ = usgs_mineral_samples(minerals).resample_covering(sensor, bands)
    out = {}
    for mineral in minerals:
        rows = [i for i, s in enumerate(library.spectra) if s.name == mineral]
        ids = sorted({library.spectra[i].info.get("sample_id") for i in rows})
        if len(ids) < 2:
            continue
        held = set(rng.choice(ids, size=max(1, round(held_share * len(ids))), replace=False))
        pick = [library.spectra[i].info.get("sample_id") in held for i in rows]
        out[mineral] = (matrix[[i for i, h in zip(rows, pick) if not h]].astype(np.float32),
                        matrix[[i for i, h in zip(rows, pick) if h]].astype(np.float32))
    return out


def sensor_variants(sensor_id):
    """The response curves a patch may be seen through: both Sentinel-2 units for Sentinel-2."""
    sensor = get_sensor(sensor_id)
    if sensor.family == "sentinel2_msi":
        return [get_sensor("sentinel2a_msi"), get_sensor("sentinel2b_msi")]
    return [sensor]


def make_patches(n, sensor_id, shared, minerals, seed=0, part="train", split_seed=0, distractors=()):
    """(patches (n, bands, 16, 16) float32 reflectance, labels (n, minerals) uint8, bands). part: 'train' mixes
    the training samples of each mineral, 'heldout' only its held-out samples (split_samples). distractors:
    minerals the model does not tag but real ground holds (those the sensor cannot identify): mixed in, never
    labelled, so that the model learns not to call them by the name of a mineral it knows."""
    rng = np.random.default_rng(seed)
    sensor = get_sensor(sensor_id)
    bands = model_bands(sensor)
    side = 0 if part == "train" else 1
    spectra = [{m: s[side] for m, s in split_samples(minerals, v, bands, split_seed).items()}
               for v in sensor_variants(sensor_id)]
    others = [usgs_mineral_samples(list(distractors)).resample_covering(v, bands)[1].astype(np.float32)
              for v in sensor_variants(sensor_id)] if distractors else None
    cubes = background_cubes(sensor, bands, shared)
    x = np.empty((n, len(bands), PATCH, PATCH), np.float32)
    y = np.zeros((n, len(minerals)), np.uint8)
    for i in range(n):
        cube = cubes[rng.integers(len(cubes))]
        r0 = rng.integers(cube.shape[1] - PATCH + 1)
        c0 = rng.integers(cube.shape[2] - PATCH + 1)
        background = np.rot90(cube[:, r0:r0 + PATCH, c0:c0 + PATCH], rng.integers(4), axes=(1, 2))
        if rng.random() < 0.5:
            background = background[:, :, ::-1]
        library = spectra[rng.integers(len(spectra))]
        count = min(rng.choice([0, 1, 2, 3], p=[0.2, 0.4, 0.3, 0.1]), len(minerals))
        chosen = rng.choice(len(minerals), size=count, replace=False)
        abundances = np.array([abundance_pattern(rng) for _ in chosen]).reshape(count, PATCH, PATCH)
        total = abundances.sum(axis=0)
        scale = np.where(total > 1.0, 1.0 / np.maximum(total, 1e-6), 1.0)
        abundances *= scale
        bodies = []
        for m in chosen:
            samples = library[minerals[m]]
            a, b = samples[rng.integers(len(samples))], samples[rng.integers(len(samples))]
            w = rng.uniform(0, 1) if rng.random() < 0.3 else 1.0  # sometimes a blend of two samples
            bodies.append(w * a + (1 - w) * b)
        bodies = np.array(bodies).reshape(count, len(bands))
        if others is not None and rng.random() < 0.4:  # an unlabelled body of a mineral the model does not tag
            pool = others[rng.integers(len(others))]
            extra = abundance_pattern(rng) * max(0.0, 1.0 - float(abundances.sum(axis=0).max()))
            abundances = np.concatenate([abundances, extra[None]])
            bodies = np.concatenate([bodies, pool[rng.integers(len(pool))][None]])
        mixed = (1.0 - abundances.sum(axis=0)) * background + np.einsum("mrc,mb->brc", abundances, bodies)
        # Illumination: brightness changes, spectral shape does not; a gentle slope across the patch (relief).
        yy, xx = np.mgrid[0:PATCH, 0:PATCH] / PATCH - 0.5
        slope = 1 + rng.uniform(-0.15, 0.15) * yy + rng.uniform(-0.15, 0.15) * xx
        shading = rng.uniform(0.6, 1.4) * slope
        noise = rng.uniform(0.002, 0.01)  # reflectance: from a clean Landsat-8 scene to a noisy, hazy one
        x[i] = mixed * shading + rng.normal(0, noise, mixed.shape)
        for m, a in zip(chosen, abundances[:count]):
            y[i, m] = int((a >= 0.25).sum() >= 4)
    return x, y, bands


def pure_patches(per_mineral, sensor_id, minerals, seed=0, split_seed=0):
    """Patches entirely of one held-out sample of a mineral (brightness 0.6-1.4, noise 0.002-0.01): (patches,
    index of the mineral). What dominant-tag accuracy on unseen samples is measured on."""
    rng = np.random.default_rng(seed)
    sensor = get_sensor(sensor_id)
    bands = model_bands(sensor)
    variants = [split_samples(minerals, v, bands, split_seed) for v in sensor_variants(sensor_id)]
    x, which = [], []
    for k, mineral in enumerate(minerals):
        for _ in range(per_mineral):
            held = variants[rng.integers(len(variants))][mineral][1]
            spectrum = held[rng.integers(len(held))]
            patch = spectrum[:, None, None] * rng.uniform(0.6, 1.4) * np.ones((1, PATCH, PATCH), np.float32)
            x.append(patch + rng.normal(0, rng.uniform(0.002, 0.01), patch.shape))
            which.append(k)
    return np.array(x, np.float32), np.array(which)
