"""Band mapping, grids and reflectance scaling of input images, on real scenes from test/data."""
import glob
import os
import random

import numpy as np
import pytest
from osgeo import gdal

from conftest import DATA
from data.rasters import write_raster
from prospectra.core.io.blocks import windows
from prospectra.core.errors import InputError
from prospectra.core.io.image import open_image

S2_L2A = os.path.join(DATA, "sen2_rstoolbox_12band.tif")
L1C = os.path.join(DATA, "sentinel2_l1c")
TM = sorted(glob.glob(os.path.join(DATA, "landsat5_tm", "*_B?.TIF")))
PAPER000_STACK = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12"]


def write_tif(path, array, dtype=gdal.GDT_Float32, nodata=None, descriptions=None, epsg_wkt=None, gt=None):
    """On the real Sentinel-2 scene's grid unless gt and epsg_wkt say otherwise."""
    ref = gdal.Open(S2_L2A)
    return write_raster(path, array, dtype, nodata, descriptions, epsg_wkt or ref.GetProjection(),
                        gt or ref.GetGeoTransform())


def full(image, names):
    return image.read(names, (0, 0, image.width, image.height))


def test_names_from_band_descriptions():
    image = open_image(S2_L2A, "sentinel2a_msi")
    assert image.band_names == PAPER000_STACK
    assert image.scaling_source == "float data taken as reflectance"


def test_band_order_that_contradicts_descriptions_is_an_error():
    shifted = PAPER000_STACK[1:] + PAPER000_STACK[:1]
    with pytest.raises(InputError, match="BAND_ORDER: says B2, .* but the band descriptions say B1, B2"):
        open_image(S2_L2A, "sentinel2a_msi", band_order=shifted)
    assert open_image(S2_L2A, "sentinel2a_msi", band_order=PAPER000_STACK).band_names == PAPER000_STACK


def test_undescribed_stack_gets_the_sensor_default_for_its_band_count(tmp_path):
    data = gdal.Open(S2_L2A).ReadAsArray()
    plain = write_tif(tmp_path / "plain.tif", data)
    image = open_image(plain, "sentinel2a_msi")
    assert image.band_names == PAPER000_STACK
    bands, _ = full(image, ["B8A", "B11"])
    assert np.array_equal(bands["B8A"], data[8]) and np.array_equal(bands["B11"], data[10])


def test_unknown_band_count_lists_what_was_found_and_expected(tmp_path):
    plain = write_tif(tmp_path / "five.tif", gdal.Open(S2_L2A).ReadAsArray()[:5])
    with pytest.raises(InputError) as e:
        open_image(plain, "sentinel2a_msi")
    assert e.value.parameter == "BAND_ORDER"
    assert "has 5 bands" in str(e.value) and "12 bands: B1, B2" in str(e.value)
    with pytest.raises(InputError, match="lists 4 bands .* but the input has 5"):
        open_image(plain, "sentinel2a_msi", band_order=["B2", "B3", "B4", "B8"])


def test_single_band_files_are_named_from_file_names_whatever_their_order():
    shuffled = TM[:]
    random.Random(1).shuffle(shuffled)
    image = open_image(shuffled, "landsat5_tm", scaling="custom", scale=1, offset=0)
    assert sorted(image.band_names) == ["B1", "B2", "B3", "B4", "B5", "B6", "B7"]
    bands, _ = full(image, ["B3", "B5"])
    assert np.array_equal(bands["B3"], gdal.Open(TM[2]).ReadAsArray().astype(np.float32))
    assert np.array_equal(bands["B5"], gdal.Open(TM[4]).ReadAsArray().astype(np.float32))


@pytest.mark.parametrize("scale, said", [(0, "0"), (1e-60, r"1e-60 \(0 in float32\)")])
def test_a_custom_scale_of_zero_is_refused(scale, said):
    """Every pixel would be the OFFSET: a correlation then blamed POINTS for 'one distinct spectrum'. A scale below
    the smallest float32 is 0 in the float32 reflectance too: every output was silently the OFFSET (hostile-input
    audit; the no-signal warning then blamed a blank file)."""
    with pytest.raises(InputError, match=f"SCALE: a scale of {said} gives every pixel the same reflectance"):
        open_image(TM, "landsat5_tm", scaling="custom", scale=scale, offset=0.1)


