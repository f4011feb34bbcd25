"""Model answers for lesson 03 (content reconstruction). For instructors; the notebook never imports this.

``nst.check.<name>.solution()`` shows each one; tests/test_exercises.py feeds them to the checkers.
"""
from __future__ import annotations

import torch


# Exercise 1. Gatys et al. 2016, eq. 1: L_content = ½ Σ (F − P)², every entry of every image in the batch; a 0-d
# tensor built from F by torch operations, so that autograd gives ∂L/∂F = F − P (eq. 2). (P − F)² is the same.
def content_loss_by_hand(F: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    return 0.5 * ((F - P) ** 2).sum()


# Exercise 2. mean (F − P)² = (1/(N·M)) Σ (F − P)², so its gradient is 2 (F − P)/(N·M) = (2/(N·M)) × the ½Σ
# gradient F − P: the constant ½·N·M between the two losses divides the gradient too.
def mean_gradient(F: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    return 2 * (F - P) / F[0].numel()  # F[0].numel() = N·H·W = N·M for (1, N, H, W) features


# Exercise 3. L = ½ Σ (relu(Z) − P)²; chain rule with relu'(Z) = 1 where Z > 0 and 0 where Z < 0
# (Gatys et al. 2016, eq. 2: "0 if F < 0", their F being the pre-activation).
def relu_gradient(Z: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    return (Z.relu() - P) * (Z > 0)


# Exercise 4. Section 3's loop with any layer: L-BFGS (here with a line search, which suits a small problem and
# needs no step size) on ½ Σ (layer(x) − target)², starting from noise. The layer's own weights stay fixed.
def invert_layer(layer: torch.nn.Module, target: torch.Tensor, shape: tuple) -> torch.Tensor:
    x = torch.rand(shape, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    optimizer = torch.optim.LBFGS([x], lr=1, max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = 0.5 * ((layer(x) - target) ** 2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)  # one call runs up to max_iter iterations
    return x.detach()


# Exercise 5. relu1_2: its units see 5×5 pixels, one per pixel, so a 2-pixel move changes what almost every unit
# sees; relu5_2's units see 160+ pixels and stand for 16×16 blocks, so 2 pixels hardly change their response.
# To measure it in the lesson:
#   moved = torch.roll(photo, 2, dims=3)
#   with torch.no_grad():
#       f = probe(moved)
#   {name: float((f[name] - targets[name]).norm() / targets[name].norm()) for name in LAYERS}
shifted_photo = "relu1_2"


# Exercise 6 (no automatic check): the argument, and the experiment that supports it.
def free_pixels(photo: torch.Tensor, setup, pooling: str = "avg", astronaut_path: str = "../images/astronaut.jpg"):
    """Who fills the pixels a deep layer leaves free? The start of the optimisation.

    A deep layer's features are shared by a large family of images (section 5): the optimiser does not look for
    the photo, only for *an* image of that family, and it finds one near where it starts, because L-BFGS only
    walks downhill from the start. Starting from white noise, the free details come out as noise turned into
    texture; starting from the astronaut, they come from the astronaut. The relu5_2 reconstruction from the
    astronaut keeps the astronaut's colours and much of its detail, with the photo's arrangement (the skyline,
    the tower) painted over it: in quick mode its pixel error to the astronaut is about 32% (from noise: 80%),
    while its error to the Tübingen photo stays as large as from noise (73% against 75%). The relu1_2
    reconstruction does not care about the start: relu1_2 has more than 20 numbers per pixel value and only the
    photo fits, so both starts end at the photo (from the astronaut even closer, 4% against 28%: the noise start
    leaves a grain that 80 steps do not remove), far from the astronaut.

    For style transfer, which starts from the content photo (or from noise) and matches relu4_2: every detail the
    content layer does not pin down stays as it was in the start unless the style loss changes it. Starting from
    the photo keeps its exact colours and edges where the style does not pull; starting from noise leaves those
    pixels to the style. Lesson 5 shows both.
    """
    import nstlib as nst

    astronaut = nst.load_image(astronaut_path, size=setup.size)
    runs = {}
    for layer in ("relu1_2", "relu5_2"):
        for start_name, start in (("noise", "noise"), ("astronaut", astronaut)):
            runs[layer, start_name] = nst.reconstruct(photo, layer, mode="content", steps=setup.steps, init=start,
                                                      weights=setup.weights, arch=setup.arch, pooling=pooling,
                                                      device=setup.device, seed=0, progress=False)
    astronaut_here = nst.resize_image(astronaut, tuple(photo.shape[-2:])).to(photo.device)

    def error(image: torch.Tensor, reference: torch.Tensor) -> float:
        return float((image.to(reference.device) - reference).norm() / reference.norm())

    for (layer, start), result in runs.items():
        print(f"{layer} from {start:9s}: pixel error to the photo {error(result.image, photo):6.1%}, "
              f"to the astronaut {error(result.image, astronaut_here):6.1%}")
    nst.show_images([r.image.cpu() for r in runs.values()], titles=[f"{l} from {s}" for l, s in runs], ncols=4)
    return runs
