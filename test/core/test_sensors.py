import pytest

from prospectra.core.errors import InputError
from prospectra.core.sensors import sensor, sensors

# Bands whose USGS-stated centre sits further than 3 nm from the centroid of USGS's own response curve.
# Both curves are asymmetric; the stated centres are USGS's, kept as published.
CENTRE_OUTLIERS = {("aster", "B1"): 10.0, ("worldview3", "N2"): 10.0}


def test_registry_has_the_mission_sensors():
    assert set(sensors()) == {"landsat8_oli", "landsat9_oli2", "sentinel2a_msi", "sentinel2b_msi", "aster",
                              "worldview3", "gf2_pms", "landsat5_tm"}
    assert len(sensor("landsat8_oli").bands) == 7
    assert sensor("sentinel2a_msi").band_names == ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9",
                                                  "B10", "B11", "B12"]
    assert len(sensor("aster").bands) == 9 and len(sensor("worldview3").bands) == 16
    assert len(sensor("gf2_pms").bands) == 4


@pytest.mark.parametrize("sid", list(sensors()))
def test_every_response_curve_integrates_to_the_stated_centre(sid):
    s = sensor(sid)
    for b in s.bands:
        if b.thermal:
            continue
        tolerance = CENTRE_OUTLIERS.get((sid, b.name), 3.0)
        assert abs(s.srf_centroid(b.name) - b.centre_nm) <= tolerance, (sid, b.name, s.srf_centroid(b.name))


def test_published_centres():
    # USGS splib07 band centres (nm) and Cheng et al. (2023) Table 2 edges for GF-2.
    assert sensor("sentinel2a_msi").band("B12").centre_nm == pytest.approx(2203.37, abs=0.01)
    assert sensor("landsat8_oli").band("B6").centre_nm == pytest.approx(1609.58, abs=0.01)
    assert sensor("gf2_pms").band("B4").centre_nm == 830.0 and sensor("gf2_pms").band("B4").fwhm_nm == 120.0
    assert sensor("sentinel2a_msi").band("B2").resolution_m == 10 and sensor("sentinel2a_msi").band("B12").resolution_m == 20


@pytest.mark.parametrize("sid", list(sensors()))
def test_names_and_aliases_are_unambiguous(sid):
    s = sensor(sid)
    keys = [k.upper() for b in s.bands for k in (b.name,) + b.aliases]
    assert len(keys) == len(set(keys))
    for stack in s.default_stacks:
        assert set(stack) <= set(s.band_names)


def test_band_names_resolve_by_alias():
    s2 = sensor("sentinel2a_msi")
    assert [s2.canonical(x) for x in ("8a", "B08A", "11", "B02", "b12")] == ["B8A", "B8A", "B11", "B2", "B12"]
    assert sensor("landsat8_oli").canonical("SR_B4") == "B4"
    with pytest.raises(InputError, match="NUMERATOR: 'B13' is not a band of Sentinel-2A MSI"):
        s2.canonical("B13", "NUMERATOR")


def test_paper000_sentinel2_stack_is_a_default():
    # Rakhymberdina et al. (2025): 12 Sentinel-2 bands B1..B8, B8A, B9, B11, B12.
    assert ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12") in \
        sensor("sentinel2a_msi").default_stacks
