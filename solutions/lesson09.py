"""Model answers for lesson 09 (style statistics): for instructors, shown by ``nst.check.NAME.solution()``."""
from __future__ import annotations

import torch

import nstlib as nst


# Exercise 1. An all-zero map is N(0, 0): with μ₁ = 0 and Σ₁ = 0 the cross term tr (Σ₂^{1/2} 0 Σ₂^{1/2})^{1/2} is 0,
# and W₂² = ‖μ‖² + tr Σ. Since N Ĝ = Σ + μμᵀ, this is also N · tr Ĝ.
def w2_to_zero(mu: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    return mu.square().sum() + torch.trace(cov)


# Exercise 2. Reflect every feature vector through the mean: x ↦ 2μ − x, i.e. Q = −I. The mean stays μ and
# Q Σ Qᵀ = Σ, so Gram, mean_cov and W₂ all call the two maps identical. Yet the vectors differ (a skewed cloud is
# now skewed the other way), and many are negative — impossible for ReLU features, which the Gaussian model ignores.
# (Any μ + Σ^{1/2} Q Σ^{-1/2} (x − μ) with Q orthogonal works too.)
def same_gaussian(f: torch.Tensor) -> torch.Tensor:
    mu = f.mean(dim=1, keepdim=True)
    return 2 * mu - f


# Exercise 3. The optimal map is the gradient of a convex function (Brenier), so A is symmetric positive definite and
# must satisfy A Σ₁ A = Σ₂. With C = Σ₁^{1/2} A Σ₁^{1/2}: C² = Σ₁^{1/2} Σ₂ Σ₁^{1/2}, so C is its symmetric root and
# A = Σ₁^{-1/2} (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2} Σ₁^{-1/2}. Its cost E‖Ax + b − x‖² = ‖μ₂ − μ₁‖² + tr((A − I) Σ₁ (A − I))
# equals W₂²; lesson 8's Cholesky and symmetric-root maps reach Σ₂ too, at a higher cost.
def w2_map(mu1: torch.Tensor, cov1: torch.Tensor, mu2: torch.Tensor,
           cov2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    def power(s: torch.Tensor, p: float) -> torch.Tensor:
        values, vectors = torch.linalg.eigh(s.double())
        return vectors @ torch.diag(values.clamp_min(1e-12) ** p) @ vectors.T

    root1, inv_root1 = power(cov1, 0.5), power(cov1, -0.5)
    a = inv_root1 @ power(root1 @ cov2.double() @ root1, 0.5) @ inv_root1
    return a, mu2.double() - a @ mu1.double()


# Exercise 4. shuffled: every statistic averages over positions — all three vanish. negated: (−F)(−F)ᵀ = FFᵀ, so
# only the Gram matrix is fooled; the mean flips, the covariance does not, so W₂² = ‖2μ‖² = 4 · 5 = 20. rotated: a
# round cloud (Σ = I, μ = 0) is unchanged by any rotation — all three vanish. diag(4, 1) turned by 90° is
# diag(1, 4); the two commute, so W₂² = (√4 − √1)² + (√1 − √4)² = 2.
which_vanish = {"shuffled": {"gram", "mean_cov", "w2"}, "negated": {"gram"}, "rotated": {"gram", "mean_cov", "w2"},
                "w2_negated": 20.0, "w2_rotated": 2.0}


# Exercise 5. Two halves of one painting are two samples of the same texture: their distance is the floor, what a
# distance gives by chance (few positions, the painting not being uniform). The gap compares a half of the style with
# a half of the other image (equal numbers of positions, so equal small-sample bias). gap / floor says how well the
# distance tells the two paintings apart.
#
# The experiment (in the notebook, after section 5):
#     other = waves                                   # loaded in section 2
#     nets = {"trained": vgg, "random:0": nst.VGGFeatures(setup.arch, layers=LAYERS, weights="random:0", device=device)}
#     for name, net in nets.items():
#         for layer in LAYERS:
#             floor, gap = floor_and_gap(lambda image: net(image)[layer], style, other)
#             print(f"{name:9s} {layer}: floor {floor:9.4g}  gap {gap:9.4g}  gap/floor {gap / floor:6.1f}")
# What it shows (HED's VGG-16, strokes vs waves; gap / floor at relu1_1 … relu5_1):
#     96 px   trained 88, 22, 6.5, 3.2, 5.3     random:0 76, 25, 6.6, 2.8, 2.6
#     192 px  trained 148, 66, 20, 6.2, 9.0     random:0 91, 57, 22, 6.9, 4.7
# The ratio is largest in the shallow layers and falls with depth (the trained network rebounds a little at relu5_1):
# a half image has few deep positions (at 96 px, 18 at relu5_1 for 512 channels, so the covariance is singular), and
# the floor rises towards the gap. Doubling the size triples the ratio at relu3_1. The random network separates the
# two paintings about as well as the trained one up to relu4_1, and worse at relu5_1. Conclusions: trust deep-layer
# statistics only at sizes where each piece has many more positions than channels; and a random network is a usable
# judge of texture statistics, not a blind one.
def floor_and_gap(feature_fn, style: torch.Tensor, other: torch.Tensor) -> tuple[float, float]:
    def gaussian(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            mu, cov = nst.mean_covariance(feature_fn(image))
        return mu[0], cov[0]

    half = style.shape[-1] // 2
    left, right = style[..., :half], style[..., half:]
    floor = nst.gaussian_w2(*gaussian(left), *gaussian(right))
    gap = nst.gaussian_w2(*gaussian(left), *gaussian(other[..., : other.shape[-1] // 2]))
    return float(floor), float(gap)
