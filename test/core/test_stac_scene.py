"""Scenes from a real STAC API (rustac, on 127.0.0.1) whose assets are tiled GeoTIFFs served over HTTP with range
requests, made from the real Sentinel-2 and Landsat samples (test/data/stac_catalogue.py; dates, clouds and
packaging simulated). Each output is checked against the values the servers hold, masked and combined here with
numpy; each bad input against the parameter its message names and the files left behind."""
import os

import numpy as np
import pytest
from osgeo import gdal, osr

from conftest import RecordingFeedback
from prospectra.core.errors import Canceled, InputError, NullFeedback
from prospectra.core.io.image import open_image
from prospectra.core.io.stac_scene import load_scene, parse_date, stated_cloud_cover, utm_grid
from stac_servers import JUNE, S2_GRID, free_port, s2_reference, window_of

pytest.importorskip("pystac_client")
EXTENT = (465300.0, 5079400.0, 465900.0, 5080000.0)  # inside it, in EPSG:32633


def run(servers, out, collection="sentinel-2-l2a", extent=EXTENT, crs="EPSG:32633", dates=("2024-06-01", "2024-06-30"),
        max_cloud=30, composite="least-cloudy", count=3, feedback=None, url=None, timeout=30):
    return load_scene(url or servers.api, collection, extent, crs, parse_date(dates[0], "START_DATE"),
                      parse_date(dates[1], "END_DATE"), max_cloud, composite, count, str(out),
                      feedback or NullFeedback(), timeout=timeout)


def test_least_cloudy_scene_is_the_clearest_item_masked_by_its_scl(stac_servers, tmp_path):
    out = tmp_path / "scene.tif"
    result = run(stac_servers, out)
    assert [s[0]["id"] for s in result["scenes"]] == [JUNE[0]]  # 3 % beats 12 % and 25 %
    assert result["left_out"] == (1, ["sentinel-2c"])  # the 0.5 % scene: no response curves for it here
    ds = gdal.Open(str(out))
    rows, cols = window_of(ds, S2_GRID)
    names = [ds.GetRasterBand(i + 1).GetDescription() for i in range(ds.RasterCount)]
    assert names == ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12"]
    got = ds.ReadAsArray()
    for i, key in ((1, "blue"), (8, "nir08"), (11, "swir22")):
        want, clear = s2_reference(stac_servers, JUNE[0], key)
        want, clear = want[rows, cols], clear[rows, cols]
        assert 0.02 < (~clear).mean() < 0.5  # the painted cloud and its shadow are in the extent
        np.testing.assert_allclose(got[i][clear], want[clear], atol=1e-6)
        assert np.all(got[i][~clear] == -9999)
    meta = ds.GetMetadata()
    assert meta["STAC_ITEMS"] == JUNE[0] and meta["STAC_DATES"] == "2024-06-05"
    assert meta["PROSPECTRA_SENSOR"] == "sentinel2a_msi" and "0.0001 x DN + -0.1" in meta["REFLECTANCE"]
    image = open_image(str(out), "sentinel2a_msi")  # the other algorithms read it as it is
    assert image.band_names == names and image.scaling_source == "float data taken as reflectance"


def test_median_of_the_clearest_scenes_equals_numpy_nanmedian_of_their_clear_values(stac_servers, tmp_path):
    out = tmp_path / "median.tif"
    result = run(stac_servers, out, composite="median", count=3)
    assert [s[0]["id"] for s in result["scenes"]] == list(JUNE)
    ds = gdal.Open(str(out))
    rows, cols = window_of(ds, S2_GRID)
    got = ds.ReadAsArray()
    for i, key in ((3, "red"), (10, "swir16")):
        stack = []
        for item in JUNE:
            values, clear = s2_reference(stac_servers, item, key)
            stack.append(np.where(clear, values, np.nan)[rows, cols])
        stack = np.array(stack)
        some = np.isfinite(stack).any(axis=0)
        assert some.mean() > 0.95 and not np.isfinite(stack).all(axis=0).all()
        np.testing.assert_allclose(got[i][some], np.nanmedian(stack[:, some], axis=0), atol=1e-6)
        assert np.all(got[i][~some] == -9999)
        assert not np.allclose(got[i][some], stack[0][some], equal_nan=True)  # not just the first scene


