"""dae.inference: a network over many images, in batches, in eval mode, at the run's precision."""

import torch

from dae.inference import autocast, eval_batch_size, evaluating, in_batches


def test_evaluation_batch_size_by_device_unless_configured():
    assert eval_batch_size(None, torch.device("cpu")) == 256 and eval_batch_size(None, torch.device("cuda")) == 1000
    assert eval_batch_size(50, torch.device("cuda")) == 50


def test_batched_inference_takes_the_evaluation_batch_size_by_device():
    sizes = []
    images = torch.arange(600.0).view(600, 1, 1, 1)
    out = in_batches(lambda x: sizes.append(len(x)) or x * 2, images, "cpu")
    assert sizes == [256, 256, 88] and torch.equal(out, images * 2)  # every image once, in order
    sizes.clear()
    in_batches(lambda x: sizes.append(len(x)) or x, images, "cpu", batch_size=500)
    assert sizes == [500, 100]


def test_evaluating_restores_the_mode_and_autocast_follows_the_precision():
    net = torch.nn.Dropout(0.5).train()
    with evaluating(net):
        assert not net.training and not torch.is_grad_enabled()
    assert net.training
    with autocast("bf16-mixed", "cpu"):
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
    with autocast("32-true", "cpu"):
        assert not torch.is_autocast_enabled("cpu")
