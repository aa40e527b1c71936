"""Where the host's time goes in the project's training path: ``Trainer.fit`` as ``dae.train`` builds it,
for two epochs, under cProfile, after one untimed epoch (warm-up, graph capture).

    python experiments/speed/profile_fit.py trainer=gpu [overrides]     # the GPU path: graphed steps
    python experiments/speed/profile_fit.py trainer.accelerator=cpu [overrides]

Prints the seconds per step of the profiled epochs and the functions with the most time of their own
(``tottime``) and in total (``cumtime``), Python and C calls alike. On a GPU, time inside a CUDA call is
launch time; a wait for the device shows as the call that waits (``item``, ``synchronize``, a copy).
"""

from __future__ import annotations

import cProfile
import io
import pstats
import sys
import time
from pathlib import Path

from train_config import warmed_up


def main(overrides: list[str] | None = None) -> None:
    overrides = sys.argv[1:] if overrides is None else overrides
    datamodule, model, trainer = warmed_up(overrides, prefix="profile_fit_")
    steps = trainer.num_training_batches * 2
    profiler = cProfile.Profile()
    trainer.fit_loop.max_epochs = 3
    start = time.perf_counter()
    profiler.enable()
    trainer.fit(model, datamodule=datamodule)
    profiler.disable()
    seconds = time.perf_counter() - start
    print(f"{steps} steps in {seconds:.2f} s: {seconds / steps * 1e3:.2f} ms per step, validation and epoch ends included")
    for key in ("tottime", "cumulative"):
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats(key).print_stats(35)
        print(text.getvalue().replace(str(Path(sys.prefix)), "<env>"))


if __name__ == "__main__":
    main()
