"""A frozen VGG run in bfloat16 end to end: the weights cast once, each convolution fused with its ReLU.

Under ``torch.autocast`` every call re-casts every weight of a frozen network (autocast caches the casts of
weights that require gradients only), the features go back to float32 for the losses, and autograd's
convolution backward on a CPU is several times slower in bf16 than the same arithmetic run as a transposed
convolution (BENCHMARKS.md, "bf16 end to end"). :class:`LowPrecisionFeatures` keeps a bf16 copy of the
weights made once and runs each ``conv → ReLU`` pair as one autograd step:

* forward: y = max(0, W ∗ x + b) — on CPUs with oneDNN, the weights are packed once per input size into
  oneDNN's blocked layout and the ReLU is fused into the convolution;
* backward (the network is frozen: only the input's gradient): ∂L/∂x = Wᵀ ⋆ (∂L/∂y · [y > 0]), a transposed
  convolution with the same weights.

The values are those of the network run in bf16 (tested against it and against float32). It returns
the same ``{name: (B, C, H_l, W_l)}`` dictionary as :class:`nstlib.net.vgg.VGGFeatures`, in bf16.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nstlib.net.vgg import VGGFeatures

__all__ = ["LowPrecisionFeatures"]

_CL = torch.channels_last


def _onednn_ops() -> bool:
    """Whether this torch build has the oneDNN convolution ops that take packed weights (CPU only)."""
    ops = torch.ops.mkldnn
    return torch.backends.mkldnn.is_available() and all(
        hasattr(ops, name) for name in ("_convolution_pointwise", "_convolution_transpose_pointwise")
    )


class _Conv:
    """One 3×3 convolution's weights in the run's precision, and their oneDNN packings per input size."""

    def __init__(self, conv: nn.Conv2d, dtype: torch.dtype, pack: bool) -> None:
        self.weight = conv.weight.detach().to(dtype).contiguous(memory_format=_CL)
        self.bias = conv.bias.detach().to(dtype) if conv.bias is not None else None
        self.pack = pack
        self._packed: dict[tuple[int, ...], tuple[torch.Tensor, torch.Tensor]] = {}

    def packed(self, shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The weights packed for a forward on inputs of ``shape`` and for its transposed convolution."""
        if not self.pack:
            return None
        if shape not in self._packed:
            out_shape = [shape[0], self.weight.shape[0], *shape[2:]]
            try:
                forward = torch._C._nn.mkldnn_reorder_conv2d_weight(  # type: ignore[call-arg]
                    self.weight.to_mkldnn(), [1, 1], [1, 1], [1, 1], 1, list(shape)
                )
                backward = torch.ops.mkldnn._reorder_convolution_transpose_weight(
                    self.weight, [1, 1], [0, 0], [1, 1], [1, 1], 1, out_shape
                )
            except (RuntimeError, NotImplementedError):  # a build without these kernels: the plain path
                self.pack = False
                return None
            self._packed = {shape: (forward, backward)}  # only the current size: a stage runs at one size
        return self._packed[shape]


class _ConvReLU(torch.autograd.Function):
    """y = ReLU(conv(x)) with frozen weights; the backward returns the input's gradient only."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, conv: _Conv) -> torch.Tensor:
        packed, y = conv.packed(tuple(x.shape)), None
        if packed is not None:
            try:
                ops = torch.ops.mkldnn
                y = ops._convolution_pointwise(x, packed[0], conv.bias, [1, 1], [1, 1], [1, 1], 1, "relu", [], "")
            except (RuntimeError, NotImplementedError):  # this CPU's oneDNN lacks the kernel: the plain path
                conv.pack, packed = False, None
        if y is None:
            y = F.conv2d(x, conv.weight, conv.bias, padding=1).relu_()
        ctx.save_for_backward(y)
        ctx.conv, ctx.packed = conv, packed
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (y,) = ctx.saved_tensors
        g = torch.ops.aten.threshold_backward(grad.contiguous(memory_format=_CL), y, 0)
        if ctx.packed is not None:
            ops = torch.ops.mkldnn
            dx = ops._convolution_transpose_pointwise(
                g, ctx.packed[1], None, [1, 1], [0, 0], [1, 1], [1, 1], 1, "none", [], ""
            )
        else:
            dx = F.conv_transpose2d(g, ctx.conv.weight, padding=1)
        return dx, None


class LowPrecisionFeatures:
    """``vgg`` run in ``dtype`` (bf16) end to end: weights cast once, conv and ReLU fused, no autocast.

    Call it like the network: ``features(image)`` → ``{name: (B, C, H_l, W_l)}`` in ``dtype``; the image's
    gradient flows back in float32. A tapped convolution output (``conv4_2``) runs unfused, so that its value
    is the convolution's.
    """

    def __init__(self, vgg: VGGFeatures, dtype: torch.dtype = torch.bfloat16) -> None:
        self.vgg, self.dtype = vgg, dtype
        pack = vgg.device.type == "cpu" and _onednn_ops()
        taps = vgg.taps
        modules = list(vgg.features)
        self._plan: list[tuple[str, object, list[str]]] = []
        i = 0
        while i < len(modules):
            module = modules[i]
            if isinstance(module, nn.Conv2d):
                conv = _Conv(module, dtype, pack)
                fused = i + 1 < len(modules) and isinstance(modules[i + 1], nn.ReLU) and i not in taps
                if fused:
                    self._plan.append(("conv_relu", conv, taps.get(i + 1, [])))
                    i += 2
                    continue
                self._plan.append(("conv", conv, taps.get(i, [])))
            else:
                self._plan.append(("module", module, taps.get(i, [])))
            i += 1

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.vgg.prepare(image).to(self.dtype).contiguous(memory_format=_CL)
        out: dict[str, torch.Tensor] = {}
        for kind, step, names in self._plan:
            if kind == "conv_relu":
                x = _ConvReLU.apply(x, step)
            elif kind == "conv":
                x = F.conv2d(x, step.weight, step.bias, padding=1)  # type: ignore[attr-defined]
            else:
                x = step(x)  # type: ignore[operator]
            for name in names:
                out[name] = x
        return {name: out[name] for name in self.vgg.layers}
