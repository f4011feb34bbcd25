"""Optimising pixels (layer 6): the one loop every algorithm runs, and how a run is planned.

* :mod:`nstlib.optim.loop` — :func:`~nstlib.optim.loop.optimize_pixels`, the loop with its progress bar, Ctrl-C,
  NaN recovery and best image; :class:`~nstlib.optim.loop.Progress` and :class:`~nstlib.optim.loop.TransferResult`.
* :mod:`nstlib.optim.steps` — what one step does beyond torch's optimisers: DeepDream's normalised step, and the
  cap on L-BFGS's step (:func:`~nstlib.optim.steps.cap_step`: no pixel moves by more than 0.25).
* :mod:`nstlib.optim.memory` — what a run needs in memory, and the largest image that fits.
"""
