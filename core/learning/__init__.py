"""Models: one ONNX stack, Random Forest, training samples, patch tagging, the band-matrix CNN."""
