"""prospectra:loadscene in a real QGIS, through processing.run and qgis_process, against the real STAC API and file
servers of test/stac_servers.py: the same code path as a public catalogue, given as 'another STAC API'."""
import os

import numpy as np
import pytest
from osgeo import gdal

from stac_servers import JUNE, S2_GRID, free_port, s2_reference, window_of
from stac_catalogue import BAD_CLOUD  # test/data, on the path once stac_servers is imported

pytest.importorskip("pystac_client")
EXTENT = "465300,465900,5079400,5080000 [EPSG:32633]"


def parameters(servers, out, **change):
    return {"CATALOGUE": 3, "CATALOGUE_URL": servers.api, "COLLECTION": 0, "EXTENT": EXTENT,
            "START_DATE": "2024-06-01", "END_DATE": "2024-06-30", "MAX_CLOUD": 30, "COMPOSITE": 0,
            "OUTPUT": str(out), **change}


def test_processing_run_writes_the_least_cloudy_scene_styled_in_true_colour(qgis_processing, stac_servers, tmp_path):
    out = tmp_path / "scene.tif"
    qgis_processing.run("prospectra:loadscene", parameters(stac_servers, out))
    ds = gdal.Open(str(out))
    rows, cols = window_of(ds, S2_GRID)
    want, clear = s2_reference(stac_servers, JUNE[0], "red")
    np.testing.assert_allclose(ds.GetRasterBand(4).ReadAsArray()[clear[rows, cols]], want[rows, cols][clear[rows, cols]],
                               atol=1e-6)
    qml = (tmp_path / "scene.qml").read_text()
    assert 'type="multibandcolor"' in qml and 'redBand="4"' in qml and 'greenBand="3"' in qml and 'blueBand="2"' in qml


def test_a_bad_catalogue_address_names_the_parameter(qgis_processing, stac_servers, tmp_path):
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException) as e:
        qgis_processing.run("prospectra:loadscene", parameters(stac_servers, tmp_path / "s.tif",
                                                               CATALOGUE_URL="ftp://example.org"))
    assert "CATALOGUE_URL" in str(e.value)
    assert os.listdir(tmp_path) == []


def test_an_output_folder_that_does_not_exist_is_named_before_the_search(run_fails, stac_servers, tmp_path):
    run_fails("prospectra:loadscene", parameters(stac_servers, tmp_path / "no_such_folder" / "s.tif"),
              "OUTPUT: the folder", "does not exist")


def test_a_malformed_item_names_the_catalogue_and_the_item(run_fails, stac_servers, tmp_path):
    """An eo:cloud_cover that is no number ended in a Python traceback (float('cloudy')); it is the catalogue's
    fault, not MAX_CLOUD's."""
    message = run_fails("prospectra:loadscene", parameters(stac_servers, tmp_path / "s.tif", START_DATE="2024-12-01",
                                                           END_DATE="2024-12-31"),
                        f"CATALOGUE: {stac_servers.api} returned a malformed item {BAD_CLOUD[0]}",
                        "its eo:cloud_cover is 'cloudy', not a percentage from 0 to 100")
    assert "Traceback" not in message and "MAX_CLOUD" not in message


def test_scenes_that_state_no_cloud_cover_are_not_said_to_be_100_percent_cloudy(run_fails, stac_servers, tmp_path):
    """The message said 'more than 30 % cloudy (the clearest: 100 %)' of a scene that states no cloud cover."""
    message = run_fails("prospectra:loadscene", parameters(stac_servers, tmp_path / "s.tif", START_DATE="2024-12-20",
                                                           END_DATE="2024-12-31"),
                        "MAX_CLOUD: none of the 1 scenes found between 2024-12-20 and 2024-12-31 states its cloud "
                        "cover (eo:cloud_cover)", "set MAX_CLOUD to 100")
    assert "the clearest: 100 %" not in message


def test_qgis_process_median_and_an_unreachable_server(qgis_process, stac_servers, tmp_path):
    out = tmp_path / "median.tif"
    args = [f"{k}={v}" for k, v in parameters(stac_servers, out, COMPOSITE=1, SCENES=3).items()]
    proc = qgis_process("run", "prospectra:loadscene", "--", *args)
    assert "S2B_33TVL_20240615_0_L2A" in proc.stdout and "EPSG:32633" in proc.stdout
    assert gdal.Open(str(out)).GetMetadata()["STAC_ITEMS"] == " ".join(JUNE)
    bad = tmp_path / "bad"
    bad.mkdir()
    args = [f"{k}={v}" for k, v in parameters(stac_servers, bad / "s.tif",
                                               CATALOGUE_URL=f"http://127.0.0.1:{free_port()}").items()]
    proc = qgis_process("run", "prospectra:loadscene", "--", *args, check=False)
    assert proc.returncode != 0 and "CATALOGUE: the STAC API" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr and os.listdir(bad) == []
