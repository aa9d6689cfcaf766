#!/usr/bin/env python3
"""Pack the USGS Spectral Library Version 7 (splib07a, Beckman and ASD spectra of the minerals,
soils-and-mixtures and vegetation chapters) into core/spectral/library/.

Source: Kokaly, R.F., Clark, R.N., Swayze, G.A., et al., 2017, USGS Spectral Library Version 7: U.S. Geological
Survey Data Series 1035, doi:10.3133/ds1035 (data release doi:10.5066/F7RR1WDJ). Public domain.
Changes, as USGS asks to describe them: values stored as float32; the deleted-channel marker -1.23e34 stored as
NaN; wavelengths converted from micrometres to nanometres; the names parsed from each file's header line.

Writes core/spectral/library/usgs_splib07.npz (arrays: wavelengths_beck, wavelengths_asd, beck, asd) and
core/spectral/library/usgs_splib07.csv (one row per spectrum: key, mineral, sample_id, title, record, instrument,
chapter, grid, row).

Usage: python3 scripts/build_spectral_library.py [../shared/data/usgs_splib07]"""
import csv
import os
import re
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "core", "spectral", "library")
SRC = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "shared", "data", "usgs_splib07")
BASE = os.path.join(SRC, "ASCIIdata", "ASCIIdata_splib07a")
CHAPTERS = {"ChapterM_Minerals": "minerals", "ChapterS_SoilsAndMixtures": "soils and mixtures",
            "ChapterV_Vegetation": "vegetation"}


def read_values(path):
    with open(path) as f:
        header = f.readline()
        values = np.array([float(v) for v in f if v.strip()], dtype=np.float64)
    values[values < -1e30] = np.nan
    return header, values


def main():
    wl = {"beck": read_values(os.path.join(BASE, "splib07a_Wavelengths_BECK_Beckman_0.2-3.0_microns.txt"))[1],
          "asd": read_values(os.path.join(BASE, "splib07a_Wavelengths_ASD_0.35-2.5_microns_2151_ch.txt"))[1]}
    spectra = {"beck": [], "asd": []}
    rows = []
    for chapter, chapter_name in CHAPTERS.items():
        for fn in sorted(os.listdir(os.path.join(BASE, chapter))):
            header, values = read_values(os.path.join(BASE, chapter, fn))
            grid = "beck" if "_BECK" in fn else "asd"
            assert len(values) == len(wl[grid]), fn
            # ' splib07a Record=5976: Kaolinite CM9                 BECKb AREF'
            m = re.match(r"\s*splib07a Record=(\d+):\s*(.*?)\s+((?:BECK|ASD)\w*)\s+(\w+)\s*$", header)
            record, title, instrument, kind = m.groups()
            title = " ".join(title.split())
            key = fn[len("splib07a_"):-len(".txt")]
            # Minerals: name = the file name's first field (e.g. 'Kaolinite'), sample id = its second.
            fields = key.split("_")
            is_mineral = chapter == "ChapterM_Minerals"
            rows.append({"key": key, "mineral": fields[0] if is_mineral else "",
                         "sample_id": fields[1] if is_mineral and len(fields) > 3 else "",
                         "title": title, "record": record, "instrument": instrument, "measurement": kind,
                         "chapter": chapter_name, "grid": grid, "row": len(spectra[grid])})
            spectra[grid].append(values.astype(np.float32))
    os.makedirs(OUT, exist_ok=True)
    np.savez_compressed(os.path.join(OUT, "usgs_splib07.npz"),
                        wavelengths_beck=(wl["beck"] * 1000).astype(np.float32),
                        wavelengths_asd=(wl["asd"] * 1000).astype(np.float32),
                        beck=np.array(spectra["beck"]), asd=np.array(spectra["asd"]))
    with open(os.path.join(OUT, "usgs_splib07.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"{len(rows)} spectra: {len(spectra['beck'])} Beckman, {len(spectra['asd'])} ASD")


if __name__ == "__main__":
    main()
