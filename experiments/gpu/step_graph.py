"""How fast could the train step be on a GPU if Adam's update were captured too? Samples per second of the
bare step (one real batch on the device, as ``python -m dae.bench`` times it) three ways:

- ``eager``: forward, loss, backward and Adam launched op by op (``model.cuda_graph=false``);
- ``passes``: forward and backward replayed from CUDA graphs, loss and Adam eager (the default);
- ``whole``: the whole step, Adam included, captured in one CUDA graph, with a capturable Adam whose
  learning rate is a device tensor that the loop updates before each replay, as a schedule would.

    python experiments/gpu/step_graph.py trainer.accelerator=gpu [overrides]

Each is timed as the bench times its modes (``dae.bench.timed``: one untimed run, then 3 timed runs of
200 steps, median). On a CPU only ``eager`` and ``passes`` run (they are the same there).
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import open_dict

import dae  # noqa: F401 - registers the configs' resolvers
from dae.bench import autocast_dtype, bare, device_of, timed
from dae.data.datamodule import to_unit
from dae.train import build_model

CONF = Path(__file__).resolve().parents[2] / "conf"
STEPS, REPEATS = 200, 3


def whole_step(cfg, noisy: torch.Tensor, clean: torch.Tensor, dtype: torch.dtype | None):
    """A replay of the whole train step, captured after three warm-up steps on a side stream."""
    module = build_model(cfg).to(noisy.device).train()
    module.cuda_graph = False  # the whole step is captured here, passes and all
    lr = torch.tensor(float(cfg.model.optimizer.lr), device=noisy.device)
    optimizer = torch.optim.Adam(module.parameters(), lr=lr, capturable=True, foreach=True)
    static_noisy, static_clean = noisy.clone(), clean.clone()

    def step() -> torch.Tensor:
        with torch.autocast("cuda", dtype=dtype or torch.float32, enabled=dtype is not None, cache_enabled=False):
            _, loss = module._step((static_noisy, static_clean, None))
        loss.backward()
        optimizer.step()
        return loss

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            optimizer.zero_grad(set_to_none=True)
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    optimizer.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        step()

    def replay() -> None:
        lr.fill_(float(cfg.model.optimizer.lr))  # what a schedule does each step, on the device
        static_noisy.copy_(noisy)
        static_clean.copy_(clean)
        graph.replay()

    return replay


def main(overrides: list[str]) -> None:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3", job_name="train"):
        cfg = compose("train", overrides=overrides)
    device, dtype = device_of(cfg), autocast_dtype(cfg)
    datamodule = instantiate(cfg.data, noise=instantiate(cfg.noise))
    datamodule.prepare_data()
    datamodule.setup("fit")
    print(f"{torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}, {cfg.trainer.precision}, batch {datamodule.batch_size}")
    for name, graphs in (("eager", False), ("passes", True)):
        with open_dict(cfg):
            cfg.model.cuda_graph = graphs
        print(f"{name:<8}{statistics.median(bare(cfg, datamodule, device, STEPS, REPEATS)):>10.0f} samples/s", flush=True)
    if device.type == "cuda":
        clean = to_unit(datamodule.train_x[: datamodule.batch_size]).to(device)  # the batch bare() steps on
        noisy = datamodule.noise(clean, torch.Generator(device=device).manual_seed(0))
        replay = whole_step(cfg, noisy, clean, dtype)

        def run() -> None:
            for _ in range(STEPS):
                replay()

        print(f"{'whole':<8}{statistics.median(timed(run, STEPS * len(clean), REPEATS, device)):>10.0f} samples/s")

if __name__ == "__main__":
    main(sys.argv[1:])
