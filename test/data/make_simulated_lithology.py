#!/usr/bin/env python3
"""Writes simulated_lithology/: a SIMULATED 12-band Sentinel-2 L2A scene of shale, granite and pegmatite with
its known truth map and 93 labelled training points, for testing Random Forest classification.

What is real and what is not:
- Rock spectra are linear mixtures (weights below, our own choice) of USGS splib07 Beckman mineral spectra
  (Kokaly et al. 2017; ../shared/data/usgs_splib07/derived/splib07a_selected_BECK.csv), resampled to Sentinel-2
  bands with the USGS Sentinel-2 response curves in core/sensors/srf_msi.csv.
- Rock albedo is scaled down from the bright mineral powders to outcrop values (factors below).
- Each pixel mixes its rock with a REAL Sentinel-2 L2A background pixel (vegetation and soil from
  sen2_rstoolbox_12band.tif) at a random exposure fraction, is shaded by a smooth synthetic relief, gets
  Gaussian noise and is quantised to 0.0001 reflectance as L2A products are.
- The geology (a granite stock, pegmatite dykes, shale host) and the grid (10 m, UTM zone 44N, East
  Kazakhstan, where paper 000 works) are made up.

Training points follow paper 000's codes (1 sedimentary rocks / shale, 2 granite, 3 pegmatite), 30 per class,
plus three deliberate faults the classifier must skip and count: two points outside the scene and one without a
class. A 4 x 4 px corner is nodata (-9999) and one training point falls on it.

Run: .venv/bin/python test/data/make_simulated_lithology.py   (needs ../shared/data)"""
import csv
import json
import os
import sys

import numpy as np
from osgeo import gdal, osr

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
import conftest  # noqa: E402,F401  (links the plugin and puts it on sys.path, as for the tests)
from prospectra.core.sensors import sensor  # noqa: E402
from prospectra.core.spectral.spectral_library import convolve  # noqa: E402

BECK = os.path.join(ROOT, "..", "shared", "data", "usgs_splib07", "derived", "splib07a_selected_BECK.csv")
BACKGROUND = os.path.join(HERE, "sen2_rstoolbox_12band.tif")
OUT = os.path.join(HERE, "simulated_lithology")
BANDS = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12"]
SIZE, PIXEL = 64, 10.0
ORIGIN = (500000.0, 5450000.0)  # UTM 44N, about 49.2 N 81.0 E
EPSG = 32644
NODATA = -9999.0
SEED = 20250401

# Modal mineralogy by area fraction (our choice, typical of each rock), and an albedo factor taking bright
# mineral powders to weathered outcrop reflectance.
ROCKS = {
    1: ("shale", {"Illite": 0.35, "Kaolinite": 0.15, "Montmorillonite": 0.10, "Quartz": 0.20, "Goethite": 0.10,
                  "Magnetite": 0.10}, 0.55),
    2: ("granite", {"Quartz": 0.30, "Orthoclase": 0.30, "Albite": 0.28, "Biotite": 0.12}, 0.55),
    3: ("pegmatite", {"Quartz": 0.30, "Orthoclase": 0.25, "Albite": 0.20, "Muscovite": 0.12, "Lepidolite": 0.10,
                      "Spodumene": 0.03}, 0.62),
}
EXPOSURE = (0.3, 0.9)  # fraction of each pixel that is bare rock; the rest is real background
NOISE = 0.01  # reflectance, per band and pixel
POINTS_PER_CLASS = 30


def mineral_spectra():
    with open(BECK) as f:
        rows = list(csv.reader(f))
    head = rows[0]
    data = np.array([[float(v) if v else np.nan for v in r] for r in rows[1:]])
    wavelengths = data[:, 0] * 1000.0  # um -> nm
    s2 = sensor("sentinel2a_msi")
    out = {}
    for i, key in enumerate(head[1:], start=1):
        values = data[:, i].copy()
        values[values < 0] = np.nan  # USGS marks deleted channels with -1.23e34
        out[key.split("_")[0]] = convolve(wavelengths, values, s2, BANDS)
    return out


def truth_map():
    """1 shale everywhere, 2 a granite stock (rotated ellipse), 3 three pegmatite dykes, 3 px wide."""
    r, c = np.mgrid[0:SIZE, 0:SIZE].astype(float)
    truth = np.ones((SIZE, SIZE), dtype=np.uint8)
    a = np.radians(25)
    u, v = (c - 36) * np.cos(a) + (r - 34) * np.sin(a), -(c - 36) * np.sin(a) + (r - 34) * np.cos(a)
    truth[(u / 21) ** 2 + (v / 14) ** 2 <= 1] = 2
    for slope, offset in ((0.9, -14.0), (0.9, 6.0), (-1.3, 95.0)):  # dykes r = slope * c + offset
        dist = np.abs(r - slope * c - offset) / np.hypot(1, slope)
        truth[(dist <= 1.5) & (r > 8) & (r < 58)] = 3
    return truth


