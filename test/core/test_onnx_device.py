"""Where onnxruntime runs a model, as tagminerals and predictcontent log it. This machine has no GPU: the
CUDA cases are checked from the providers onnxruntime reports, not on a GPU."""
from prospectra.core.learning.onnx_model import bundled_models, device_note, load_model

CPU, CUDA = "CPUExecutionProvider", "CUDAExecutionProvider"


def test_the_note_names_the_gpu_the_cpu_or_a_cuda_provider_that_did_not_start():
    assert device_note([CUDA, CPU], [CUDA, CPU]) == "onnxruntime runs the model on the GPU (CUDA)."
    failed = device_note([CUDA, CPU], [CPU])
    assert "CUDA provider but it did not start" in failed and failed.endswith("runs on the CPU instead.")
    assert device_note([CPU], [CPU]).startswith("onnxruntime runs the model on the CPU")


def test_the_bundled_tagger_reports_the_provider_its_session_uses():
    model = load_model(bundled_models()["tagger_landsat_oli"])
    on_gpu = model.session().get_providers()[0] == CUDA
    assert ("on the GPU" if on_gpu else "runs the model on the CPU") in model.runs_on()
