"""Model answers for lesson 04 (Gram matrices and the style loss). For instructors; the notebook never imports this.

``nst.check.<name>.solution()`` shows each one; tests/test_exercises.py feeds them to the checkers.
"""
from __future__ import annotations

import torch


# Exercise 1. Gatys et al. 2016, eq. 4: E_l = Σ_ij (G_ij − A_ij)² / (4 N² M²), G = F Fᵀ the raw Gram matrix of each
# image (reshape to (B, N, M): never (N, B·M), which mixes the images of a batch) and A the painting's raw one
# (1, N, N), compared with every image. .sum() adds every image's E_l; the result stays a 0-d tensor built from F, so
# that autograd gives eq. 6's gradient, (G − A) F / (N² M²).
def style_loss_by_hand(F: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    b, n, h, w = F.shape
    m = h * w
    flat = F.reshape(b, n, m)  # (B, N, M)
    G = flat @ flat.transpose(1, 2)  # (B, N, N), one Gram matrix per image
    return ((G - A) ** 2).sum() / (4 * n**2 * m**2)


# Exercise 2. b, i and j stay in the result; the positions h, w are summed away. Never flatten the batch into the
# channels (the PyTorch tutorial's gram does): that multiplies channels of different images with each other.
def batch_gram(features: torch.Tensor) -> torch.Tensor:
    return torch.einsum("bihw,bjhw->bij", features, features)  # (B, N, H, W) -> (B, N, N)


# Exercise 3. ‖FFᵀ − SSᵀ‖²_F = tr((FFᵀ − SSᵀ)²) = tr(FFᵀFFᵀ) − 2 tr(FFᵀSSᵀ) + tr(SSᵀSSᵀ), and moving the
# first factor to the end of each trace (tr(AB) = tr(BA)) gives ‖FᵀF‖²_F − 2‖FᵀS‖²_F + ‖SᵀS‖²_F: M×M matrices only.
def loss_without_gram(F: torch.Tensor, S: torch.Tensor) -> torch.Tensor:
    _, n, h, w = F.shape
    m = h * w
    f, s = F[0].reshape(n, m), S[0].reshape(n, m)  # (N, M)

    def fro2(x: torch.Tensor) -> torch.Tensor:
        return torch.linalg.matrix_norm(x, ord="fro") ** 2

    return (fro2(f.T @ f) - 2 * fro2(f.T @ s) + fro2(s.T @ s)) / (4 * n**2 * m**2)


# Exercise 4. Mix the positions with an orthogonal M×M matrix Q: (F Q)(F Q)ᵀ = F Q Qᵀ Fᵀ = F Fᵀ. A random Q is
# almost surely not a permutation, so every new column is a mixture of all the old ones.
def same_gram(F: torch.Tensor) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(F.shape[1], F.shape[1], generator=torch.Generator().manual_seed(0),
                                       dtype=F.dtype))
    return F @ q


# Exercise 5. Both. Rolled: the same activations at other positions (the Gram matrix sums over positions; only the
# seams and the zero-padded borders differ). Flipped: each filter sees the mirror image of the painting, which is not
# the same in principle, but the painting holds about as many strokes and edges of each orientation as of their
# mirror images, so the statistics barely change. Measured in the lesson (at relu1_1 … relu3_1, beside the cat's E_l):
#   rolled = torch.roll(style, (H // 3, W // 3), dims=(2, 3)); flipped = style.flip(3)
#   with torch.no_grad():
#       f_style, f_cat = vgg(style.to(device)), feats["chelsea"]
#       for name, image in {"rolled": rolled, "flipped": flipped}.items():
#           f = vgg(image.to(device))
#           print(name, [float(E_nst(f[l], f_style[l]) / E_nst(f_cat[l], f_style[l])) for l in LAYERS[:3]])
rolled_or_flipped = "both"


# Exercise 6. The measurement, then the design, run on the lesson's network:
#   for layer in LAYERS:
#       sizes = [s for s in (16, 32, 48, 64, 96, 128) if s <= W // 2]
#       print(layer, crop_experiment(vgg, style.to(device), styles["waves"].to(device), layer, sizes))
# Reading: the ratio is 0 when two pieces of the strokes have the same style, 1 when they differ as much as strokes
# and waves. It falls as the pieces grow, because each Gram matrix is an average over M positions — an estimate from
# a sample — but not smoothly: a painting is not uniform, and one pair of pieces may catch two different regions (at
# 192 px, the 64 px pieces of the strokes disagree more than the 48 px ones at every layer up to relu3_1). The
# largest pieces agree best, and deep layers need the largest: with the 96 px pieces of the 192 px image,
# relu1_1 … relu3_1 fall to 0.02–0.03 but relu4_1 and relu5_1 stay near 0.05–0.09. Their units see 60–160 px, more
# than a small piece holds, and each position stands for 8×8 or 16×16 pixels, so a piece holds few samples. Pieces
# smaller than a layer's receptive field give erratic numbers (mostly the zero padding at the borders). A better
# design averages the ratio over several pairs of pieces at each size, which separates sampling noise (it falls as
# 1/M) from the painting's own variation (it does not). With a threshold of 0.1, the shallow layers pass with some
# pieces of 32–48 px but not reliably, and every layer passes only with the 96 px pieces: a style image for all five
# layers should be a few hundred pixels, and the more of the painting it shows, the better.
def crop_experiment(net, image: torch.Tensor, other: torch.Tensor, layer: str, sizes) -> dict:
    import nstlib as nst

    def e_l(f: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return nst.style_loss(nst.gram_matrix(f, "gatys"), nst.gram_matrix(s, "gatys"), reduction="gatys")

    ratios = {}
    with torch.no_grad():
        for s in sizes:
            a = net(image[..., :s, :s])[layer]
            b = net(image[..., :s, s:2 * s])[layer]  # right next to a: another piece of the same image
            c = net(other[..., :s, :s])[layer]  # the yardstick: a piece of another style
            ratios[s] = float(e_l(a, b) / e_l(a, c))
    return ratios
