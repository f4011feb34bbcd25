"""Model answers for lesson 10 (the feed-forward transfer network): for instructors.

Each top-level name is the exercise of the same name in ``nst.check``; ``nst.check.NAME.solution()`` shows it.
"""
from __future__ import annotations

import math

import torch


# Two halves, each a 3×3 convolution C → C (9·C·C weights + C biases) and an instance norm with γ and β (2C).
def residual_params(C: int) -> int:
    return 2 * (9 * C * C + C + 2 * C)  # = 18C² + 6C


def cond_instance_norm(x: torch.Tensor, style: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor,
                       eps: float = 1e-5) -> torch.Tensor:
    """γ[style_b, c] · (x − μ_bc)/√(σ²_bc + ε) + β[style_b, c]; statistics per image and channel over H, W."""
    mean = x.mean(dim=(2, 3), keepdim=True)
    var = x.var(dim=(2, 3), keepdim=True, unbiased=False)
    xhat = (x - mean) / torch.sqrt(var + eps)
    return gamma[style][:, :, None, None] * xhat + beta[style][:, :, None, None]  # (B, C) rows → (B, C, 1, 1)


# On section 8's relu4_1 features, adain(f_c, f_s) gives every channel the style's mean exactly and its standard
# deviation too — except channels that are dead (all zero) on the photo, which no scaling can bring to life — but the
# correlations between channels stay the photo's: the covariance is still far from the style's (lesson 9's W₂² falls
# only from about 69 000 to 26 000 with HED's VGG-16, where WCT reaches about 0.07). That is what WCT adds.
def adain(content: torch.Tensor, style: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """σ_s · (c − μ_c)/σ_c + μ_s: the content's features with the style's per-channel mean and std (any H′ × W′)."""
    def mean_std(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return t.mean(dim=(2, 3), keepdim=True), torch.sqrt(t.var(dim=(2, 3), keepdim=True, unbiased=False) + eps)

    mu_c, sd_c = mean_std(content)
    mu_s, sd_s = mean_std(style)
    return sd_s * (content - mu_c) / sd_c + mu_s


# The first layer sees u = 2x − 1 and computes z = W∗u + b; instance norm then removes, per channel, a constant and
# a positive factor. 0.5·x + 0.25 gives z' = 0.5·(W∗u) + (constant per channel) → the same IN output (up to ε).
# 1 − x gives z' = −(W∗u) + constant → IN(z') = −IN(z): the sign survives, and γ, β, ReLU are not odd → different.
# A tint scales R, G, B by different factors, which no single factor per feature channel can undo → different.
# Convolution commutes with shifts but not with mirroring (the kernels are not symmetric) → different.
network_invariances = {"lower contrast": "same", "inverted": "different", "tinted": "different",
                       "mirrored": "different"}


# The experiment (in the notebook, after section 6), measured fairly:
#   * the network: eval mode, torch.no_grad(), one warm-up call not timed, torch.cuda.synchronize() on a GPU before
#     reading the clock, the mean of several calls, on the same photo, size and device as the optimisation;
#   * the optimisation: record every step's loss and elapsed time with a callback (Progress.loss, Progress.elapsed),
#     with the same loss network, layers, weights and style scale that trained the network (SAME_LOSS);
#   * quality: score the network's output with that same objective (section 6's `objective`), and compare times at
#     equal quality — the first step at which the optimisation is at least as good — not after an arbitrary count;
#   * cost: the network also costs its training time, so the answer is a number of photos, not only a speed-up.
#
#     with torch.no_grad():
#         net(unseen)                                      # warm-up
#         start = time.perf_counter()
#         for _ in range(10):
#             fast = net(unseen)
#         net_seconds = (time.perf_counter() - start) / 10
#     net_loss = sum(objective(fast, unseen).values())
#     seen = []
#     nst.stylize(unseen, style, weights=setup.weights, device=device, steps=setup.steps, progress=False,
#                 style_scale=TRAIN["size"] / setup.size, callback=lambda p: seen.append((p.elapsed, p.loss)),
#                 **SAME_LOSS)
#     opt_times, opt_losses = zip(*seen)
#     print(pays_off(net_seconds, net_loss, list(opt_times), list(opt_losses), trained.seconds))
#
# With the paper's settings Johnson et al. find the network's loss near that of 50–100 L-BFGS steps: a few seconds
# on a GPU against milliseconds, so training (hours) pays off after some thousands of photos — or at once for video.
# With the kit's short training the optimisation often beats the network within its first steps.
def pays_off(net_seconds: float, net_loss: float, opt_times: list[float], opt_losses: list[float],
             train_seconds: float) -> dict:
    """When optimisation reaches the network's quality, and after how many photos training has paid for itself."""
    steps = next((k + 1 for k, loss in enumerate(opt_losses) if loss <= net_loss), None)  # 1-based
    if steps is None:  # the run never got as good as the network: run it longer before drawing a conclusion
        return {"steps": None, "opt_seconds": math.inf, "speedup": math.inf, "break_even": None}
    opt_seconds = opt_times[steps - 1]
    saved = opt_seconds - net_seconds  # what each photo through the network saves
    break_even = math.inf if saved <= 0 else max(1, math.ceil(train_seconds / saved))
    return {"steps": steps, "opt_seconds": opt_seconds, "speedup": opt_seconds / net_seconds,
            "break_even": break_even}
