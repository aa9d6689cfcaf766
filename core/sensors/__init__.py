"""Sensor registry: band names, centres, FWHM, resolution and response curves, read from core/sensors/*.json."""
import csv
import functools
import json
import os
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError

SENSOR_DIR = os.path.dirname(os.path.abspath(__file__))  # the response curves and band tables beside this file


@dataclass(frozen=True)
class Band:
    name: str
    label: str
    centre_nm: float
    fwhm_nm: float
    resolution_m: float
    aliases: tuple = ()
    thermal: bool = False


@dataclass(frozen=True)
class Sensor:
    id: str
    name: str
    family: str
    bands: tuple
    default_stacks: tuple
    srf_file: str
    srf_source: str = field(repr=False, default="")
    # Bands left out of spectral matching by default: dominated by the atmosphere (aerosol, water
    # vapour, cirrus) or thermal.
    atmospheric_bands: tuple = ()

    @property
    def band_names(self):
        return [b.name for b in self.bands]

    def band(self, name):
        return self.bands[self.band_names.index(self.canonical(name))]

    def canonical(self, name, parameter="BAND_ORDER"):
        """The sensor's own name for a band given as 'B8A', '8a', 'SR_B4', '04' ... or raise."""
        key = str(name).strip().upper()
        for b in self.bands:
            if key == b.name.upper() or key in (a.upper() for a in b.aliases):
                return b.name
        raise InputError(parameter, f"'{name}' is not a band of {self.name}; its bands are "
                                    f"{', '.join(self.band_names)}.")

    def find(self, name):
        """Like canonical() but None for an unknown name."""
        try:
            return self.canonical(name)
        except InputError:
            return None

    def srf(self):
        """(wavelengths in nm, {band name: relative response}) from the sensor's curve file."""
        return _read_srf(self.srf_file)

    def srf_centroid(self, name):
        wl, curves = self.srf()
        r = curves[self.canonical(name)]
        return float(np.sum(wl * r) / np.sum(r))


@functools.lru_cache(maxsize=None)
def _read_srf(filename):
    with open(os.path.join(SENSOR_DIR, filename)) as f:
        rows = list(csv.reader(f))
    data = np.array(rows[1:], dtype=np.float64)
    return data[:, 0], {n: data[:, i + 1] for i, n in enumerate(rows[0][1:])}


@functools.lru_cache(maxsize=None)
def sensors():
    """All registered sensors by id, in their files' "order" (the order of the SENSOR choices)."""
    files = []
    for fn in os.listdir(SENSOR_DIR):
        if fn.endswith(".json"):
            with open(os.path.join(SENSOR_DIR, fn)) as f:
                files.append(json.load(f))
    out = {}
    for d in sorted(files, key=lambda d: d["order"]):
        bands = tuple(Band(b["name"], b["label"], b["centre_nm"], b["fwhm_nm"], b["resolution_m"],
                           tuple(b.get("aliases", ())), b.get("thermal", False)) for b in d["bands"])
        out[d["id"]] = Sensor(d["id"], d["name"], d["family"], bands,
                              tuple(tuple(s) for s in d["default_stacks"]), d["srf_file"], d["srf_source"],
                              tuple(d["atmospheric_bands"]))
    return out


def sensor(sensor_id):
    try:
        return sensors()[sensor_id]
    except KeyError:
        raise InputError("SENSOR", f"unknown sensor '{sensor_id}'; known: {', '.join(sensors())}.") from None
