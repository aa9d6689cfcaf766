import pytest

from prospectra.core.errors import InputError
from prospectra.core.bands.presets import check_family, composites, parse_band_sum, ratios
from prospectra.core.sensors import sensor, sensors


def family_sensors(family):
    return [s for s in sensors().values() if s.family == family]


@pytest.mark.parametrize("preset", composites() + ratios(), ids=lambda p: p.id)
def test_every_preset_names_bands_of_its_sensors_and_cites_a_source(preset):
    members = family_sensors(preset.family)
    assert members, preset.family
    for s in members:
        for b in preset.bands + preset.numerator + preset.denominator:
            assert b in s.band_names, (preset.id, s.id, b)
    assert len(preset.source) > 10 and preset.title and preset.meaning
    assert len(preset.bands) in (0, 3)


def test_ids_are_unique():
    ids = [p.id for p in composites() + ratios()]
    assert len(ids) == len(set(ids))


def test_paper000_table1_and_figures_are_all_presets():
    # Rakhymberdina et al. (2025), Table 1 and Figures 2-7.
    combos = {(p.family, "-".join(b.lstrip("B") for b in p.bands)) for p in composites()}
    for c in ("2-5-7", "5-6-7", "5-7-3"):
        assert ("landsat_oli", c) in combos
    for c in ("11-4-12", "8-12-3", "8-11-12", "11-4-2"):
        assert ("sentinel2_msi", c) in combos
    quotients = {(p.family, f"{p.numerator[0][1:]}/{p.denominator[0][1:]}") for p in ratios()}
    assert {("landsat_oli", "6/7"), ("sentinel2_msi", "11/12"), ("sentinel2_msi", "3/8")} <= quotients


def test_a_preset_for_another_sensor_is_refused():
    s2 = next(p for p in ratios() if p.id == "msi_11_12")
    check_family(s2, sensor("sentinel2b_msi"))
    with pytest.raises(InputError, match="PRESET: .* is defined for Sentinel-2A MSI / Sentinel-2B MSI \\(bands B11, "
                                         "B12\\); SENSOR is Landsat-8 OLI"):
        check_family(s2, sensor("landsat8_oli"))


def test_band_sums_parse():
    assert parse_band_sum("B5+B7", "NUMERATOR") == ["B5", "B7"]
    assert parse_band_sum(" 11 ", "NUMERATOR") == ["11"]
    for bad in ("", "B5+", "+"):
        with pytest.raises(InputError, match="NUMERATOR"):
            parse_band_sum(bad, "NUMERATOR")
