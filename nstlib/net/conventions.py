"""How an RGB image in [0, 1] becomes a network's input: channel order, scale, mean and std.

    >>> IMAGENET_CONVENTION.channels, CAFFE_CONVENTION.channels, CAFFE_CONVENTION.scale
    ('RGB', 'BGR', 255.0)

Each network was trained on images prepared one way; feeding it images prepared another way gives
activations on the wrong scale (and, for the wrong channel order, the wrong colours). The table of
weights sources (:data:`nstlib.weights.sources.SOURCES`) names the convention of each source, and
:class:`~nstlib.net.vgg.VGGFeatures` applies it inside, so you never normalise by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["InputConvention", "IMAGENET_CONVENTION", "CAFFE_CONVENTION"]


@dataclass(frozen=True)
class InputConvention:
    """How an RGB image in [0, 1] becomes the network's input: x' = (x[channels] · scale − mean) / std.

    ``mean`` and ``std`` are in the network's channel order and units.
    """

    channels: str  # "RGB" or "BGR": the order the first convolution's input channels were trained in
    scale: float  # 1.0 (torchvision: [0, 1]) or 255.0 (Caffe: 0-255)
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def apply(
        self, image: torch.Tensor, mean: torch.Tensor | None = None, std: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Pre-process (B, 3, H, W) RGB images in [0, 1] into network input.

        ``mean`` and ``std`` may be given as (1, 3, 1, 1) tensors already on the image's device (what
        :class:`~nstlib.net.vgg.VGGFeatures` keeps as buffers); by default they are made from the fields.
        """
        x = image.flip(1) if self.channels == "BGR" else image
        if self.scale != 1.0:
            x = x * self.scale
        mean = self._column(self.mean, x) if mean is None else mean
        std = self._column(self.std, x) if std is None else std
        return (x - mean) / std

    def undo(self, x: torch.Tensor) -> torch.Tensor:
        """De-process: network input back to RGB in [0, 1].

        M. M. I. Bhuiyan, *Generate Artistic Image Using Deep Learning* (B.Sc. thesis, KUET, 2019): "we also need
        to de-process the resulting image, switching from a BGR to an RGB format".
        """
        image = (x * self._column(self.std, x) + self._column(self.mean, x)) / self.scale
        return image.flip(1) if self.channels == "BGR" else image

    @staticmethod
    def _column(values: tuple[float, float, float], like: torch.Tensor) -> torch.Tensor:
        return torch.tensor(values, dtype=like.dtype, device=like.device).view(1, 3, 1, 1)


# torchvision's ImageNet statistics (VGG19_Weights.IMAGENET1K_V1.transforms()).
IMAGENET_CONVENTION = InputConvention("RGB", 1.0, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
# Caffe's VGG (Simonyan & Zisserman's release): BGR, 0-255, minus the ImageNet mean per channel, no std.
# HED's own code subtracts BSDS's mean (104.01, 116.67, 122.68), within 1 of these in every channel.
CAFFE_CONVENTION = InputConvention("BGR", 255.0, (103.939, 116.779, 123.68), (1.0, 1.0, 1.0))
