"""Real QGIS desktop under Xvfb, with the plugin enabled in a fresh profile (desktop.py, desktop_check.py): the
plugin loads, the Processing registry and toolbox show every algorithm once, every dialog opens cleanly, a composite
runs and lands styled in the map, and all_algorithms.model3 opens in the graphical modeler. ~10-20 s."""
import os
import re
import struct
from xml.etree import ElementTree

import pytest

import desktop

pytestmark = pytest.mark.skipif(bool(desktop.missing_programs()),
                                reason=f"needs {desktop.missing_programs()} (make system installs them)")
WARNING = 1  # Qgis.MessageLevel: Info 0, Warning 1, Critical 2


def unrelated(message):
    """QGIS's own start-up downloads (news feed, fonts on 3.40) fail offline and may report at any moment."""
    return message["tag"] == "Network" or "font" in message["message"].lower()


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run = desktop.run(tmp_path_factory.mktemp("desktop"), timeout=60, exit_grace=15)
    print("screenshots, result.json and QGIS's output:", os.path.dirname(run["out_dir"]))  # shown on failure
    return run


@pytest.fixture(scope="module")
def result(run):
    assert run["result"] is not None, \
        f"QGIS wrote no result.json within 60 s (exit code {run['returncode']}); its output:\n{run['output'][-3000:]}"
    return run["result"]


@pytest.fixture(scope="module")
def expected(qgis_processing):
    """The provider's algorithm ids as headless QGIS (conftest) registers them: the reference for the desktop."""
    from qgis.core import QgsApplication

    return sorted(a.id() for a in QgsApplication.processingRegistry().providerById("prospectra").algorithms())


def test_qgis_starts_and_exits_by_itself(run, result):
    assert not result["problems"], "desktop_check.py failed:\n" + "\n".join(result["problems"])
    assert run["exited_by_itself"], "QGIS did not exit after the check and was killed"
    assert run["returncode"] == 0, f"QGIS exited with {run['returncode']}:\n{run['output'][-3000:]}"


def test_plugin_loads_and_registers_every_algorithm(result, expected):
    errors = {tag: text for tag, text in result.get("log_panel", {}).items() if "error" in tag.lower()}
    assert result.get("plugin_active"), f"Prospectra is not among the active plugins; log panel: {errors}"
    assert result.get("provider_registered"), "no Processing provider 'prospectra'"
    defined = result["class_algorithms"]
    assert len(defined) == len(set(defined)), f"ProspectraProvider defines an id twice: {defined}"
    assert result["registry_algorithms"] == sorted(defined), "registry and provider class differ"
    assert result["registry_algorithms"] == expected, "desktop and headless QGIS register different algorithms"
    assert len(result["registry_algorithms"]) == len(expected)


def test_toolbox_shows_the_provider_and_every_algorithm_once(result, expected):
    assert result.get("toolbox_visible"), "the Processing toolbox did not open"
    assert "toolbox_algorithms" in result, f"no 'Prospectra' node in the toolbox: {result['toolbox_top_level']}"
    shown = result["toolbox_algorithms"]
    assert sorted(shown) == expected, f"toolbox shows {sorted(shown)}, provider has {expected}"
    assert len(shown) == len(expected), f"an algorithm appears twice in the toolbox: {shown}"
    assert result["toolbox_groups"], "algorithms are not grouped"


def test_every_dialog_opens_without_error(result, expected):
    assert sorted(result["dialogs"]) == expected
    for alg_id, d in result["dialogs"].items():
        assert "exception" not in d, f"{alg_id}: opening its dialog raised\n{d['exception']}"
        assert d["can_execute"][0], f"{alg_id}: canExecute() says {d['can_execute'][1]}"
        assert d["title"].endswith(d["display_name"]), f"{alg_id}: dialog title {d['title']!r}"  # 3.40: "Group - Name"
        assert not d.get("missing_widgets"), f"{alg_id}: no widget for {d['missing_widgets']}"
        bad = [m for m in d["log"] if m["level"] >= WARNING and not unrelated(m)]
        assert not bad, f"{alg_id}: the message log got {bad} while its dialog opened"


def raised_by_prospectra(entry):
    """Whether a Python warning or error of the log panel is the plugin's: a warning is when the line that raised
    it is (QGIS 3.44's own codecs.open deprecation on Python 3.14 carries the plugin in its traceback only because
    the plugin called into QGIS); an error is when its traceback passes through the plugin (its path,
    .../prospectra/...)."""
    origin = re.search(r"warning:(\S+?):\d+:", entry)
    return "prospectra" in (origin.group(1) if origin else entry).lower()


def test_no_prospectra_warning_or_python_error_in_the_log(result):
    live = [m for m in result["log"] if m["level"] >= WARNING and "prospectra" in (m["tag"] + m["message"]).lower()]
    assert not live, f"warnings about Prospectra in the message log: {live}"
    for tag, text in result.get("log_panel", {}).items():
        if "python" in tag.lower():
            entries = re.split(r"^(?=\d{4}-\d\d-\d\dT)", text, flags=re.M)
            assert not [e for e in entries if raised_by_prospectra(e)], f"Log Messages panel, tab '{tag}':\n{text}"


def test_composite_runs_and_loads_styled(result):
    run = result["composite_run"]
    assert "exception" not in run, run.get("exception")
    assert "Composite (reflectance)" in run["layers"], f"layers in the project: {run['layers']}"
    assert run["renderer"] == "multibandcolor"
    # QGIS applied the .qml the plugin wrote. Exact equality: QGIS's own 2-98 % default lands within ~4e-7.
    red = ElementTree.parse(run["style_file"]).find(".//redContrastEnhancement")
    style = [float(red.find("minValue").text), float(red.find("maxValue").text)]
    assert run["red_stretch"] == style, f"layer stretch {run['red_stretch']}, style file {style}"


def test_model_with_every_algorithm_opens_in_the_modeler(result, expected):
    model = result["model"]
    assert model["loaded"], "all_algorithms.model3 did not load"
    assert not model["unresolved"], f"model children not found in the desktop registry: {model['unresolved']}"
    assert model["valid"], f"the model does not validate: {model['issues']}"
    assert sorted(set(model["children"])) == expected
    assert "designer_exception" not in model, model.get("designer_exception")


def test_screenshots(run, result, expected):
    names = {"main_window_toolbox.png", "modeler_all_algorithms.png"} | {
        "dialog_" + a.split(":")[1] + ".png" for a in expected}
    assert names <= set(result["screenshots"]), f"missing: {sorted(names - set(result['screenshots']))}"
    for name in names:
        width, height = png_size(os.path.join(run["out_dir"], name))
        assert width >= 400 and height >= 300, f"{name} is only {width}x{height}"
