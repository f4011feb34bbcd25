"""The feed-forward transfer network (Johnson et al. 2016): shapes, training, saving."""

from __future__ import annotations

import pytest
import torch

import nstlib as nst


@pytest.mark.parametrize("shape", [(1, 3, 43, 64), (2, 3, 37, 51), (1, 3, 8, 9), (1, 3, 64, 64)])
def test_output_has_the_inputs_size(shape: tuple[int, ...]) -> None:
    net = nst.TransferNet(width=4, n_residual=1).eval()
    with torch.no_grad():
        out = net(torch.rand(shape))
    assert out.shape == shape
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_architecture_follows_johnson() -> None:
    net = nst.TransferNet()  # the paper's widths: 32, 64, 128, five residual blocks
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size[0], c.stride[0]) for c in convs[:3]] == [
        (3, 32, 9, 1),
        (32, 64, 3, 2),
        (64, 128, 3, 2),
    ]
    assert len(net.residual) == 5 and (convs[-1].in_channels, convs[-1].out_channels, convs[-1].kernel_size[0]) == (
        32,
        3,
        9,
    )
    assert sum(isinstance(m, torch.nn.InstanceNorm2d) for m in net.modules()) == 2 + 1 + 2 * 5 + 2
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())


def test_too_small_and_bad_options() -> None:
    with pytest.raises(nst.ImageTooSmallError, match="8x8"):
        nst.TransferNet(width=4, n_residual=0)(torch.rand(1, 3, 7, 20))
    with pytest.raises(nst.InputError):
        nst.TransferNet(width=0)


def test_training_loss_falls(content_image: torch.Tensor, style_image: torch.Tensor) -> None:
    result = nst.train_transfer_net(
        style_image,
        [content_image],
        size=32,
        steps=15,
        batch_size=2,
        width=8,
        n_residual=1,
        weights="random",
        device="cpu",
        progress=False,
    )
    total = result.history["total"]
    assert len(total) == 15 and set(result.history) == {"total", "content", "style", "tv"}
    assert sum(total[-5:]) / 5 < 0.5 * total[0]
    assert not result.net.training
    with torch.no_grad():
        out = result.net(content_image)
    assert out.shape == content_image.shape


def test_training_is_seeded_and_leaves_the_global_rng_alone(
    content_image: torch.Tensor, style_image: torch.Tensor
) -> None:
    options = dict(
        size=16,
        steps=2,
        batch_size=1,
        width=4,
        n_residual=0,
        weights="random",
        device="cpu",
        progress=False,
        style_layers=("relu1_2",),
    )
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = nst.train_transfer_net(style_image, [content_image], **options)
    assert torch.equal(torch.rand(1), before)
    b = nst.train_transfer_net(style_image, [content_image], **options)
    assert a.history["total"] == b.history["total"]


def test_save_and_load_round_trip(tmp_path, content_image: torch.Tensor) -> None:
    net = nst.TransferNet(width=4, n_residual=2).eval()
    with torch.no_grad():  # make the norms' affine parameters non-trivial
        for p in net.parameters():
            p.add_(0.01 * torch.randn_like(p))
    path = nst.save_transfer_net(net, tmp_path / "waves.pt")
    again = nst.load_transfer_net(path, device="cpu")
    assert again.config == {"width": 4, "n_residual": 2}
    for key, value in net.state_dict().items():
        assert torch.equal(again.state_dict()[key], value), key
    with torch.no_grad():
        assert torch.equal(again(content_image), net(content_image))
    with pytest.raises(nst.OutputError, match="exists"):
        nst.save_transfer_net(net, path)
    (tmp_path / "junk.pt").write_bytes(b"not a network")
    with pytest.raises(nst.WeightsError, match="not a transfer network"):
        nst.load_transfer_net(tmp_path / "junk.pt")
    with pytest.raises(nst.WeightsError, match="No transfer network"):
        nst.load_transfer_net(tmp_path / "missing.pt")


# -- the networks the kit trained and ships (nstlib.algorithms.pretrained) ---------------------------------------


def test_every_shipped_network_matches_its_manifest() -> None:
    shipped = nst.pretrained_transfer_nets()
    assert "starry_night" in shipped
    for name, entry in shipped.items():
        net = nst.pretrained_transfer_net(name, device="cpu")
        assert not net.training and net.config == {k: entry["settings"][k] for k in ("width", "n_residual")}
        assert all(p.dtype == torch.float32 for p in net.parameters())  # stored in float16, loaded as float32
        assert "tubingen.jpg" not in " ".join(entry["photos"])  # lesson 10's unseen photo
        assert all("licence:" in text for text in entry["photos"].values()), entry["photos"]
        assert entry["settings"]["weights"] == "hed"  # the loss network every machine has
        with torch.no_grad():
            out = net(torch.rand(1, 3, 40, 56))
        assert out.shape == (1, 3, 40, 56) and torch.isfinite(out).all()


def test_a_damaged_or_missing_shipped_network_is_refused(tmp_path, monkeypatch) -> None:
    from nstlib.algorithms import pretrained

    for path in pretrained.PRETRAINED_DIR.iterdir():
        (tmp_path / path.name).write_bytes(path.read_bytes())
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path)
    nst.pretrained_transfer_net("starry_night")  # the copy is intact
    data = (tmp_path / "starry_night.pt").read_bytes()
    (tmp_path / "starry_night.pt").write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(nst.WeightsError, match="SHA-256"):
        nst.pretrained_transfer_net("starry_night")
    (tmp_path / "starry_night.pt").unlink()
    with pytest.raises(nst.WeightsError, match="missing"):
        nst.pretrained_transfer_net("starry_night")
    with pytest.raises(nst.InputError, match="starry_night"):
        nst.pretrained_transfer_net("mona_lisa")
    (tmp_path / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(nst.WeightsError, match="manifest"):
        nst.pretrained_transfer_nets()
