"""Tools around the codec that are not the codec: ``compare`` (the sizes of a model's tensors in
other formats), ``verify`` (the outputs of two ONNX models), ``prune`` and ``prunable`` (setting
weights to zero), ``train`` (pruning while training, with PyTorch). Each is imported on its own:
none of them is imported by ``import nncodec``."""
