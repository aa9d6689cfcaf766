"""Composite and ratio presets, read from core/bands/presets/*.json; each belongs to one sensor family."""
import functools
import json
import os
import re
from dataclasses import dataclass

from ..errors import InputError
from ..sensors import sensors

PRESET_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "presets")


@dataclass(frozen=True)
class Preset:
    id: str
    family: str
    title: str
    source: str
    bands: tuple = ()  # composites: R, G, B
    numerator: tuple = ()  # ratios: bands summed above the line
    denominator: tuple = ()
    meaning: str = ""  # composites: what it shows; ratios: what a high value means

    @property
    def family_name(self):
        return family_names()[self.family]

    @property
    def label(self):
        return f"{self.family_name}: {self.title}"


@functools.lru_cache(maxsize=None)
def family_names():
    out = {}
    for s in sensors().values():
        out.setdefault(s.family, []).append(s.name)
    return {f: " / ".join(names) for f, names in out.items()}


@functools.lru_cache(maxsize=None)
def _load(kind):
    with open(os.path.join(PRESET_DIR, f"{kind}.json")) as f:
        data = json.load(f)
    out = []
    for family, items in data.items():
        if family.startswith("_"):
            continue
        for p in items:
            out.append(Preset(p["id"], family, p["title"], p["source"], tuple(p.get("bands", ())),
                              tuple(p.get("numerator", ())), tuple(p.get("denominator", ())),
                              p.get("shows") or p.get("high", "")))
    return tuple(out)


def composites():
    return _load("composites")


def ratios():
    return _load("ratios")


def check_family(preset, sensor, parameter="PRESET"):
    """A preset's band numbers mean something only for its own sensor family."""
    if preset.family != sensor.family:
        needed = ", ".join(preset.bands or preset.numerator + preset.denominator)
        raise InputError(parameter, f"'{preset.label}' is defined for {preset.family_name} (bands {needed}); "
                                    f"SENSOR is {sensor.name}, whose bands are {', '.join(sensor.band_names)}. "
                                    f"Choose a preset for {sensor.name} or give the bands yourself.")


def parse_band_sum(text, parameter):
    """'B5+B7' or 'B11' -> ['B5', 'B7']; names are checked against the image later."""
    parts = [p.strip() for p in re.split(r"\+", text or "")]
    if not text or not all(parts):
        raise InputError(parameter, f"'{text}' is not a band name or a sum of band names such as 'B11' or 'B5+B7'.")
    return parts
