"""The algorithms (layer 7), each a network, an objective and the loop put together.

* :mod:`nstlib.algorithms.transfer` — :func:`~nstlib.algorithms.transfer.stylize`, Gatys et al.'s style transfer.
* :mod:`nstlib.algorithms.dream` — DeepDream (Mordvintsev, Olah & Tyka 2015).
* :mod:`nstlib.algorithms.texnet` — a feed-forward transfer network (Johnson et al. 2016).
* :mod:`nstlib.algorithms.flow` and :mod:`nstlib.algorithms.video` — video with a temporal term (Ruder et al. 2016).
* :mod:`nstlib.algorithms.pretrained` — the transfer networks the kit trained and ships, hash-checked.
* :mod:`nstlib.algorithms.colour` — colour spaces, colour transfer and luminance-only transfer (Gatys et al. 2017).
"""
