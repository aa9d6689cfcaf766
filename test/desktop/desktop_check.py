"""Runs inside QGIS desktop (`qgis --code desktop_check.py`, started by desktop.py): looks at Prospectra the way a
user meets it (plugin list, Processing toolbox, algorithm dialogs, a run whose styled result lands in the map,
the graphical modeler), saves screenshots and writes result.json into $PROSPECTRA_DESKTOP_OUT, then quits QGIS.
Failures are recorded, never raised, so the test always gets a result file that explains them.
QGIS runs this file with exec(): there is no __file__, and these names live in QGIS's __main__."""
import json
import os
import traceback

from qgis.core import (Qgis, QgsApplication, QgsProcessingModelAlgorithm,
                       QgsProject, QgsRasterLayer)
from qgis.PyQt.QtCore import QModelIndex, Qt, QTimer
from qgis.PyQt.QtWidgets import QApplication, QDockWidget, QTabWidget
from qgis.utils import iface

from prospectra.algorithms.compat import HIDDEN  # the flag under its 3.22 or 3.36+ name

OUT = os.environ["PROSPECTRA_DESKTOP_OUT"]
MODEL3 = os.environ.get("PROSPECTRA_DESKTOP_MODEL", "")
SCENE = os.environ.get("PROSPECTRA_DESKTOP_SCENE", "")
result = {"qgis_version": Qgis.QGIS_VERSION, "problems": [], "log": [], "dialogs": {}, "screenshots": []}


def on_log(message, tag, level):
    result["log"].append({"tag": tag, "level": int(level), "message": message})


# Errors inside QGIS (a Python callback raising, a widget failing) go to the message log, not to stderr.
QgsApplication.messageLog().messageReceived[str, str, Qgis.MessageLevel].connect(on_log)


def settle(rounds=5):
    for _ in range(rounds):
        QApplication.processEvents()


def shot(widget, name):
    settle()
    path = os.path.join(OUT, name + ".png")
    if widget.grab().save(path, "PNG"):
        result["screenshots"].append(name + ".png")
    else:
        result["problems"].append(f"could not save screenshot {path}")


def log_panel():
    """The Log Messages panel's text per tab: it also holds what was logged before this script started."""
    dock = iface.mainWindow().findChild(QDockWidget, "MessageLog")
    tabs = dock.findChild(QTabWidget) if dock is not None else None
    if tabs is None:
        return {}
    return {tabs.tabText(i): tabs.widget(i).toPlainText() for i in range(tabs.count())
            if hasattr(tabs.widget(i), "toPlainText")}


def walk(model, parent, view):
    """(algorithm ids, group names) below a toolbox node, found the way the view itself maps rows to algorithms."""
    algs, groups = [], []
    for row in range(model.rowCount(parent)):
        index = model.index(row, 0, parent)
        alg = view.algorithmForIndex(index)
        if alg is not None:
            algs.append(alg.id())
        else:
            groups.append(model.data(index, Qt.ItemDataRole.DisplayRole))
            view.setExpanded(index, True)
            sub_algs, sub_groups = walk(model, index, view)
            algs += sub_algs
            groups += sub_groups
    return algs, groups


def check_plugin():
    import qgis.utils

    result["plugin_active"] = "prospectra" in qgis.utils.active_plugins
    provider = QgsApplication.processingRegistry().providerById("prospectra")
    result["provider_registered"] = provider is not None
    if provider is None:
        return None
    result["provider_name"] = provider.name()
    result["registry_algorithms"] = sorted(a.id() for a in provider.algorithms())
    # what the provider class defines, to catch an algorithm the registry dropped (e.g. a duplicate id)
    from prospectra.algorithms.provider import ProspectraProvider

    fresh = ProspectraProvider()
    fresh.loadAlgorithms()
    result["class_algorithms"] = [a.id() for a in fresh.algorithms()]
    return provider


def check_toolbox(provider):
    import qgis.utils

    processing_plugin = qgis.utils.plugins["processing"]
    processing_plugin.toolboxAction.setChecked(True)  # what Processing > Toolbox does
    toolbox = processing_plugin.toolbox
    iface.mainWindow().resizeDocks([toolbox], [400], Qt.Orientation.Horizontal)
    view = toolbox.algorithmTree
    model = view.model()
    top = [model.data(model.index(r, 0, QModelIndex()), Qt.ItemDataRole.DisplayRole) for r in range(model.rowCount())]
    result["toolbox_visible"] = toolbox.isVisible()
    result["toolbox_top_level"] = top
    if provider.name() not in top:
        return
    node = model.index(top.index(provider.name()), 0, QModelIndex())
    view.setExpanded(node, True)
    algs, groups = walk(model, node, view)
    result["toolbox_algorithms"] = algs
    result["toolbox_groups"] = groups
    settle()
    view.scrollTo(node, view.ScrollHint.PositionAtTop)


