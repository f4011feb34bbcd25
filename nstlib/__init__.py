"""nstlib: neural style transfer (Gatys, Ecker & Bethge) and DeepDream for teaching.

    import nstlib as nst
    content = nst.load_image("images/chelsea.jpg", size=256)
    style = nst.load_image("images/style_waves.png", size=256)
    result = nst.stylize(content, style, steps=300)
    nst.show_images([content, style, result.image], titles=["content", "style", "result"])
"""
from nstlib.device import get_device
from nstlib.errors import (DeviceError, ImageError, ImageTooSmallError, InputError, NSTError, OutputError,
                           ResourceError, WeightsError)
from nstlib.features import GATYS_CONTENT_LAYER, GATYS_STYLE_LAYERS, IMAGENET_MEAN, IMAGENET_STD, VGGFeatures
from nstlib.images import check_image, load_image, resize_image, save_image, to_pil
from nstlib.layers import layer_index, layer_names, receptive_field
from nstlib.lesson import lesson_setup
from nstlib.live import LiveView, Trace, load_trace, save_trace
from nstlib.losses import content_loss, gram_matrix, style_loss, tv_loss
from nstlib.optimize import Progress, TransferResult
from nstlib import check
from nstlib.plotting import plot_losses, show_feature_maps, show_images
from nstlib.transfer import reconstruct, stylize
from nstlib.weights import fetch_weights, weights_available, weights_path

__version__ = "0.1.0"

__all__ = [
    "__version__",
    # devices and images
    "get_device", "load_image", "save_image", "check_image", "resize_image", "to_pil",
    # the network
    "VGGFeatures", "layer_names", "layer_index", "receptive_field",
    "GATYS_STYLE_LAYERS", "GATYS_CONTENT_LAYER", "IMAGENET_MEAN", "IMAGENET_STD",
    "fetch_weights", "weights_available", "weights_path",
    # losses
    "gram_matrix", "content_loss", "style_loss", "tv_loss",
    # optimisation
    "stylize", "reconstruct", "TransferResult", "Progress",
    # pictures and lessons
    "show_images", "show_feature_maps", "plot_losses", "lesson_setup", "check",
    # watching and recording runs (interactive explorers: `from nstlib import widgets`)
    "LiveView", "Trace", "save_trace", "load_trace",
    # errors
    "NSTError", "InputError", "ImageError", "ImageTooSmallError", "WeightsError", "OutputError",
    "DeviceError", "ResourceError",
]