def test_landsat_reads_only_the_windows_it_needs_and_applies_collection_2_scaling(stac_servers, tmp_path):
    item = "LT05_L2SP_224063_19880814_02_T1"
    before = stac_servers.bytes_served()
    out = tmp_path / "landsat.tif"
    result = run(stac_servers, out, collection="landsat-c2-l2", extent=(-49.90, -3.75, -49.89, -3.74),
                 crs="EPSG:4326", dates=("1988-08-01", "1988-08-31"))
    served = stac_servers.bytes_served() - before
    files = sum(os.path.getsize(os.path.join(stac_servers.folder, f)) for f in os.listdir(stac_servers.folder)
                if f.startswith(item))
    assert served < 0.5 * files, (served, files)  # windows, not whole files (GDAL fetches 16 kB at least)
    assert result["sensor"].id == "landsat5_tm" and result["bands"] == ["B1", "B2", "B3", "B4", "B5", "B7"]
    ds = gdal.Open(str(out))
    rows, cols = window_of(ds, (619395.0, -410205.0), 30.0)
    dn = stac_servers.truth[item]["swir16"][rows, cols]
    np.testing.assert_allclose(ds.GetRasterBand(5).ReadAsArray(), dn * 2.75e-5 - 0.2, atol=1e-6)


def test_a_scene_from_the_next_utm_zone_is_reprojected_onto_the_extents_zone(stac_servers, tmp_path):
    out = tmp_path / "zone.tif"
    result = run(stac_servers, out, dates=("2024-09-01", "2024-09-30"))
    assert result["epsg"] == 32633 and result["scenes"][0][0]["id"].startswith("S2B_34")
    ds = gdal.Open(str(out))
    reference = gdal.Warp("", os.path.join(stac_servers.folder, "S2B_34TCR_20240905_0_L2A_red.tif"), format="MEM",
                          dstSRS="EPSG:32633", outputBounds=result_bounds(ds), width=ds.RasterXSize,
                          height=ds.RasterYSize, resampleAlg="near", srcNodata=0, dstNodata=0).ReadAsArray()
    got = ds.GetRasterBand(4).ReadAsArray()
    valid = reference != 0
    assert valid.mean() > 0.9
    np.testing.assert_allclose(got[valid], reference[valid] * 0.0001 - 0.1, atol=1e-6)


def result_bounds(ds):
    gt = ds.GetGeoTransform()
    return gt[0], gt[3] + gt[5] * ds.RasterYSize, gt[0] + gt[1] * ds.RasterXSize, gt[3]


def test_extents_across_utm_zones_take_the_centres_zone_and_wide_ones_are_refused():
    grid, zones = utm_grid((17.9, 45.0, 18.3, 45.2), 10.0)  # across 18 E, mostly in zone 34
    assert (grid.epsg, zones) == (32634, 2)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32634)
    assert osr.SpatialReference(wkt=grid.wkt).IsSame(srs)
    with pytest.raises(InputError) as e:
        utm_grid((10.0, 45.0, 25.0, 46.0), 10.0)
    assert e.value.parameter == "EXTENT" and "4 UTM zones" in str(e.value)


