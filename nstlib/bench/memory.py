"""Memory: what a stylize call adds to the process's peak resident memory on a CPU, measured (Linux), to hold
against :func:`nstlib.optim.memory.estimate_memory`'s estimate."""

from __future__ import annotations

import os
import subprocess
import sys

from nstlib.course.files import imported_from

__all__ = ["measured_peak_cpu"]

_RSS_PROBE = r"""
import sys, torch, nstlib as nst
from nstlib.weights.sources import load_vgg_state_dict, weights_source
def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key + ":"))
size, steps = int(sys.argv[1]), int(sys.argv[2])
c = torch.rand(1, 3, size, size); s = torch.rand(1, 3, size, size)
load_vgg_state_dict("vgg19", "random")  # the cached state dict is not part of a run
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak (VmHWM) to the current RSS: creating the weights above peaked higher
before = status("VmRSS")
nst.stylize(c, s, steps=steps, weights="random", device="cpu", progress=False, check_memory=False)
print(status("VmHWM") - before)
"""


def measured_peak_cpu(size: int, steps: int) -> int:
    """Peak resident memory a stylize call adds (Linux): in a fresh process, the peak RSS during the
    call (VmHWM, reset just before it through /proc/self/clear_refs) minus the RSS just before it
    (imports and the cached weights already loaded)."""
    here = imported_from()  # the probe imports this same nstlib, installed or not
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(here) if here else None, os.environ.get("PYTHONPATH")])),
    }
    out = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, str(size), str(steps)], capture_output=True, text=True, env=env, check=True
    ).stdout.split()
    return int(out[-1])
