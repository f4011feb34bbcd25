"""The networks: VGG's layer table, input conventions, and the frozen feature extractors.

* :mod:`nstlib.net.layers` (layer 1) — VGG's layers by their paper names (``conv4_2``, ``relu4_2``, ``pool4``)
  and their positions in torchvision's ``features``.
* :mod:`nstlib.net.conventions` (layer 1) — how an RGB image in [0, 1] becomes a network's input
  (ImageNet's mean and std, or Caffe's BGR, 0–255, minus the mean).
* :mod:`nstlib.net.vgg` (layer 4) — :class:`~nstlib.net.vgg.VGGFeatures`, a frozen VGG that returns named activations.
* :mod:`nstlib.net.inception` (layer 4) — Inception v3 and GoogLeNet for DeepDream.

The two low modules sit below :mod:`nstlib.weights`, the two extractors above it (they load weights
through it), so this file imports nothing: importing ``nstlib.net.layers`` never pulls in the rest.
"""
