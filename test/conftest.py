"""Test set-up: the repo is importable as the package 'prospectra'; QGIS starts headless once per session
for the tests that ask for it (the core tests never do)."""
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "test", "data")
# The plugin link goes where tests may write: $PROSPECTRA_BUILD, which a read-only checkout (the chroot runs) sets.
sys.path.append(os.path.join(ROOT, "scripts"))
from plugin_path import PLUGINS  # noqa: E402,F401  (other tests import it from here; the import makes 'prospectra' importable)
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session")
def qgis_processing(tmp_path_factory):
    """A running headless QGIS with Processing and the Prospectra provider registered."""
    os.environ["HOME"] = str(tmp_path_factory.mktemp("home"))
    from qgis.core import QgsApplication

    app = QgsApplication([], False)
    app.initQgis()
    sys.path.append("/usr/share/qgis/python/plugins")
    from processing.core.Processing import Processing

    Processing.initialize()
    from prospectra.algorithms.provider import ProspectraProvider

    provider = ProspectraProvider()  # keep a reference, or its algorithms vanish
    QgsApplication.processingRegistry().addProvider(provider)
    import processing

    yield processing
    QgsApplication.processingRegistry().removeProvider(provider)


class RecordingFeedback:
    """Feedback that cancels once a given number of blocks has been reported."""

    def __init__(self, cancel_after=None):
        self.calls, self.cancel_after, self.progress = 0, cancel_after, []

    def setProgress(self, p):  # noqa: N802
        self.progress.append(p)

    def isCanceled(self):  # noqa: N802
        self.calls += 1
        return self.cancel_after is not None and self.calls > self.cancel_after

    def pushInfo(self, text):  # noqa: N802
        pass


def cancel_above(percent):
    """A Processing feedback that cancels once the progress passes percent (QGIS must be running)."""
    from qgis.core import QgsProcessingFeedback

    class CancelAbove(QgsProcessingFeedback):
        def setProgress(self, p):  # noqa: N802
            super().setProgress(p)
            if p > percent:
                self.cancel()

    return CancelAbove()


def warnings_feedback():
    """A Processing feedback that keeps the warnings pushed to it, in .warnings (QGIS must be running)."""
    from qgis.core import QgsProcessingFeedback

    class Warnings(QgsProcessingFeedback):
        def __init__(self):
            super().__init__()
            self.warnings = []

        def pushWarning(self, text):  # noqa: N802
            self.warnings.append(text)

    return Warnings()


@pytest.fixture(scope="session")
def qgis_process(tmp_path_factory):
    """scripts/qgis_process in an isolated HOME and QGIS profile; run(*args) asserts success unless check=False."""
    home = tmp_path_factory.mktemp("home_cli")
    env = {**os.environ, "HOME": str(home), "PROSPECTRA_QGIS_PROFILE": str(home / "profile")}
    if sys.prefix != sys.base_prefix:  # qgis_process sees the packages of the venv running the tests
        env.setdefault("PROSPECTRA_VENV", sys.prefix)
    script = os.path.join(ROOT, "scripts", "qgis_process")

    def run(*args, check=True):
        proc = subprocess.run([script, *args], capture_output=True, text=True, env=env, timeout=600)
        if check:
            assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    run.command, run.env = script, env  # for tests that start it themselves (to signal it mid-run)
    return run


@pytest.fixture
def run_fails(qgis_processing, tmp_path):
    """run(alg, params, *texts): the algorithm must fail with a QgsProcessingException holding every text and
    leave nothing new in tmp_path; OUTPUT defaults to tmp_path/out.tif where the algorithm has one."""
    from qgis.core import QgsApplication, QgsProcessingException

    def run(alg, params, *expected):
        before = set(os.listdir(tmp_path))
        if QgsApplication.processingRegistry().algorithmById(alg).parameterDefinition("OUTPUT") is not None:
            params.setdefault("OUTPUT", str(tmp_path / "out.tif"))
        with pytest.raises(QgsProcessingException) as e:
            qgis_processing.run(alg, params)
        for text in expected:
            assert text in str(e.value), str(e.value)
        assert set(os.listdir(tmp_path)) == before, "output or temporary files were left behind"
        return str(e.value)

    return run


from stac_servers import stac_servers  # noqa: E402, F401 (the STAC API and file servers, for any test that asks)


def holm_rejects(p, alpha):
    """Holm's procedure as he states it: sort the p-values; reject the i-th smallest (from 1) while it is at most
    alpha / (m - i + 1), and stop at the first that is not."""
    order = np.argsort(p, kind="stable")
    rejected = np.zeros(len(p), bool)
    for i, k in enumerate(order):
        if p[k] > alpha / (len(p) - i):
            break
        rejected[k] = True
    return rejected