def test_files_on_different_grids_need_a_resampling_choice():
    files = sorted(glob.glob(os.path.join(L1C, "*.jp2")))
    with pytest.raises(InputError) as e:
        open_image(files, "sentinel2a_msi")
    assert e.value.parameter == "RESAMPLING" and "different grids" in str(e.value)
    fine = open_image(files, "sentinel2a_msi", resampling="nearest")
    assert (fine.width, fine.height, fine.geotransform[1]) == (96, 96, 10.0)  # default: the finest band
    coarse = open_image(files, "sentinel2a_msi", resampling="average", resolution=20)
    assert (coarse.width, coarse.height) == (48, 48)
    # Nearest-neighbour on the 10 m grid repeats each 20 m value 2 x 2: compare with the 20 m file itself.
    b12_20m = gdal.Open(os.path.join(L1C, "T33TWM_B12_20m.jp2")).ReadAsArray()
    refl, _ = full(fine, ["B12"])
    assert np.allclose(refl["B12"][::2, ::2], (b12_20m - 1000) / 10000.0, atol=1e-6)


def test_different_crs_is_an_error(tmp_path):
    a = write_tif(tmp_path / "a.tif", np.ones((1, 5, 5), np.float32), descriptions=["B4"])
    from osgeo import osr
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    b = write_tif(tmp_path / "b.tif", np.ones((1, 5, 5), np.float32), descriptions=["B8"],
                  epsg_wkt=srs.ExportToWkt(), gt=(0, 10, 0, 0, 0, -10))
    with pytest.raises(InputError, match="INPUT: 'b.tif' is in a different coordinate reference system"):
        open_image([a, b], "sentinel2a_msi")


