"""Starts real QGIS desktop under its own Xvfb, with this checkout's plugin enabled in a throwaway profile, runs
desktop_check.py in it and returns what that script found. Used by test_desktop.py and make_screenshots.py (both
have test/ on sys.path, for conftest)."""
import json
import os
import select
import shutil
import subprocess
import sys
import sysconfig
import time

from conftest import PLUGINS, ROOT  # PLUGINS holds the 'prospectra' link to this checkout that conftest makes

HERE = os.path.dirname(os.path.abspath(__file__))
CHECK = os.path.join(HERE, "desktop_check.py")
MODEL3 = os.path.join(ROOT, "test", "cli", "all_algorithms.model3")
SCENE = os.path.join(ROOT, "test", "data", "sen2_rstoolbox_12band.tif")
# A fresh profile with the plugin enabled, as Plugins > Manage and Install Plugins leaves it; no version check.
PROFILE_INI = """[PythonPlugins]
prospectra=true
processing=true

[qgis]
checkVersion=false
"""


def missing_programs():
    return [p for p in ("qgis", "Xvfb") if shutil.which(p) is None]


def start_xvfb(log):
    """Xvfb on a display number it picks itself (-displayfd), so parallel runs never collide; returns (proc, ':N')."""
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                            pass_fds=(write_end,), stdout=log, stderr=subprocess.STDOUT)
    os.close(write_end)
    number, deadline = b"", time.monotonic() + 20
    try:  # read up to the newline: closing the pipe before Xvfb has written it all makes Xvfb exit
        while not number.endswith(b"\n") and select.select([read_end], [], [], max(0, deadline - time.monotonic()))[0]:
            chunk = os.read(read_end, 16)
            if not chunk:
                break
            number += chunk
    finally:
        os.close(read_end)
    number = number.decode().strip()
    if not number.isdigit():
        stop(proc)
        raise RuntimeError("Xvfb did not report a display within 20 s")
    return proc, ":" + number


def stop(proc, grace=5):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run(workdir, timeout=80, exit_grace=20):
    """Runs QGIS once. Returns a dict: 'result' (desktop_check.py's result.json, or None), 'returncode',
    'exited_by_itself', 'seconds', 'output' (QGIS's stdout and stderr), 'out_dir' (screenshots)."""
    workdir = os.path.abspath(workdir)
    out_dir, profiles, home = (os.path.join(workdir, d) for d in ("out", "profiles", "home"))
    ini_dir = os.path.join(profiles, "profiles", "default", "QGIS")
    for d in (out_dir, ini_dir, home):
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(ini_dir, "QGIS3.ini"), "w") as f:
        f.write(PROFILE_INI)
    runtime = os.path.join(workdir, "xdg-runtime")
    os.makedirs(runtime, mode=0o700, exist_ok=True)
    python_path = [PLUGINS]
    if sys.prefix != sys.base_prefix:  # a venv: its packages (onnxruntime, scikit-learn ...) for QGIS's Python
        python_path.append(sysconfig.get_paths()["purelib"])
    # a copy: QGIS writes statistics (.aux.xml) beside a raster it stretches, and test/data stays untouched
    scene = shutil.copy(SCENE, workdir)
    log_path = os.path.join(workdir, "qgis_output.txt")
    started = time.monotonic()
    with open(os.path.join(workdir, "xvfb_output.txt"), "w") as xvfb_log:
        xvfb, display = start_xvfb(xvfb_log)
    qgis = None
    try:
        env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb", "HOME": home, "XDG_RUNTIME_DIR": runtime,
               "QGIS_PLUGINPATH": PLUGINS, "PROSPECTRA_DESKTOP_OUT": out_dir, "PROSPECTRA_DESKTOP_MODEL": MODEL3,
               "PROSPECTRA_DESKTOP_SCENE": scene,
               "PYTHONPATH": os.pathsep.join(python_path + [p for p in [os.environ.get("PYTHONPATH")] if p])}
        with open(log_path, "w") as log:
            qgis = subprocess.Popen(["qgis", "--profiles-path", profiles, "--nologo", "--noversioncheck",
                                     "--code", CHECK], env=env, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
            result_path = os.path.join(out_dir, "result.json")
            deadline = started + timeout
            while qgis.poll() is None and time.monotonic() < deadline and not os.path.exists(result_path):
                time.sleep(0.5)
            # the script asks QGIS to exit once the result is written; give it a little while to do so
            try:
                qgis.wait(exit_grace)
            except subprocess.TimeoutExpired:
                pass
            exited = qgis.poll() is not None
    finally:
        if qgis is not None and qgis.poll() is None:
            qgis.kill()  # by its PID: QGIS is this Popen's own process (the qgis wrapper execs qgis.bin)
            qgis.wait()
        stop(xvfb)
    result = None
    if os.path.exists(os.path.join(out_dir, "result.json")):
        with open(os.path.join(out_dir, "result.json")) as f:
            result = json.load(f)
    with open(log_path, errors="replace") as f:
        output = f.read()
    return {"result": result, "returncode": qgis.returncode, "exited_by_itself": exited,
            "seconds": round(time.monotonic() - started, 1), "output": output, "out_dir": out_dir}
