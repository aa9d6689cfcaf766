"""SIMULATED training patches for the mineral taggers: USGS splib07 alteration minerals mixed linearly into
real Sentinel-2 background pixels in spatial patterns (blobs, veins, halos), with illumination changes and
noise. Nothing here is field data; see the model cards.

Backgrounds (real, from ../shared/data): the RStoolbox Sentinel-2 L2A scene (its +0.1 offset removed) and
the five eo-learn Sentinel-2 L1C scenes. For Landsat-8 OLI they are converted band by band: each pixel's
Sentinel-2 spectrum, interpolated linearly between band centres (held flat beyond them), is convolved with
the OLI response curves; this is linear, so it is done once as a matrix."""
import os
import sys

import numpy as np
from osgeo import gdal

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "build", "plugins"))
from prospectra.core.sensors import sensor as get_sensor  # noqa: E402
from prospectra.core.spectral_library import Spectrum, SpectralLibrary, usgs_endmembers  # noqa: E402

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
    """One mineral body in a PATCH x PATCH window: a blob, a vein or a halo, peak abundance 0.4-0.9."""
    y, x = np.mgrid[0:PATCH, 0:PATCH].astype(np.float32)
    peak = rng.uniform(0.4, 0.9)
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


def make_patches(n, sensor_id, shared, minerals, seed=0, noise=0.004):
    """(patches (n, bands, 16, 16) float32 reflectance, labels (n, minerals) uint8, bands)."""
    rng = np.random.default_rng(seed)
    sensor = get_sensor(sensor_id)
    bands = model_bands(sensor)
    spectra = usgs_endmembers(minerals).resample(sensor, bands).astype(np.float32)  # (m, bands)
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
        count = rng.choice([0, 1, 2, 3], p=[0.25, 0.4, 0.25, 0.1])
        chosen = rng.choice(len(minerals), size=count, replace=False)
        abundances = np.array([abundance_pattern(rng) for _ in chosen]).reshape(count, PATCH, PATCH)
        total = abundances.sum(axis=0)
        scale = np.where(total > 0.95, 0.95 / np.maximum(total, 1e-6), 1.0)
        abundances *= scale
        mixed = (1.0 - abundances.sum(axis=0)) * background + np.einsum("mrc,mb->brc", abundances, spectra[chosen])
        shading = rng.uniform(0.75, 1.25)  # topographic illumination: brightness changes, spectral shape does not
        x[i] = mixed * shading + rng.normal(0, noise, mixed.shape)
        for m, a in zip(chosen, abundances):
            y[i, m] = int((a >= 0.25).sum() >= 4)
    return x, y, bands
