"""A feed-forward transfer network trained with the perceptual loss (Johnson, Alahi & Fei-Fei 2016).

KDAG IIT Kharagpur's blog post *How art is generated from Algorithms?* (2022): "Training a style
transfer model requires two networks: a pre-trained feature extractor and a transfer network." Gatys'
method optimises the *pixels* of one image for every picture; Johnson et al. instead train the *weights*
of an image-to-image network f_W once per style, with the same losses computed by a frozen VGG (the
"loss network"):

    W* = argmin_W  E_x [ α L_content(f_W(x), x) + β L_style(f_W(x), s) + γ L_tv(f_W(x)) ],

after which stylising a new photo is one forward pass, y = f_W*(x) — milliseconds instead of minutes,
at the price of one network per style and results a little below per-image optimisation.

The architecture follows Johnson et al. (2016, supplementary Table 1), with two published changes:
instance normalisation instead of batch normalisation (Ulyanov, Vedaldi & Lempitsky 2016), and
nearest-neighbour upsampling followed by a convolution instead of fractionally strided convolutions
(against checkerboard artefacts; Odena, Dumoulin & Olah 2016). ``width`` scales the channel counts
(32/64/128 in the paper) so that quick mode can train a tiny one in seconds.

    >>> net = TransferNet(width=8, n_residual=1)
    >>> tuple(net(torch.rand(1, 3, 43, 64)).shape)
    (1, 3, 43, 64)
"""

from __future__ import annotations

import functools
import operator
import os
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from nstlib.device import get_device
from nstlib.errors import ImageTooSmallError, InputError, OutputError, WeightsError
from nstlib.images import check_image, load_image, resize_image
from nstlib.loss.functional import content_loss, tv_loss
from nstlib.loss.stats import StyleTerms
from nstlib.net.frozen import LowPrecisionFeatures
from nstlib.net.vgg import VGGFeatures
from nstlib.optim.loop import Progress
from nstlib.optim.schedule import native_bf16
from nstlib.weights.sources import weights_key, weights_source

__all__ = [
    "TransferNet",
    "TransferNetResult",
    "train_transfer_net",
    "save_transfer_net",
    "load_transfer_net",
    "JOHNSON_CONTENT_LAYER",
    "JOHNSON_STYLE_LAYERS",
    "ConvLayer",
    "ResidualBlock",
]

# Johnson et al. (2016), §4.1: VGG-16 loss network, content on relu2_2, style on these four layers.
JOHNSON_CONTENT_LAYER = "relu2_2"
JOHNSON_STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")