def run_composite():
    """A user's first run: the sample scene added to the map, its composite run and loaded as the dialog's
    'Open output file' does, with the .qml style the plugin writes beside it."""
    if not SCENE:
        return None
    import processing

    entry = result["composite_run"] = {}
    scene = None
    try:
        scene = QgsRasterLayer(SCENE, "Sentinel-2 scene")
        QgsProject.instance().addMapLayer(scene)
        out = processing.runAndLoadResults("prospectra:bandcomposite",
                                           {"INPUT": [scene.id()], "OUTPUT": os.path.join(OUT, "composite.tif")})
        composite = QgsProject.instance().mapLayer(out["OUTPUT"]) or QgsRasterLayer(out["OUTPUT"])
        entry["layers"] = [layer.name() for layer in QgsProject.instance().mapLayers().values()]
        entry["renderer"] = composite.renderer().type() if composite.isValid() else None
        red = composite.renderer().redContrastEnhancement() if entry["renderer"] == "multibandcolor" else None
        entry["red_stretch"] = [red.minimumValue(), red.maximumValue()] if red else None
        entry["style_file"] = os.path.splitext(out["OUTPUT"])[0] + ".qml"
        canvas = iface.mapCanvas()
        canvas.setExtent(scene.extent())
        canvas.refresh()
        canvas.waitWhileRendering()
    except Exception:
        entry["exception"] = traceback.format_exc()
    return scene


def check_dialogs(provider, scene):
    import processing

    for alg in sorted(provider.algorithms(), key=lambda a: a.id()):
        entry = result["dialogs"].setdefault(alg.id(), {"display_name": alg.displayName()})
        entry["can_execute"] = list(alg.canExecute())
        log_before = len(result["log"])
        try:
            image = alg.parameterDefinition("INPUT")  # the scene preselected, as a user would have it
            params = {"INPUT": [scene.id()]} if scene is not None and image and image.type() == "multilayer" else {}
            dialog = processing.createAlgorithmDialog(alg.id(), params)
            dialog.resize(1000, 720)
            dialog.show()
            shot(dialog, "dialog_" + alg.name())
            entry["title"] = dialog.windowTitle()
            wrappers = getattr(dialog.mainWidget(), "wrappers", None)  # the Python parameters panel's widgets
            if wrappers is not None:
                shown = {d.name() for d in alg.parameterDefinitions() if not d.flags() & HIDDEN}
                entry["missing_widgets"] = sorted(shown - set(wrappers))
            dialog.hide()
            dialog.deleteLater()
            settle()
        except Exception:
            entry["exception"] = traceback.format_exc()
        entry["log"] = result["log"][log_before:]


def check_modeler():
    """The all-algorithms model loads with the desktop's registry and opens in the graphical modeler."""
    if not MODEL3:
        return
    model = QgsProcessingModelAlgorithm()
    entry = result["model"] = {"loaded": model.fromFile(MODEL3)}
    if not entry["loaded"]:
        return
    entry["children"] = sorted(c.algorithmId() for c in model.childAlgorithms().values())
    entry["unresolved"] = sorted(c.algorithmId() for c in model.childAlgorithms().values() if c.algorithm() is None)
    entry["valid"], entry["issues"] = model.validate()
    try:
        from processing.modeler.ModelerDialog import ModelerDialog

        designer = ModelerDialog.create(model)
        designer.resize(1400, 900)
        designer.show()
        settle()
        view = designer.view()
        view.fitInView(view.scene().itemsBoundingRect(), Qt.AspectRatioMode.KeepAspectRatio)
        shot(designer, "modeler_all_algorithms")
        designer.setDirty(False)  # so that nothing asks to save it
        designer.hide()
    except Exception:
        entry["designer_exception"] = traceback.format_exc()


def main():
    try:
        window = iface.mainWindow()
        window.resize(1280, 800)
        provider = check_plugin()
        if provider is not None:
            check_toolbox(provider)
            scene = run_composite()
            settle(20)
            iface.messageBar().clearWidgets()  # QGIS's own offline notices (3.40: font download) are not ours
            shot(window, "main_window_toolbox")
            check_dialogs(provider, scene)
        check_modeler()
    except Exception:
        result["problems"].append(traceback.format_exc())
    finally:
        try:
            result["log_panel"] = log_panel()
        except Exception:
            result["problems"].append(traceback.format_exc())
        with open(os.path.join(OUT, "result.json.part"), "w") as f:
            json.dump(result, f, indent=1, default=str)
        os.replace(os.path.join(OUT, "result.json.part"), os.path.join(OUT, "result.json"))
        # Nothing worth saving, and QGIS calls files under /tmp temporary layers: Project > Exit must not ask.
        QgsProject.instance().removeAllMapLayers()
        QgsProject.instance().setDirty(False)
        QTimer.singleShot(0, iface.actionExit().trigger)


# Start once the event loop runs: the main window, plugins and toolbox are then fully built.
QTimer.singleShot(1000, main)
