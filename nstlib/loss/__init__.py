"""The losses, as plain functions of feature maps (layer 5: they see the network's outputs, never the loop).

* :mod:`nstlib.loss.functional` — content loss, Gram matrix, style loss, total variation (Gatys et al. 2016).
* :mod:`nstlib.loss.stats` — other style statistics (mean and covariance, Gaussian W2, masked Gram matrices) and
  :class:`~nstlib.loss.stats.StyleTerms`, several styles' targets blended and masked.

Every loss returns a scalar, or one value per image with ``per_image=True``; the objective that stylize
optimises adds them up as named terms, ``"content:relu4_2"``, ``"style:relu1_1"``, ``"tv"``.
"""