class ConvLayer(nn.Sequential):
    """Reflection pad → conv → instance norm → ReLU (the last two optional)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, norm: bool = True, relu: bool = True):
        layers: list[nn.Module] = [nn.ReflectionPad2d(kernel // 2), nn.Conv2d(c_in, c_out, kernel, stride)]
        if norm:
            layers.append(nn.InstanceNorm2d(c_out, affine=True))
        if relu:
            layers.append(nn.ReLU())
        super().__init__(*layers)


class ResidualBlock(nn.Module):
    """x + conv-norm-relu-conv-norm(x): two 3×3 convolutions around an identity shortcut (He et al. 2016)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(ConvLayer(channels, channels, 3), ConvLayer(channels, channels, 3, relu=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class TransferNet(nn.Module):
    """Image transformation network f_W: (B, 3, H, W) in [0, 1] → (B, 3, H, W) in [0, 1], any H, W ≥ 8.

    9×9 conv (w) → 3×3 stride-2 conv (2w) → 3×3 stride-2 conv (4w) → ``n_residual`` residual blocks
    → upsample + 3×3 conv (2w) → upsample + 3×3 conv (w) → 9×9 conv (3) → sigmoid. Each upsampling
    goes back to the exact size of the matching downsampling stage, so odd sizes come out unchanged.
    """

    def __init__(self, width: int = 32, n_residual: int = 5) -> None:
        super().__init__()
        if width < 1 or n_residual < 0:
            raise InputError(f"width must be >= 1 and n_residual >= 0, got width={width}, n_residual={n_residual}.")
        self.config = {"width": int(width), "n_residual": int(n_residual)}
        w = width
        self.down1 = ConvLayer(3, w, 9)
        self.down2 = ConvLayer(w, 2 * w, 3, stride=2)
        self.down3 = ConvLayer(2 * w, 4 * w, 3, stride=2)
        self.residual = nn.Sequential(*(ResidualBlock(4 * w) for _ in range(n_residual)))
        self.up1 = ConvLayer(4 * w, 2 * w, 3)
        self.up2 = ConvLayer(2 * w, w, 3)
        self.out = ConvLayer(w, 3, 9, norm=False, relu=False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        image = check_image(image)
        h, w = image.shape[-2:]
        if min(h, w) < 8:
            raise ImageTooSmallError(
                f"TransferNet needs images of at least 8x8 px (two stride-2 stages and 9x9 "
                f"reflection padding), got {h}x{w}."
            )
        x1 = self.down1(image * 2.0 - 1.0)  # (B, w, H, W); inputs centred on 0
        x2 = self.down2(x1)  # (B, 2w, ⌈H/2⌉, ⌈W/2⌉)
        x3 = self.residual(self.down3(x2))  # (B, 4w, ⌈H/4⌉, ⌈W/4⌉)
        y = self.up1(F.interpolate(x3, size=x2.shape[-2:], mode="nearest"))
        y = self.up2(F.interpolate(y, size=x1.shape[-2:], mode="nearest"))
        return torch.sigmoid(self.out(y))


@dataclass
class TransferNetResult:
    """A trained network and how its training went."""

    net: TransferNet
    history: dict[str, list[float]]  # per step: "total", "content", "style", "tv" (batch means)
    seconds: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        last = self.history["total"][-1] if self.history.get("total") else float("nan")
        return (
            f"TransferNetResult(net={self.net.config}, steps={len(self.history.get('total', []))}, "
            f"final_loss={last:.4g}, seconds={self.seconds:.1f})"
        )


def _random_crops(
    images: Sequence[torch.Tensor], size: int, count: int, generator: torch.Generator, augment: bool = False
) -> torch.Tensor:
    """``count`` random size×size crops, each from a randomly chosen image (short side resized to ≥ size).

    ``augment``: each crop takes a random square side between ``size`` and the image's short side, is
    resized to size×size and mirrored with probability ½ — the same photos seen at many scales, so that
    a network trained on a handful of them meets structures of every size.
    """
    crops = []
    for _ in range(count):
        image = images[int(torch.randint(len(images), (1,), generator=generator))]
        h, w = image.shape[-2:]
        if min(h, w) < size:
            image = resize_image(
                image, (max(size, round(h * size / min(h, w))), max(size, round(w * size / min(h, w))))
            )
            h, w = image.shape[-2:]
        side = int(torch.randint(size, min(h, w) + 1, (1,), generator=generator)) if augment else size
        top = int(torch.randint(h - side + 1, (1,), generator=generator))
        left = int(torch.randint(w - side + 1, (1,), generator=generator))
        crop = image[..., top : top + side, left : left + side]
        if augment:
            crop = resize_image(crop, (size, size))
            crop = crop.flip(-1) if bool(torch.rand(1, generator=generator) < 0.5) else crop
        crops.append(crop)
    return torch.cat(crops)


def train_transfer_net(
    style: torch.Tensor | str | os.PathLike,
    images: Sequence[torch.Tensor | str | os.PathLike],
    *,
    size: int = 256,
    steps: int = 2000,
    batch_size: int = 4,
    lr: float = 1e-3,
    width: int = 32,
    n_residual: int = 5,
    arch: str = "vgg16",
    content_layers: Sequence[str] = (JOHNSON_CONTENT_LAYER,),
    style_layers: Sequence[str] | None = None,
    content_weight: float | None = None,
    style_weight: float | None = None,
    tv_weight: float | None = None,
    weights: str | os.PathLike | None = None,
    device: torch.device | str | None = None,
    seed: int = 0,
    augment: bool = True,
    precision: str = "auto",
    net: TransferNet | None = None,
    callback: Callable[[Progress], bool | None] | None = None,
    progress: bool = True,
) -> TransferNetResult:
    """Train a :class:`TransferNet` for one style with the perceptual loss (Johnson et al. 2016).

    Each step draws ``batch_size`` random ``size``×``size`` crops x from ``images`` and takes one Adam
    step on  α Σ_l c_l mean(F_l(f(x)) − F_l(x))² + β Σ_l w_l mean(Ĝ_l(f(x)) − Â_l)² + γ TV(f(x)),
    the losses of :func:`nstlib.stylize` (Gram matrices divided by N·M; w_l = 1/L), with Johnson's
    VGG-16 layers by default. The paper trains 40,000 steps of batch 4 on 80,000 COCO photos at
    256 px (Adam, lr 1e-3); the kit's handful of photos only shows the method, not that generality.
    ``net`` continues training an existing network. The style is used at ``size`` on its long side.
    α, β, γ left at ``None`` take :func:`nstlib.stylize`'s defaults for the weights (``"hed"``: Caffe scale);
    ``style_layers=None`` is Johnson's four layers, shared as the weights source shares β (see stylize).
    ``augment`` draws each crop at a random scale and mirrors half of them (see ``_random_crops``).
    ``precision``: ``"bf16"`` runs both networks in bfloat16 (the loss network as a bf16 copy on a CPU,
    :class:`nstlib.net.frozen.LowPrecisionFeatures`; the transfer network under autocast, its weights and
    Adam's state staying float32), ``"fp32"`` in float32; ``"auto"`` picks bf16 where it is native
    (:func:`nstlib.optim.schedule.native_bf16`), about 3× faster on a CPU with AMX (BENCHMARKS.md).
    """
    defaults = weights_source(weights).defaults
    content_weight, style_weight, tv_weight = defaults.fill(content_weight, style_weight, tv_weight)
    run_device = get_device(device)
    if size < 8 or steps < 0 or batch_size < 1:
        raise InputError(f"need size >= 8, steps >= 0 and batch_size >= 1; got {size}, {steps}, {batch_size}.")
    if precision not in ("auto", "fp32", "bf16"):
        raise InputError(f"precision must be 'auto', 'fp32' or 'bf16', got {precision!r}.")
    bf16 = precision == "bf16" or (precision == "auto" and native_bf16(run_device))
    style_t = load_image(style) if isinstance(style, (str, os.PathLike)) else check_image(style, "style")
    pool = [
        (load_image(i) if isinstance(i, (str, os.PathLike)) else check_image(i, "images")).to(run_device)
        for i in images
    ]
    if not pool:
        raise InputError("images is empty: give at least one training photo (tensor or path).")
    c_w = {n: 1.0 / len(content_layers) for n in content_layers}
    s_w = (
        defaults.style_layer_weights(JOHNSON_STYLE_LAYERS, arch)
        if style_layers is None
        else {n: 1.0 / len(style_layers) for n in style_layers}
    )
    with torch.random.fork_rng(devices=[]):  # seeded initial weights, without touching the global RNG
        torch.manual_seed(seed)
        net = (net or TransferNet(width, n_residual)).to(run_device).train()
        vgg = VGGFeatures(arch, tuple(c_w) + tuple(s_w), weights=weights, device=run_device)
    style_terms = StyleTerms.from_images(vgg, [resize_image(style_t.to(run_device), size)], s_w)
    loss_net = LowPrecisionFeatures(vgg) if bf16 and run_device.type == "cpu" else vgg
    low = torch.autocast(run_device.type, dtype=torch.bfloat16, enabled=bf16)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    history: dict[str, list[float]] = defaultdict(list)
    start = time.perf_counter()
    bar = tqdm(total=steps, desc="train transfer net", disable=not progress, leave=True)
    try:
        for step in range(1, steps + 1):
            x = _random_crops(pool, size, batch_size, generator, augment)
            with low:
                with torch.no_grad():
                    targets = loss_net(x)
                y = net(x).float()
                feats = loss_net(y)
            content = functools.reduce(
                operator.add,
                (
                    content_weight * w * content_loss(feats[n].float(), targets[n].float(), per_image=True)
                    for n, w in c_w.items()
                ),
            ).mean()
            style_l = functools.reduce(operator.add, style_terms(feats, style_weight).values()).mean()
            tv = tv_weight * tv_loss(y, p=1, per_image=True).mean()
            total = content + style_l + tv
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            record = {
                k: float(v.detach())
                for k, v in (("total", total), ("content", content), ("style", style_l), ("tv", tv))
            }
            for k, v in record.items():
                history[k].append(v)
            bar.update(1)
            if step % 10 == 0 or step == steps:
                bar.set_postfix(loss=f"{record['total']:.4g}")
            if callback is not None and callback(
                Progress(step, steps, record["total"], record, y.detach(), time.perf_counter() - start)
            ):
                break
    finally:
        bar.close()
    net.eval()
    settings = dict(
        size=size,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        arch=arch,
        content_layers=c_w,
        style_layers=s_w,
        content_weight=content_weight,
        style_weight=style_weight,
        tv_weight=tv_weight,
        weights=weights_key(weights),
        seed=seed,
        augment=augment,
        precision="bf16" if bf16 else "fp32",
        images=len(pool),
        device=str(run_device),
        **net.config,
    )
    return TransferNetResult(net, dict(history), time.perf_counter() - start, settings)


def save_transfer_net(net: TransferNet, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write the network's configuration and state dict to ``path`` (a ``.pt`` file)."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputError(f"'{path}' already exists; pass overwrite=True or choose another name.")
    if not path.parent.is_dir():
        raise OutputError(f"The folder '{path.parent}' does not exist; create it first.")
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    torch.save({"format": "nstlib.TransferNet/1", "config": dict(net.config), "state_dict": state}, path)
    return path


def load_transfer_net(path: str | os.PathLike, device: torch.device | str | None = None) -> TransferNet:
    """Rebuild a network written by :func:`save_transfer_net` (``weights_only`` loading; in eval mode)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(
            f"No transfer network at '{path}'. Train one with nst.train_transfer_net and save it "
            "with nst.save_transfer_net."
        )
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        config, state = blob["config"], blob["state_dict"]
        net = TransferNet(**config)
        net.load_state_dict(state)
    except Exception as exc:  # unreadable file, another format, or mismatched shapes
        raise WeightsError(
            f"'{path}' is not a transfer network saved by nstlib ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:160]})."
        ) from None
    return net.to(get_device(device)).eval()
