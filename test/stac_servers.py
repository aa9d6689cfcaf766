"""Real servers on 127.0.0.1 for the STAC tests: rustac's STAC API (in-memory backend) serving the items of
test/data/stac_catalogue.py, and a file server answering range requests for their GeoTIFFs."""
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

from conftest import DATA, ROOT

sys.path.insert(0, DATA)
S2_GRID = (465181.0, 5080255.0)  # the Sentinel-2 sample's corner (EPSG:32633, 10 m)
JUNE = ("S2A_33TVL_20240605_0_L2A", "S2B_33TVL_20240615_0_L2A", "S2A_33TVL_20240625_0_L2A")
SCL_MASKED = [0, 1, 3, 8, 9, 10, 11]  # ESA's SCL classes for no data, defective, shadow, cloud, cirrus, snow


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url, process):
    for _ in range(200):
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server stopped ({process.returncode})")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


class Servers:
    def __init__(self, folder, api, files, truth):
        self.folder, self.api, self.files, self.truth = folder, api, files, truth

    def bytes_served(self):
        return int(urllib.request.urlopen(self.files + "/bytes-served").read())


@pytest.fixture(scope="session")
def stac_servers(tmp_path_factory):
    rustac = shutil.which("rustac", path=os.path.dirname(sys.executable)) or shutil.which("rustac")
    if rustac is None:
        pytest.skip("rustac (the STAC API server of these tests) is not installed")
    from stac_catalogue import make_catalogue

    folder = str(tmp_path_factory.mktemp("stac"))
    file_port, api_port = free_port(), free_port()
    files = f"http://127.0.0.1:{file_port}"
    truth = make_catalogue(folder, files)
    processes = [subprocess.Popen([sys.executable, os.path.join(ROOT, "test", "http_range_server.py"), folder,
                                   str(file_port)]),
                 subprocess.Popen([rustac, "serve", "--addr", f"127.0.0.1:{api_port}", "--create-collections",
                                   os.path.join(folder, "items.json")], stdout=subprocess.DEVNULL)]
    try:
        _wait(files + "/bytes-served", processes[0])
        _wait(f"http://127.0.0.1:{api_port}/", processes[1])
        yield Servers(folder, f"http://127.0.0.1:{api_port}", files, truth)
    finally:
        for p in processes:
            p.terminate()
            p.wait(10)


def s2_reference(servers, item, band):
    """(reflectance, clear) of one Sentinel-2 item on its own 10 m grid, from the arrays the server holds."""
    arrays = servers.truth[item]
    dn = arrays[band]
    scl = np.repeat(np.repeat(arrays["scl"], 2, axis=0), 2, axis=1)  # 20 m onto 10 m
    clear = ~np.isin(scl, SCL_MASKED) & np.all([arrays[k] != 0 for k in arrays if k != "scl"], axis=0)
    return dn * 0.0001 - 0.1, clear


def window_of(ds, corner, pixel=10.0):
    gt = ds.GetGeoTransform()
    col, row = round((gt[0] - corner[0]) / pixel), round((corner[1] - gt[3]) / pixel)
    return slice(row, row + ds.RasterYSize), slice(col, col + ds.RasterXSize)
