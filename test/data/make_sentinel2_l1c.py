#!/usr/bin/env python3
"""Package the real Sentinel-2 L1C scene of eo-learn (time step 0) the way ESA delivers it.

Input: ../shared/data/eolearn_s2_l1c/REFERENCE_SCENES.npy (TOA reflectance, float32, bands B01..B12 incl.
B8A and B10) and bbox.geojson (EPSG:32633). The reflectance values are real; the packaging is simulated:
DN = round(reflectance x 10000) + 1000, as ESA encodes processing baseline 04.00 and later, with a minimal
MTD_MSIL1C.xml (QUANTIFICATION_VALUE 10000, RADIO_ADD_OFFSET -1000) beside the files.

Writes into test/data/sentinel2_l1c/:
  stack_13band.tif                  13-band uint16 stack on the 10 m grid, band descriptions B1..B12
  T33TWM_B02_10m.jp2 ...             one JPEG 2000 file per band at its native resolution (10, 20 or 60 m;
                                     20 and 60 m bands are block averages of the 10 m values)
  MTD_MSIL1C.xml
  reflectance_13band.npy            the float reflectance of time step 0, for reference in tests
"""
import json
import os

import numpy as np
from osgeo import gdal, osr

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "..", "..", "..", "shared", "data", "eolearn_s2_l1c")
OUT = os.path.join(HERE, "sentinel2_l1c")
BANDS = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]
RES = {"B01": 60, "B02": 10, "B03": 10, "B04": 10, "B05": 20, "B06": 20, "B07": 20, "B08": 10, "B8A": 20,
       "B09": 60, "B10": 60, "B11": 20, "B12": 20}


def main():
    os.makedirs(OUT, exist_ok=True)
    refl = np.load(os.path.join(SRC, "REFERENCE_SCENES.npy"))[0]  # (101, 100, 13)
    with open(os.path.join(SRC, "bbox.geojson")) as f:
        x0, y1 = np.array(json.load(f)["coordinates"][0])[:, 0].min(), 5080254.63349641
    # Crop to 96 x 96 so the 20 m and 60 m grids nest exactly in the 10 m grid; pixels are 10 m here.
    refl = refl[:96, :96, :]
    np.save(os.path.join(OUT, "reflectance_13band.npy"), refl.astype(np.float32))
    dn = (np.round(refl * 10000.0) + 1000).astype(np.uint16)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    x0 = round(float(x0))
    y1 = round(float(y1))
    stack = gdal.GetDriverByName("GTiff").Create(os.path.join(OUT, "stack_13band.tif"), 96, 96, 13, gdal.GDT_UInt16,
                                                 ["COMPRESS=DEFLATE"])
    stack.SetGeoTransform((x0, 10, 0, y1, 0, -10))
    stack.SetProjection(srs.ExportToWkt())
    for i, b in enumerate(BANDS):
        band = stack.GetRasterBand(i + 1)
        band.WriteArray(dn[:, :, i])
        band.SetDescription("B" + b[1:].lstrip("0"))
        band.SetNoDataValue(0)
        f = RES[b] // 10
        coarse = dn[:, :, i].reshape(96 // f, f, 96 // f, f).mean(axis=(1, 3)).round().astype(np.uint16)
        mem = gdal.GetDriverByName("MEM").Create("", 96 // f, 96 // f, 1, gdal.GDT_UInt16)
        mem.SetGeoTransform((x0, RES[b], 0, y1, 0, -RES[b]))
        mem.SetProjection(srs.ExportToWkt())
        mem.GetRasterBand(1).WriteArray(coarse)
        mem.GetRasterBand(1).SetNoDataValue(0)
        gdal.GetDriverByName("JP2OpenJPEG").CreateCopy(os.path.join(OUT, f"T33TWM_{b}_{RES[b]}m.jp2"), mem,
                                                       options=["QUALITY=100", "REVERSIBLE=YES"])
    stack = None
    offsets = "\n".join(f'      <RADIO_ADD_OFFSET band_id="{i}">-1000</RADIO_ADD_OFFSET>' for i in range(13))
    with open(os.path.join(OUT, "MTD_MSIL1C.xml"), "w") as f:
        f.write(f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- Minimal product metadata written by make_sentinel2_l1c.py; values as in ESA baseline 04.00 products. -->
<n1:Level-1C_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-1C.xsd">
  <n1:General_Info>
    <Product_Info><PROCESSING_BASELINE>04.00</PROCESSING_BASELINE></Product_Info>
    <Product_Image_Characteristics>
      <QUANTIFICATION_VALUE unit="none">10000</QUANTIFICATION_VALUE>
      <Radiometric_Offset_List>
{offsets}
      </Radiometric_Offset_List>
    </Product_Image_Characteristics>
  </n1:General_Info>
</n1:Level-1C_User_Product>
""")


if __name__ == "__main__":
    main()
