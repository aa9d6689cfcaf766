"""SIMULATED mineral scene for Spectral Angle Mapper tests (generated at test time, never committed).

Rows of 8 x 8 pixel patches: for each mineral one patch of the pure USGS splib07 spectrum and one of a
linear mixture (70 % mineral, 30 % background), plus background-only patches. The background is a real
Sentinel-2 L2A pixel (the median spectrum of test/data/sen2_rstoolbox_12band.tif, minus its +0.1 offset);
for other sensors it is that spectrum interpolated between the Sentinel-2 band centres (held flat beyond
them) and convolved with the sensor's response curves. Mineral spectra are resampled by the sensor's curves. Gaussian noise
(sigma 0.003 reflectance) is added; the seed is fixed."""
import os

import numpy as np
from osgeo import gdal

from prospectra.core.sensors import sensor as get_sensor
from prospectra.core.spectral.spectral_library import Spectrum, SpectralLibrary, usgs_endmembers

from .rasters import write_raster

HERE = os.path.dirname(os.path.abspath(__file__))
MINERALS = ["Calcite", "Alunite", "Kaolinite", "Hematite", "Epidote", "Muscovite"]
PATCH = 8
MIX = 0.7
NOISE = 0.003


def background_spectrum(sensor, bands):
    ds = gdal.Open(os.path.join(HERE, "sen2_rstoolbox_12band.tif"))
    s2 = get_sensor("sentinel2a_msi")
    names = [ds.GetRasterBand(i + 1).GetDescription() for i in range(ds.RasterCount)]
    values = np.median(ds.ReadAsArray().reshape(ds.RasterCount, -1), axis=1) - 0.1
    centres = np.array([s2.band(n).centre_nm for n in names])
    order = np.argsort(centres)
    # Held flat from 400 nm to the first centre and from the last centre to 2500 nm.
    wavelengths = np.concatenate([[400.0], centres[order], [2500.0]])
    spectrum = Spectrum("background", np.concatenate([values[order][:1], values[order], values[order][-1:]]),
                        wavelengths=wavelengths)
    if sensor.family == "sentinel2_msi":
        lookup = dict(zip(names, values))
        return np.array([lookup[b] for b in bands])
    return SpectralLibrary([spectrum], "background").resample(sensor, bands)[0]


def make_scene(path, sensor_id, bands=None, minerals=MINERALS, seed=0):
    """Write the scene as a float32 GeoTIFF with band descriptions; return (truth, mixed) arrays where truth
    holds the 1-based mineral index of pure patches (0 elsewhere) and mixed that of 70 % patches."""
    sensor = get_sensor(sensor_id)
    bands = bands or [b.name for b in sensor.bands if not b.thermal and b.name not in sensor.atmospheric_bands]
    endmembers = usgs_endmembers(minerals).resample(sensor, bands)
    background = background_spectrum(sensor, bands)
    cols = len(minerals)
    rows = 3  # pure, mixed, background
    truth = np.zeros((rows * PATCH, cols * PATCH), np.uint8)
    mixed = np.zeros_like(truth)
    cube = np.empty((len(bands), rows * PATCH, cols * PATCH), np.float32)
    for k in range(cols):
        x = slice(k * PATCH, (k + 1) * PATCH)
        cube[:, 0:PATCH, x] = endmembers[k][:, None, None]
        truth[0:PATCH, x] = k + 1
        cube[:, PATCH:2 * PATCH, x] = (MIX * endmembers[k] + (1 - MIX) * background)[:, None, None]
        mixed[PATCH:2 * PATCH, x] = k + 1
        cube[:, 2 * PATCH:, x] = background[:, None, None]
    cube += np.random.default_rng(seed).normal(0, NOISE, cube.shape).astype(np.float32)
    write_raster(path, cube, descriptions=bands, crs=32633, geotransform=(500000, 30, 0, 5000000, 0, -30),
                 metadata={"PROSPECTRA_SIMULATED": "yes: USGS splib07 spectra and a real background, see "
                                                   "test/data/simulated_minerals.py"})
    return truth, mixed
