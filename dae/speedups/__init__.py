"""Speed-ups beside the core, each measured against the plain path (experiments/speed):

- :mod:`dae.speedups.cuda_graphs`: training steps replayed from CUDA graphs on one GPU (opt-in: ``trainer=gpu``);
- :mod:`dae.speedups.allocator`: glibc malloc thresholds that keep freed buffers for the next CPU step (applied by
  the commands that train: ``dae.train``, ``dae.classifier``, ``dae.bench``).
"""
