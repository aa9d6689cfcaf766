#!/usr/bin/env python3
"""Build Prospectra's sensor files (core/sensors/) from the USGS splib07 release.

Run once by a developer; the outputs are committed. Source: USGS Spectral Library
Version 7 (Kokaly et al. 2017, doi:10.3133/ds1035), folders ASCIIdata_splib07b_rs*,
which hold each sensor's spectral response functions (SRFs), band centres and FWHM.
Changes: wavelengths converted from um to nm, responses rounded to 4 decimals,
leading/trailing rows where every band is zero dropped.

Usage: python3 scripts/build_sensor_data.py [../shared/data/usgs_splib07]
"""
import csv
import glob
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "core", "sensors")
USGS = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "shared", "data", "usgs_splib07")

# folder, prefix, srf csv name, the band names Prospectra uses in the order of the USGS columns
USGS_SENSORS = {
    "oli": ("ASCIIdata_splib07b_rsLandsat8", "Landsat8", ["B1", "B2", "B3", "B4", "B5", "B6", "B7"]),
    "msi": ("ASCIIdata_splib07b_rsSentinel2", "Sentinel2",
            ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12"]),
    "aster": ("ASCIIdata_splib07b_rsASTER", "ASTER", ["B1", "B2", "B3N", "B4", "B5", "B6", "B7", "B8", "B9"]),
    "wv3": ("ASCIIdata_splib07b_rsWorldView3", "WorldView3",
            ["C", "B", "G", "Y", "R", "RE", "N1", "N2", "S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8"]),
}

# Sensors without published response curves at hand: boxcars (1 inside the band edges, 0 outside).
BOXCAR_SENSORS = {
    # GF-2 PMS multispectral: band edges of Cheng et al. (2023), Table 2.
    "gf2_pms": {"B1": (450, 520), "B2": (520, 590), "B3": (630, 690), "B4": (770, 890)},
    # Landsat-4/5 TM reflective bands: edges from the Landsat 5 mission specification
    # (USGS Landsat 4-5 TM product guide); the thermal band B6 has no reflective curve.
    "tm": {"B1": (450, 520), "B2": (520, 600), "B3": (630, 690), "B4": (760, 900),
           "B5": (1550, 1750), "B7": (2080, 2350)},
}


def read_usgs_vector(path):
    with open(path) as f:
        f.readline()  # header: record number and title
        return [float(line) for line in f if line.strip()]


def write_srf(name, wavelengths_nm, columns, band_names):
    rows = list(zip(wavelengths_nm, *columns))
    nonzero = [i for i, r in enumerate(rows) if any(v > 0 for v in r[1:])]
    rows = rows[max(nonzero[0] - 1, 0): nonzero[-1] + 2]
    with open(os.path.join(OUT, name), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["wavelength_nm"] + band_names)
        for r in rows:
            w.writerow([f"{r[0]:.1f}"] + [f"{v:.4f}".rstrip("0").rstrip(".") for v in r[1:]])


def main():
    summary = {}
    for key, (folder, tag, names) in USGS_SENSORS.items():
        with open(os.path.join(USGS, "derived", f"srf_{tag}.csv")) as f:
            table = list(csv.reader(f))
        wl = [float(r[0]) * 1000.0 for r in table[1:]]
        cols = [[max(float(r[i]), 0.0) for r in table[1:]] for i in range(1, len(table[0]))]
        assert len(cols) == len(names), (tag, table[0])
        write_srf(f"srf_{key}.csv", wl, cols, names)
        base = os.path.join(USGS, "ASCIIdata", folder)
        centres = read_usgs_vector(glob.glob(os.path.join(base, "*_Wavelengths_*bands*"))[0])
        fwhm = read_usgs_vector(glob.glob(os.path.join(base, "*_Bandpass_*_nm.txt"))[0])
        summary[key] = {n: (round(c * 1000.0, 2), round(w, 2)) for n, c, w in zip(names, centres, fwhm)}
    for key, edges in BOXCAR_SENSORS.items():
        lo_all = min(lo for lo, _ in edges.values()) - 10
        hi_all = max(hi for _, hi in edges.values()) + 10
        wl = [float(w) for w in range(lo_all, hi_all + 1)]
        cols = [[1.0 if lo <= w <= hi else 0.0 for w in wl] for lo, hi in edges.values()]
        write_srf(f"srf_{key}.csv", wl, cols, list(edges))
        summary[key] = {n: ((lo + hi) / 2.0, float(hi - lo)) for n, (lo, hi) in edges.items()}
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