@pytest.mark.parametrize("change, parameter, words", [
    (dict(dates=("2020-01-01", "2020-02-01")), "EXTENT", "no Sentinel-2 L2A scene"),
    (dict(dates=("2024-07-01", "2024-07-31")), "MAX_CLOUD", "more than 30 % cloudy"),
    (dict(dates=("2024-08-01", "2024-08-31")), "MAX_CLOUD", "every pixel of the extent is masked"),
    (dict(dates=("2024-10-01", "2024-10-31")), "COLLECTION", "has no band B11 asset"),
    (dict(dates=("2024-11-01", "2024-11-30")), "COLLECTION", "come from sentinel-2c, which Prospectra has no"),
    (dict(dates=("2024-06-30", "2024-06-01")), "END_DATE", "before START_DATE"),
    (dict(extent=(10.0, 45.0, 10.0, 46.0), crs="EPSG:4326"), "EXTENT", "is not an area"),
    (dict(url="http://127.0.0.1:{closed}"), "CATALOGUE", "Connection refused"),
    (dict(url="{files}/items.json"), "CATALOGUE", "not a static catalogue"),  # JSON, but no STAC API
    (dict(extent=(-180.0, -80.0, 180.0, 80.0), crs="EPSG:4326", url="http://127.0.0.1:{closed}"), "EXTENT",
     "60 UTM zones"),  # refused before any search: no server is asked
])
def test_bad_input_names_its_parameter_and_leaves_no_file(stac_servers, tmp_path, change, parameter, words):
    if "url" in change:
        change = dict(change, url=change["url"].format(closed=free_port(), files=stac_servers.files))
    with pytest.raises(InputError) as e:
        run(stac_servers, tmp_path / "out.tif", **change)
    assert e.value.parameter == parameter and words in str(e.value), str(e.value)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("item, words", [
    ({"id": "S2A_X", "type": "Feature"}, "malformed item S2A_X: it has no properties"),  # a STAC API fills them in
    ({"id": "S2A_X", "properties": None}, "malformed item S2A_X: it has no properties"),
    ({"properties": {"eo:cloud_cover": "NaN"}}, "malformed item: its eo:cloud_cover is 'NaN', not a percentage"),
    ({"id": "S2A_X", "properties": {"eo:cloud_cover": [3]}}, "its eo:cloud_cover is [3], not a percentage"),
    ({"id": "S2A_X", "properties": {"eo:cloud_cover": 130}}, "its eo:cloud_cover is 130, not a percentage"),
])
def test_an_item_without_properties_or_a_cloud_cover_that_is_no_percentage_is_the_catalogues_fault(item, words):
    with pytest.raises(InputError) as e:
        stated_cloud_cover("http://stac.example", item)
    assert e.value.parameter == "CATALOGUE" and words in str(e.value), str(e.value)
    assert stated_cloud_cover("u", {"properties": {"eo:cloud_cover": 12}}) == 12.0
    assert stated_cloud_cover("u", {"properties": {}}) is None  # stated by no one: the search counts it as all cloud


def test_a_server_that_never_answers_times_out_with_a_message(stac_servers, tmp_path):
    import socket

    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        with pytest.raises(InputError) as e:
            run(stac_servers, tmp_path / "out.tif", url=f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=1)
    assert e.value.parameter == "CATALOGUE" and "did not answer within 1 s" in str(e.value)
    assert os.listdir(tmp_path) == []


def test_a_missing_asset_file_names_the_scene(stac_servers, tmp_path):
    path = os.path.join(stac_servers.folder, f"{JUNE[0]}_green.tif")
    os.rename(path, path + ".away")  # earlier tests read it: the run must ask the server again, not GDAL's cache
    try:
        with pytest.raises(InputError) as e:
            run(stac_servers, tmp_path / "out.tif")
    finally:
        os.rename(path + ".away", path)
    assert e.value.parameter == "CATALOGUE" and JUNE[0] in str(e.value)
    assert os.listdir(tmp_path) == []


def test_cancel_leaves_no_file(stac_servers, tmp_path):
    with pytest.raises(Canceled):
        run(stac_servers, tmp_path / "out.tif", composite="median", feedback=RecordingFeedback(cancel_after=2))
    assert os.listdir(tmp_path) == []