def test_not_a_raster_is_an_error(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a raster")
    with pytest.raises(InputError, match="INPUT: 'notes.txt' exists but could not be read as a raster"):
        open_image(str(text), "sentinel2a_msi")


def test_sentinel2_offset_read_from_product_metadata():
    """DN = reflectance x 10000 + 1000 (baseline 04.00): MTD_MSIL1C.xml beside the stack gives the offset."""
    image = open_image(os.path.join(L1C, "stack_13band.tif"), "sentinel2a_msi")
    assert "MTD_MSIL1C.xml" in image.scaling_source
    truth = np.load(os.path.join(L1C, "reflectance_13band.npy"))
    bands, valid = full(image, image.band_names)
    assert valid.all()
    for i, name in enumerate(image.band_names):
        assert np.abs(bands[name] - truth[:, :, i]).max() <= 0.5e-4 + 1e-6, name


def test_integer_data_without_metadata_needs_a_scaling(tmp_path):
    dn = gdal.Open(os.path.join(L1C, "stack_13band.tif")).ReadAsArray()
    plain = write_tif(tmp_path / "dn.tif", dn, gdal.GDT_UInt16, nodata=0)
    with pytest.raises(InputError) as e:
        open_image(plain, "sentinel2a_msi")
    assert e.value.parameter == "SCALING" and "digital numbers" in str(e.value)
    image = open_image(plain, "sentinel2a_msi", scaling="sentinel2_offset")
    bands, _ = full(image, ["B11"])
    assert np.allclose(bands["B11"], (dn[11].astype(np.float64) - 1000) / 10000, atol=1e-6)


def test_landsat_collection2_scaling_and_fill(tmp_path):
    dn = np.array([[[0, 7273, 10000, 43636]]], dtype=np.uint16).repeat(7, axis=0)
    path = write_tif(tmp_path / "LC09_SR.tif", dn, gdal.GDT_UInt16)
    image = open_image(path, "landsat9_oli2", scaling="landsat_c2_l2")
    bands, valid = full(image, ["B4"])
    # USGS: SR = DN x 0.0000275 - 0.2; DN 0 is fill.
    assert np.allclose(bands["B4"][0, 1:], [7273 * 0.0000275 - 0.2, 10000 * 0.0000275 - 0.2, 43636 * 0.0000275 - 0.2],
                       atol=1e-6)
    assert valid.tolist() == [[False, True, True, True]]


def test_landsat_mtl_scaling_is_found(tmp_path):
    dn = np.full((7, 2, 2), 20000, dtype=np.uint16)
    path = write_tif(tmp_path / "LC08_L2SP_stack.tif", dn, gdal.GDT_UInt16)
    lines = ["GROUP = LEVEL2_SURFACE_REFLECTANCE_PARAMETERS"]
    lines += [f"    REFLECTANCE_MULT_BAND_{i} = 2.75E-05\n    REFLECTANCE_ADD_BAND_{i} = -0.200000" for i in range(1, 8)]
    (tmp_path / "LC08_L2SP_MTL.txt").write_text("\n".join(lines + ["END_GROUP = LEVEL2_SURFACE_REFLECTANCE_PARAMETERS"]))
    image = open_image(path, "landsat8_oli")
    assert "LC08_L2SP_MTL.txt" in image.scaling_source
    assert full(image, ["B7"])[0]["B7"][0, 0] == pytest.approx(20000 * 2.75e-5 - 0.2, abs=1e-6)


def test_the_mtl_of_another_scene_in_the_folder_is_never_taken(tmp_path):
    """Two scenes' MTLs in one folder: the first in name order scaled the other scene's bands (2.65x here)."""
    def mtl(scene, mult):
        lines = ["GROUP = LEVEL2_SURFACE_REFLECTANCE_PARAMETERS"]
        lines += [f"    REFLECTANCE_MULT_BAND_{i} = {mult}\n    REFLECTANCE_ADD_BAND_{i} = -0.2" for i in range(1, 8)]
        (tmp_path / f"{scene}_MTL.txt").write_text("\n".join(lines + ["END_GROUP = LEVEL2_SURFACE_REFLECTANCE_PARAMETERS"]))

    dn = np.full((7, 2, 2), 20000, dtype=np.uint16)
    mtl("LC08_L2SP_044034_20200101_20200110_02_T1", "5.5E-05")
    mtl("LC08_L2SP_044034_20210701_20210710_02_T1", "2.75E-05")
    path = write_tif(tmp_path / "LC08_L2SP_044034_20210701_20210710_02_T1_stack.tif", dn, gdal.GDT_UInt16)
    image = open_image(path, "landsat8_oli")
    assert "20210701" in image.scaling_source
    assert full(image, ["B7"])[0]["B7"][0, 0] == pytest.approx(20000 * 2.75e-5 - 0.2, abs=1e-6)
    other = write_tif(tmp_path / "renamed.tif", dn, gdal.GDT_UInt16)  # named after neither: which one cannot be told
    with pytest.raises(InputError, match="SCALING.*beside the metadata of 2 Landsat scenes"):
        open_image(other, "landsat8_oli")


@pytest.mark.parametrize("size", [(1, 1), (300, 7), (257, 1000), (5000, 900), (20000, 3)])
@pytest.mark.parametrize("input_block", [(1, 1), (512, 512), (300, 1), (2048, 2048)])
def test_windows_cover_every_pixel_once_on_whole_input_blocks(size, input_block):
    w, h = size
    hits = np.zeros((h, w), np.uint8)
    for x, y, bw, bh in windows(w, h, block_pixels=2 ** 16, input_block=input_block):
        hits[y:y + bh, x:x + bw] += 1
        assert x % 256 == 0 and y % 256 == 0
        for offset, block in zip((x, y), input_block):
            if block <= 1024:
                assert offset % block == 0
    assert (hits == 1).all()


def test_sentinel2_l2a_boa_offset_from_product_metadata(tmp_path):
    granule = tmp_path / "S2B_MSIL2A.SAFE" / "GRANULE" / "L2A_T33" / "IMG_DATA" / "R20m"
    granule.mkdir(parents=True)
    dn = np.array([[[0, 1000, 2500, 11000]]], dtype=np.uint16)
    files = [write_tif(granule / f"T33TWM_{b}_20m.tif", dn, gdal.GDT_UInt16) for b in ("B11", "B12")]
    offsets = "".join(f'<BOA_ADD_OFFSET band_id="{i}">-1000</BOA_ADD_OFFSET>' for i in range(13))
    (tmp_path / "S2B_MSIL2A.SAFE" / "MTD_MSIL2A.xml").write_text(
        '<n1:Level-2A_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-2A.xsd">'
        "<General_Info><Product_Image_Characteristics><QUANTIFICATION_VALUES_LIST>"
        "<BOA_QUANTIFICATION_VALUE>10000</BOA_QUANTIFICATION_VALUE></QUANTIFICATION_VALUES_LIST>"
        f"<BOA_ADD_OFFSET_VALUES_LIST>{offsets}</BOA_ADD_OFFSET_VALUES_LIST>"
        "</Product_Image_Characteristics></General_Info></n1:Level-2A_User_Product>")
    image = open_image(files, "sentinel2b_msi")
    assert image.band_names == ["B11", "B12"] and "MTD_MSIL2A.xml" in image.scaling_source
    bands, valid = full(image, ["B12"])
    # ESA: L2A BOA reflectance = (DN + BOA_ADD_OFFSET) / QUANTIFICATION_VALUE; DN 0 = no data.
    assert np.allclose(bands["B12"][0, 1:], [0.0, 0.15, 1.0], atol=1e-6)
    assert valid.tolist() == [[False, True, True, True]]


def test_sentinel2_band_files_linked_into_a_working_folder_keep_their_product(tmp_path):
    """Band files of a SAFE linked into a working folder are scaled by the product they belong to (the link's folder
    holds no metadata); a damaged metadata file is named by its path, wherever it was found."""
    img_data = tmp_path / "S2B_MSIL1C.SAFE" / "GRANULE" / "L1C_T33TWM_A1" / "IMG_DATA"
    img_data.mkdir(parents=True)
    mtd = tmp_path / "S2B_MSIL1C.SAFE" / "MTD_MSIL1C.xml"
    mtd.write_text("<root><QUANTIFICATION_VALUE>10000</QUANTIFICATION_VALUE>"
                   + "".join(f'<RADIO_ADD_OFFSET band_id="{i}">-1000</RADIO_ADD_OFFSET>' for i in range(13)) + "</root>")
    work = tmp_path / "work"
    work.mkdir()
    dn = np.full((1, 2, 2), 2500, dtype=np.uint16)
    links = []
    for b in ("B11", "B12"):
        os.symlink(write_tif(img_data / f"T33TWM_{b}.tif", dn, gdal.GDT_UInt16), work / f"{b}.tif")
        links.append(str(work / f"{b}.tif"))
    image = open_image(links, "sentinel2b_msi")
    assert "MTD_MSIL1C.xml" in image.scaling_source
    bands, _ = full(image, ["B11"])
    assert np.allclose(bands["B11"], 0.15, atol=1e-6)  # (2500 - 1000) / 10000
    mtd.write_text("<root><QUANTIFICATION_VALUE>")
    with pytest.raises(InputError) as e:
        open_image(links, "sentinel2b_msi")
    assert e.value.parameter == "SCALING" and f"{mtd} is not readable XML" in str(e.value)


def test_sentinel2_metadata_of_a_folder_above_is_not_taken(tmp_path):
    """A stack exported into a subfolder of another product's folder is not scaled by that product's metadata
    (the folders above were searched up to 5 levels): only its own folder, or the root of the SAFE whose GRANULE
    tree it lies in, counts."""
    (tmp_path / "MTD_MSIL2A.xml").write_text(
        "<root><BOA_QUANTIFICATION_VALUE>10000</BOA_QUANTIFICATION_VALUE>"
        '<BOA_ADD_OFFSET band_id="11">-1000</BOA_ADD_OFFSET></root>')
    exports = tmp_path / "exports" / "2024"
    exports.mkdir(parents=True)
    dn = np.full((1, 2, 2), 2500, dtype=np.uint16)
    files = [write_tif(exports / f"{b}.tif", dn, gdal.GDT_UInt16) for b in ("B11", "B12")]
    with pytest.raises(InputError) as e:
        open_image(files, "sentinel2b_msi")
    assert e.value.parameter == "SCALING" and "no product metadata" in str(e.value)



def test_sentinel2_metadata_above_a_folder_named_granule_outside_a_safe_is_not_taken(tmp_path):
    """A folder named GRANULE that is not a SAFE's (no <granule id>/IMG_DATA below it) made the folder above it a
    product's root, whose metadata scaled a stack exported there; an L1C SAFE's IMG_DATA still finds its root."""
    (tmp_path / "MTD_MSIL1C.xml").write_text("<root><QUANTIFICATION_VALUE>10000</QUANTIFICATION_VALUE>"
                                             '<RADIO_ADD_OFFSET band_id="11">-1000</RADIO_ADD_OFFSET></root>')
    dn = np.full((1, 2, 2), 2500, dtype=np.uint16)
    for folder in (tmp_path / "GRANULE" / "exports", tmp_path / "GRANULE" / "2024" / "stacks"):
        folder.mkdir(parents=True)
        files = [write_tif(folder / f"{b}.tif", dn, gdal.GDT_UInt16) for b in ("B11", "B12")]
        with pytest.raises(InputError) as e:
            open_image(files, "sentinel2b_msi")
        assert e.value.parameter == "SCALING" and "no product metadata" in str(e.value)
    img_data = tmp_path / "GRANULE" / "L1C_T33TWM_A1" / "IMG_DATA"
    img_data.mkdir(parents=True)
    files = [write_tif(img_data / f"T33TWM_{b}.tif", dn, gdal.GDT_UInt16) for b in ("B11", "B12")]
    assert "MTD_MSIL1C.xml" in open_image(files, "sentinel2b_msi").scaling_source

def test_landsat_surface_reflectance_file_names(tmp_path):
    dn = np.full((1, 3, 3), 9000, dtype=np.uint16)
    files = [write_tif(tmp_path / f"LC09_L2SP_166029_20240815_20240816_02_T1_SR_B{i}.TIF", dn, gdal.GDT_UInt16)
             for i in (7, 6, 5, 4, 3, 2, 1)]
    image = open_image(files, "landsat9_oli2", scaling="landsat_c2_l2")
    assert image.band_names == ["B7", "B6", "B5", "B4", "B3", "B2", "B1"]


def test_gdal_sentinel2_driver_band_descriptions(tmp_path):
    data = np.ones((3, 2, 2), np.float32)
    path = write_tif(tmp_path / "safe.tif", data, descriptions=[
        "B4, central wavelength 665 nm", "B3, central wavelength 560 nm", "B2, central wavelength 490 nm"])
    assert open_image(path, "sentinel2a_msi").band_names == ["B4", "B3", "B2"]


@pytest.mark.parametrize("stored", [False, True])
def test_a_band_constant_but_for_an_undeclared_fill_is_constant_in_stored_reads_too(tmp_path, stored):
    """The stored reads (SAM's) left the fill below the lowest reflectance to their caller, yet counted -9999 as a
    second value: a dead band beside an undeclared fill was said to carry no signal by the band ratio, not by SAM."""
    dn = np.full((2, 8, 8), 2000, np.int16)
    dn[0] = np.arange(64).reshape(8, 8) * 10  # a band with signal
    dn[:, :2] = -9999  # a fill the file does not declare
    image = open_image(write_tif(tmp_path / "x.tif", dn, gdal.GDT_Int16, descriptions=["B11", "B12"]),
                       "sentinel2a_msi", scaling="custom", scale=1e-4, offset=0)
    image.read_stack(["B11", "B12"], (0, 0, 8, 8), stored=stored)
    assert image.constant_bands() == pytest.approx({"B12": 0.2})


def test_one_pixel_read_twice_is_not_a_band_without_signal(tmp_path):
    """A one-pixel image (or a single valid pixel) read by a centre look and again by the blocks, as SAM reads, or
    one pixel under several sample points, was counted as two pixels holding one value: said to carry no signal."""
    cube = np.array([[[0.1]], [[0.3]]], np.float32)
    image = open_image(write_tif(tmp_path / "x.tif", cube, descriptions=["B11", "B12"]), "sentinel2a_msi")
    image.central(["B11", "B12"])
    full(image, ["B11", "B12"])
    image.read(["B11", "B12"], (0, 0, 1, 1))
    assert image.constant_bands() == {}
    cube = np.full((2, 3, 3), -9999, np.float32)
    cube[:, 1, 1], cube[:, 2, 0] = 0.2, 0.2  # two valid pixels of one value: no signal
    image = open_image(write_tif(tmp_path / "y.tif", cube, nodata=-9999, descriptions=["B11", "B12"]), "sentinel2a_msi")
    for window in ((1, 1, 1, 1), (1, 1, 1, 1), (0, 2, 1, 1)):
        image.read(["B11", "B12"], window)
    assert image.constant_bands() == pytest.approx({"B11": 0.2, "B12": 0.2})


def test_a_float_band_read_through_a_normalising_view_stays_one_value(tmp_path):
    """A model's normalisation folded into a view's scaling (patch_tagging) gives a float band's stored value back
    only within float32's rounding: a dead band read by the image and by such a view (the bundled taggers') was
    taken to vary, and tagminerals never said it carried no signal."""
    from types import SimpleNamespace

    from prospectra.core.learning.patch_tagging import _normalising

    cube = np.stack([np.linspace(0.1, 0.4, 64, dtype=np.float32).reshape(8, 8), np.full((8, 8), 0.25, np.float32)])
    image = open_image(write_tif(tmp_path / "x.tif", cube, descriptions=["B11", "B12"]), "sentinel2a_msi")
    image.central(["B11", "B12"])
    model = SimpleNamespace(bands=["B11", "B12"], mean=np.array([0.2, 0.11], np.float32),
                            std=np.array([0.1, 0.7], np.float32))
    view = _normalising(image, model)
    for y in range(8):
        view.read_stack(["B11", "B12"], (0, y, 8, 1))
    assert image.constant_bands() == pytest.approx({"B12": 0.25})


@pytest.mark.parametrize("where", ["gdal", "mtl"])
def test_a_scale_of_zero_in_the_files_metadata_is_refused(tmp_path, where):
    """A GDAL scale or an MTL REFLECTANCE_MULT of 0 (damaged metadata) made every pixel the offset, and the
    no-signal note then divided by it: a ZeroDivisionError traceback instead of a message."""
    dn = np.arange(7 * 64, dtype=np.uint16).reshape(7, 8, 8) + 5000
    path = write_tif(tmp_path / "LC08_L1TP_X_B1-7.tif", dn, gdal.GDT_UInt16, descriptions=[f"B{i}" for i in range(1, 8)])
    if where == "gdal":
        ds = gdal.Open(path, gdal.GA_Update)
        for i in range(7):
            ds.GetRasterBand(i + 1).SetScale(0.0 if i == 3 else 2e-5)
            ds.GetRasterBand(i + 1).SetOffset(0.1)
        ds = None
    else:
        (tmp_path / "LC08_L1TP_X_MTL.txt").write_text("".join(
            f"REFLECTANCE_MULT_BAND_{i} = {0.0 if i == 4 else 2e-5}\nREFLECTANCE_ADD_BAND_{i} = -0.1\n" for i in range(1, 8))
            + "SUN_ELEVATION = 45.0\n")
    with pytest.raises(InputError, match="SCALING: .* gives band B4 a scale of 0, so every pixel would hold the same"):
        open_image(path, "landsat8_oli")
