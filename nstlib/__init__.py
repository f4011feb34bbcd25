"""nstlib: neural style transfer (Gatys, Ecker & Bethge) and DeepDream for teaching.

    >>> import nstlib as nst
    >>> content = nst.load_image("images/chelsea.jpg", size=64)
    >>> style = nst.load_image("images/style_waves.jpg", size=64)
    >>> result = nst.stylize(content, style, steps=5, progress=False)
    >>> result.image.shape, result.steps_done
    (torch.Size([1, 3, 43, 64]), 5)
    >>> fig = nst.show_images([content, style, result.image], titles=["content", "style", "result"])

(A real run: ``size=256`` and the default ``steps``.) The package, lowest layer first, each importing only from
the layers below it (``tests/test_layering.py`` checks it):

* ``errors``, ``device``, ``images`` — the error hierarchy, where tensors live, loading and saving pictures.
* :mod:`nstlib.weights` — where a network's numbers come from: the sources table, loaders, the cache.
* :mod:`nstlib.net` — VGG's layer table and the feature extractors (VGG, Inception).
* :mod:`nstlib.loss` — content, style and TV losses, style statistics, the objective.
* :mod:`nstlib.optim` — the one optimisation loop, the stage schedule, memory estimates.
* :mod:`nstlib.algorithms` — style transfer, reconstruction, texture, DeepDream, feed-forward networks, colour.
* :mod:`nstlib.course` — lesson set-up, plots, live views, widgets, the exercise checkers, the gallery.
* :mod:`nstlib.bench` and :mod:`nstlib.cli` — ``python -m nstlib.bench`` and the ``nstlib`` command.
"""

from nstlib.algorithms.colour import (
    colour_stats,
    combine_luminance,
    luminance,
    match_colour,
    match_luminance,
    rgb_to_ycbcr,
    rgb_to_yiq,
    stylize_luminance,
    ycbcr_to_rgb,
    yiq_to_rgb,
)
from nstlib.algorithms.dream import DreamResult, deepdream
from nstlib.algorithms.flow import Clip, camera_move, occlusion_mask, optical_flow, warp
from nstlib.algorithms.pretrained import pretrained_transfer_net, pretrained_transfer_nets
from nstlib.algorithms.reconstruct import reconstruct
from nstlib.algorithms.texnet import (
    JOHNSON_CONTENT_LAYER,
    JOHNSON_STYLE_LAYERS,
    TransferNet,
    TransferNetResult,
    load_transfer_net,
    save_transfer_net,
    train_transfer_net,
)
from nstlib.algorithms.texture import synthesize_texture
from nstlib.algorithms.transfer import stylize
from nstlib.algorithms.transforms import adain, wct
from nstlib.algorithms.video import VideoResult, flicker, save_video, stylize_video, temporal_loss
from nstlib.course import check
from nstlib.course.claims import claim
from nstlib.course.lesson import lesson_setup
from nstlib.course.live import LiveView, Trace, load_trace, save_trace
from nstlib.course.plotting import plot_losses, show_feature_maps, show_images
from nstlib.device import available_memory, get_device
from nstlib.errors import (
    ClaimError,
    DeviceError,
    ImageError,
    ImageTooSmallError,
    InputError,
    NSTError,
    OutputError,
    ResourceError,
    WeightsError,
)
from nstlib.images import check_image, load_image, resize_image, save_image, to_pil
from nstlib.loss.functional import content_loss, gram_matrix, style_loss, tv_loss
from nstlib.loss.stats import STYLE_STATS, StyleTerms, gaussian_w2, masked_gram_matrix, mean_covariance
from nstlib.net.layers import layer_index, layer_names, receptive_field
from nstlib.net.vgg import GATYS_CONTENT_LAYER, GATYS_STYLE_LAYERS, IMAGENET_MEAN, IMAGENET_STD, VGGFeatures
from nstlib.optim.loop import Progress, TransferResult, cap_step
from nstlib.optim.memory import MemoryEstimate, estimate_memory, largest_size
from nstlib.version import __version__
from nstlib.weights import fetch_weights, weights_available, weights_path

__all__ = [
    "__version__",
    # devices and images
    "get_device",
    "load_image",
    "save_image",
    "check_image",
    "resize_image",
    "to_pil",
    # the network
    "VGGFeatures",
    "layer_names",
    "layer_index",
    "receptive_field",
    "GATYS_STYLE_LAYERS",
    "GATYS_CONTENT_LAYER",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "fetch_weights",
    "weights_available",
    "weights_path",
    # losses
    "gram_matrix",
    "content_loss",
    "style_loss",
    "tv_loss",
    # optimisation
    "stylize",
    "reconstruct",
    "TransferResult",
    "Progress",
    "cap_step",
    # memory: what a run needs, and the largest image that fits
    "estimate_memory",
    "largest_size",
    "available_memory",
    "MemoryEstimate",
    # DeepDream
    "deepdream",
    "DreamResult",
    # beyond Gatys 2016: colour, style statistics, several styles and masks (lessons 08-10)
    "rgb_to_yiq",
    "yiq_to_rgb",
    "rgb_to_ycbcr",
    "ycbcr_to_rgb",
    "luminance",
    "combine_luminance",
    "match_luminance",
    "colour_stats",
    "match_colour",
    "stylize_luminance",
    "STYLE_STATS",
    "StyleTerms",
    "mean_covariance",
    "masked_gram_matrix",
    "gaussian_w2",
    "synthesize_texture",
    "TransferNet",
    "TransferNetResult",
    "train_transfer_net",
    "save_transfer_net",
    "load_transfer_net",
    "pretrained_transfer_net",
    "pretrained_transfer_nets",
    "JOHNSON_CONTENT_LAYER",
    "JOHNSON_STYLE_LAYERS",
    # feature transforms (lesson 10)
    "adain",
    "wct",
    # video (Ruder et al. 2016, lesson 11)
    "stylize_video",
    "VideoResult",
    "temporal_loss",
    "flicker",
    "save_video",
    "optical_flow",
    "warp",
    "occlusion_mask",
    "camera_move",
    "Clip",
    # pictures and lessons
    "show_images",
    "show_feature_maps",
    "plot_losses",
    "lesson_setup",
    "check",
    "claim",
    # watching and recording runs (interactive explorers: `from nstlib.course import widgets`)
    "LiveView",
    "Trace",
    "save_trace",
    "load_trace",
    # errors
    "NSTError",
    "InputError",
    "ImageError",
    "ImageTooSmallError",
    "WeightsError",
    "OutputError",
    "DeviceError",
    "ResourceError",
    "ClaimError",
]