def main():
    rng = np.random.default_rng(SEED)
    minerals = mineral_spectra()
    rock = {code: factor * sum(w * minerals[m] for m, w in parts.items()) for code, (_, parts, factor) in ROCKS.items()}
    for code, spectrum in rock.items():
        assert np.all(np.isfinite(spectrum)), (ROCKS[code][0], spectrum)
    truth = truth_map()
    background = gdal.Open(BACKGROUND).ReadAsArray(100, 100, SIZE, SIZE).astype(np.float64)  # real L2A pixels
    r, c = np.mgrid[0:SIZE, 0:SIZE].astype(float)
    shade = 1.0 + 0.12 * np.sin(r / 9.0) * np.cos(c / 13.0)  # smooth relief
    exposure = rng.uniform(*EXPOSURE, (SIZE, SIZE))
    pure = np.stack([rock[int(k)] for k in truth.ravel()], axis=1).reshape(len(BANDS), SIZE, SIZE)
    scene = exposure * pure * shade + (1 - exposure) * background + rng.normal(0, NOISE, background.shape)
    scene = np.round(np.clip(scene, 0.0001, 1.0), 4).astype(np.float32)
    scene[:, :4, :4] = NODATA

    os.makedirs(OUT, exist_ok=True)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(EPSG)
    gt = (ORIGIN[0], PIXEL, 0.0, ORIGIN[1], 0.0, -PIXEL)
    opts = ["COMPRESS=DEFLATE", "PREDICTOR=3", "TILED=NO"]
    ds = gdal.GetDriverByName("GTiff").Create(os.path.join(OUT, "scene_s2.tif"), SIZE, SIZE, len(BANDS),
                                              gdal.GDT_Float32, opts)
    ds.SetGeoTransform(gt)
    ds.SetSpatialRef(srs)
    ds.SetMetadata({"SIMULATED": "yes: see test/data/README.md and make_simulated_lithology.py"})
    for i, name in enumerate(BANDS):
        band = ds.GetRasterBand(i + 1)
        band.SetDescription(name)
        band.SetNoDataValue(NODATA)
        band.WriteArray(scene[i])
    ds = None
    ds = gdal.GetDriverByName("GTiff").Create(os.path.join(OUT, "truth.tif"), SIZE, SIZE, 1, gdal.GDT_Byte,
                                              ["COMPRESS=DEFLATE"])
    ds.SetGeoTransform(gt)
    ds.SetSpatialRef(srs)
    ds.GetRasterBand(1).SetDescription("lithology: 1 shale, 2 granite, 3 pegmatite (simulated truth)")
    ds.GetRasterBand(1).WriteArray(truth)
    ds = None

    # Training points at random pixels of each unit (jittered inside the pixel), in WGS 84 like a GPS survey.
    points = []
    for code, (name, _, _) in ROCKS.items():
        rr, cc = np.nonzero(truth == code)
        ok = ~((rr < 4) & (cc < 4))
        for k in rng.choice(np.flatnonzero(ok), POINTS_PER_CLASS, replace=False):
            points.append((cc[k] + rng.uniform(0.2, 0.8), rr[k] + rng.uniform(0.2, 0.8), code, name))
    points.append((1.5, 2.5, 1, "shale"))  # on the nodata corner
    points.append((-5.0, 10.0, 2, "granite"))  # outside, west
    points.append((30.0, SIZE + 8.0, 3, "pegmatite"))  # outside, south
    points.append((20.5, 40.5, None, None))  # no class
    wgs = osr.SpatialReference()
    wgs.ImportFromEPSG(4326)
    wgs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    to_wgs = osr.CoordinateTransformation(srs, wgs)
    features = []
    for col, row, code, name in points:
        lon, lat, _ = to_wgs.TransformPoint(gt[0] + col * PIXEL, gt[3] - row * PIXEL)
        features.append({"type": "Feature", "properties": {"code": code, "lithology": name},
                         "geometry": {"type": "Point", "coordinates": [round(lon, 8), round(lat, 8)]}})
    with open(os.path.join(OUT, "training_points.geojson"), "w") as f:
        json.dump({"type": "FeatureCollection", "name": "training_points",
                   "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}},
                   "features": features}, f, indent=0)
    for fn in sorted(os.listdir(OUT)):
        print(f"{fn}: {os.path.getsize(os.path.join(OUT, fn))} bytes")
    print("pixels per class:", {ROCKS[k][0]: int((truth == k).sum()) for k in ROCKS})


if __name__ == "__main__":
    main()
