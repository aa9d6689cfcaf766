"""The provider's Dask scheduler setting (Settings > Options > Processing > Providers > Prospectra): when it holds
an address, the heavy algorithms send their tiles to that cluster through core/cluster.py. Processing's own
settings are imported when used: the provider also loads where Processing is not on the path (plain Python)."""
from ..core.errors import MissingPackage, require

SCHEDULER = "PROSPECTRA_DASK_SCHEDULER"


def _config():
    """Processing's settings, or None where Processing's Python plugin is not loaded (a plain script that
    registers the provider): then there is no setting and every run stays on this machine."""
    try:
        from processing.core.ProcessingConfig import ProcessingConfig, Setting
    except ImportError:
        return None, None
    return ProcessingConfig, Setting


def add_setting(provider_name):
    ProcessingConfig, Setting = _config()  # noqa: N806 (Processing's class names)
    if ProcessingConfig is None:
        return
    ProcessingConfig.addSetting(Setting(
        provider_name, SCHEDULER, "Dask scheduler address for band ratio, band composite, Spectral Angle Mapper, "
                                  "Random Forest classification, mineral tagging and content prediction (e.g. tcp://10.0.0.5:8786; "
                                  "empty: run on this machine)", ""))
    ProcessingConfig.readSettings()


def remove_setting():
    ProcessingConfig, _ = _config()  # noqa: N806
    if ProcessingConfig is not None:
        ProcessingConfig.removeSetting(SCHEDULER)


def scheduler(feedback):
    """The scheduler address set, or None: none set, or dask and distributed missing (the log then says how to
    install them, and the algorithm runs on this machine)."""
    ProcessingConfig, _ = _config()  # noqa: N806
    address = (ProcessingConfig.getSetting(SCHEDULER) or "").strip() if ProcessingConfig else ""
    if not address:
        return None
    try:
        require(f"Running on the Dask cluster at {address} (the Prospectra provider setting)", "dask", "distributed")
    except MissingPackage as e:
        feedback.reportError(f"{e}\nRunning on this machine instead.", False)
        return None
    return address


def run_on_cluster(kind, image, files, feedback, **options):
    """kind run tile by tile on the provider's scheduler (core.cluster.run_into_files), writing files ({output:
    path}; outputs without a path are not written), and its summary; None when no scheduler is set (or dask is
    missing): then the caller runs the engine here."""
    address = scheduler(feedback)
    if not address:
        return None
    from ..core.cluster import run_into_files

    return run_into_files(kind, image, {k: v for k, v in files.items() if v}, address, feedback, **options)
