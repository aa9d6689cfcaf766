"""core/ is the engine that runs without QGIS: no module of it may import qgis, PyQt or processing."""
import ast
import os
import subprocess
import sys

from conftest import PLUGINS, ROOT

FORBIDDEN = ("qgis", "PyQt4", "PyQt5", "PyQt6", "processing", "sip")


def test_no_core_module_imports_qgis():
    offenders = []
    for folder, _, files in os.walk(os.path.join(ROOT, "core")):
        for fn in files:
            if fn.endswith(".py"):
                path = os.path.join(folder, fn)
                with open(path) as f:
                    tree = ast.parse(f.read(), path)
                for node in ast.walk(tree):
                    names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                        [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
                    offenders += [f"{path}:{node.lineno} {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []


def test_core_imports_in_a_plain_python():
    code = ("import sys, pkgutil, importlib, prospectra.core as c\n"
            "for m in pkgutil.walk_packages(c.__path__, 'prospectra.core.'): importlib.import_module(m.name)\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in %r]\n"
            "assert not bad, bad\n" % (FORBIDDEN,))
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": PLUGINS})
