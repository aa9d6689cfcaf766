"""Every bundled model's file name starts with its task, which the dialogs' model lists rely on."""
from prospectra.core.learning.onnx_model import TASK_PREFIXES, bundled_models, read_metadata


def test_file_names_state_the_task():
    by_task = {task: bundled_models(task) for task in TASK_PREFIXES}
    assert sorted(n for models in by_task.values() for n in models) == sorted(bundled_models())
    for task, models in by_task.items():
        assert models, f"no bundled {task} model"
        for path in models.values():
            assert read_metadata(path)["task"] == task
