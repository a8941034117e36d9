"""Device handling that a GPU or a Mac needs, checked here with the device layer faked."""

from __future__ import annotations

import contextlib

import pytest
import torch

from scalinglab import device as device_module
from scalinglab.device import autocast, bf16_is_native, device_type, synchronize


@pytest.mark.parametrize(("name", "kind"), [("cpu", "cpu"), ("cuda", "cuda"), ("cuda:0", "cuda"), ("cuda:3", "cuda"), ("mps", "mps")])
def test_device_type_drops_the_index(name, kind):
    assert device_type(name) == kind and device_type(torch.device(name)) == kind


def test_synchronize_waits_on_an_indexed_cuda_device(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append(device))
    synchronize("cuda:0")
    synchronize("cuda")
    synchronize("cpu")
    assert calls == ["cuda:0", "cuda"]


def test_disabled_autocast_builds_no_autocast_at_all(monkeypatch):
    def refuse(**kwargs):
        raise RuntimeError(f"torch < 2.5 rejects device_type={kwargs['device_type']!r}")

    monkeypatch.setattr(torch, "autocast", refuse)
    for name in ("mps", "cuda:0", "cpu"):
        assert isinstance(autocast(name, False), contextlib.nullcontext)
    with pytest.raises(RuntimeError, match="mps"):
        autocast("mps", True)


def test_enabled_autocast_takes_the_device_type():
    context = autocast("cpu", True)
    assert isinstance(context, torch.autocast) and context.device == "cpu" and context.fast_dtype == torch.bfloat16


def test_bf16_is_native_from_compute_capability_8(monkeypatch):
    for capability, native in (((7, 0), False), ((7, 5), False), ((8, 0), True), ((8, 6), True), ((9, 0), True)):
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None, c=capability: c)
        assert bf16_is_native("cuda:0") is native
    assert not bf16_is_native("mps")


def test_bf16_is_native_on_a_cpu_with_amx_or_avx512_bf16(monkeypatch):
    for flags, native in (({"avx2", "fma"}, False), ({"avx512f"}, False), ({"amx_bf16"}, True), ({"avx512_bf16"}, True)):
        monkeypatch.setattr("scalinglab.device.cpu_flags", lambda f=frozenset(flags): f)
        assert bf16_is_native("cpu") is native


def test_the_evaluation_on_a_device_without_float64_accumulates_on_the_cpu(monkeypatch):
    """MPS has no float64: the per-position sum must be made on the CPU. Here a tensor type
    that refuses .double() stands in for the device's losses."""
    from scalinglab import inference
    from scalinglab.model import GPT, GPTConfig

    model = GPT(GPTConfig(n_layer=1, n_head=2, d_model=16, n_ctx=8))
    original = model.forward

    class NoFloat64(torch.Tensor):
        """A tensor "on a device without float64": .double() refuses until it is moved to the CPU."""

        def double(self):
            raise TypeError("Cannot convert a MPS Tensor to float64 dtype as the MPS framework doesn't support float64")

        def cpu(self):
            return self.as_subclass(torch.Tensor)

    def forward(x, y=None, reduction="mean"):
        logits, loss = original(x, y, reduction=reduction)
        return logits, loss.as_subclass(NoFloat64)

    monkeypatch.setattr(model, "forward", forward)
    tokens = torch.arange(64) % 7
    per_position = inference.evaluate_per_position(model, tokens, torch.tensor([0, 10, 20]), 8, 2, "cpu")
    assert per_position.shape == (8,)
    assert device_module.DEVICES == ("auto", "cpu", "cuda", "mps")
