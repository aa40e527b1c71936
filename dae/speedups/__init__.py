"""Speed-ups beside the core, each opt-in and measured against the plain path (experiments/speed):

- :mod:`dae.speedups.cuda_graphs`: training steps replayed from CUDA graphs on one GPU (``trainer=gpu``);
- :mod:`dae.speedups.allocator`: glibc malloc thresholds that keep freed buffers for the next CPU step.
"""
