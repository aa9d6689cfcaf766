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
                                  "Random Forest classification and content prediction (e.g. tcp://10.0.0.5:8786; "
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
