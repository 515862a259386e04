"""The float type a frozen network's forward passes run in: fp32, or bf16 where the hardware has units for it.

Only forward passes that no gradient goes through may drop to bf16 (DiffDefense's frozen U-Net in the
"code" variant, DiffPure's reverse chain when nothing differentiates it): the "paper" variant and the
full-gradient attacks differentiate through the U-Net and stay fp32. "auto" picks bf16 where the hardware
has bf16 units: a CUDA device with bf16 support, or a CPU whose flags list `avx512_bf16` or `amx_bf16`
(on a 2-core AMD EPYC with avx512_bf16 and no AMX the engine ran 1.62x faster in bf16; docs/performance.md).
A CPU with neither emulates bf16, so "auto" stays fp32 there and an explicit "bf16" says so on stderr.
"""

from __future__ import annotations

import contextlib
import copy
import sys
from functools import cache
from pathlib import Path

import torch

from .errors import check_one_of

PRECISIONS = ("auto", "fp32", "bf16")
# Where gradients are taken (training, attacks), bf16 is an explicit choice until paired runs show it holds
# (benchmarks/bf16_training.py): the weights, optimiser and gradients stay fp32, the forward runs under autocast.
GRADIENT_PRECISIONS = ("fp32", "bf16")


def autocast(device: torch.device, precision: str):
    """The context a forward pass of `precision` ("fp32" or "bf16") runs in: bf16 autocast, or nothing."""
    if precision == "bf16":
        return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


class Autocast(torch.nn.Module):
    """`module`'s forward under bf16 autocast, its output in fp32: a model an attack differentiates through
    in bf16 (its state, modes and gradients are the module's own)."""

    def __init__(self, module: torch.nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The module's output on `x`, computed under bf16 autocast, as fp32."""
        with torch.autocast(x.device.type, dtype=torch.bfloat16):
            return self.module(x).float()


@cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none: not Linux)."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return frozenset()
    for line in cpuinfo.read_text().splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def has_bf16_units(device: torch.device) -> bool:
    """Whether `device` has bf16 units: a CUDA device with bf16 support, or a CPU with AVX512-BF16 or AMX."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def resolve_precision(name: str, requested: str, device: torch.device) -> torch.dtype:
    """torch.float32 or torch.bfloat16 for the param `name` ("auto", "fp32" or "bf16") on `device`."""
    check_one_of(name, requested, PRECISIONS)
    if requested == "auto":
        return torch.bfloat16 if has_bf16_units(device) else torch.float32
    if requested == "bf16" and not has_bf16_units(device):
        print(f"warning: {name}=bf16 on a {device.type} without bf16 units (no avx512_bf16 or amx_bf16): "
              "emulated, correct but slower than fp32 (auto picks fp32 here)", file=sys.stderr)
    return torch.bfloat16 if requested == "bf16" else torch.float32


class FullPrecision(torch.nn.Module):
    """`layer` run in fp32 inside an autocast region."""

    def __init__(self, layer: torch.nn.Module):
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The layer applied to `x` in fp32, whatever autocast region it is called in."""
        with torch.autocast(x.device.type, enabled=False):
            return self.layer(x.float())


# Layers that stay fp32 under bf16: the U-Net's 1x1 input conv, whose output is nearly constant (on MNIST
# at T* 15: std ~1e-3 around ~0.6). bf16's 8-bit mantissa rounds it by more than it varies and the
# LayerNorm after it amplifies that, leaving the predicted noise as far from fp32's as it is large; in fp32
# (a 1-channel 1x1 conv, nothing to save) the difference drops below 1 %.
FP32_LAYERS = ("pad_in",)


class FrozenForward:
    """`network`'s forward pass with no gradient, in `dtype`, returning fp32. In bf16 it runs under
    autocast (which keeps normalisations in fp32) a copy of the network whose FP32_LAYERS stay fp32."""

    def __init__(self, network: torch.nn.Module, dtype: torch.dtype):
        self.network, self.dtype = network, dtype
        if dtype != torch.float32:
            self.network = copy.deepcopy(network)
            for name in FP32_LAYERS:
                if hasattr(self.network, name):
                    setattr(self.network, name, FullPrecision(getattr(self.network, name)))

    def __call__(self, x: torch.Tensor, *rest) -> torch.Tensor:
        with torch.inference_mode(), torch.autocast(x.device.type, dtype=torch.bfloat16,
                                                    enabled=self.dtype == torch.bfloat16):
            return self.network(x, *rest).float()
