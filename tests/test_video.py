"""Video style transfer (Ruder, Dosovitskiy & Brox 2016): flow, warping, the occlusion mask, the temporal term,
stylize_video and save_video. Oracles: known translations, camera moves with exact flows, the formula by hand."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

import nstlib as nst
from nstlib.algorithms import flow as fl
from nstlib.algorithms import video as vd

CPU = dict(device="cpu", progress=False, weights="random", style_layers=("relu1_1", "relu2_1"))


def _texture(h: int = 48, w: int = 64, seed: int = 0) -> torch.Tensor:
    """A smooth random texture (blurred noise): enough structure for a flow estimator, no aliasing."""
    noise = torch.rand(1, 3, h // 4, w // 4, generator=torch.Generator().manual_seed(seed))
    return torch.nn.functional.interpolate(noise, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)


def _shift(h: int, w: int, dx: float, dy: float) -> torch.Tensor:
    flow = torch.zeros(1, 2, h, w)
    flow[:, 0], flow[:, 1] = dx, dy
    return flow


def test_warp_with_a_known_flow_is_exact_inside_the_frame() -> None:
    a = _texture()
    b = torch.roll(a, shifts=(2, 3), dims=(2, 3))  # the scene moved 3 px right and 2 px down in b
    warped, inside = fl.warp(b, _shift(48, 64, 3.0, 2.0))
    assert torch.allclose(warped[..., :46, :61], a[..., :46, :61], atol=1e-5)
    assert inside[0, 0, :46, :61].all() and not inside[0, 0, 46:, :].any() and not inside[0, 0, :, 61:].any()
    with pytest.raises(nst.InputError, match="match"):
        fl.warp(a, _shift(10, 10, 0, 0))


def test_camera_move_flows_are_exact_for_an_integer_pan() -> None:
    photo = nst.load_image("images/tubingen.jpg")
    clip = fl.camera_move(photo, frames=4, size=(48, 64), pan=(3.0, 1.0), cover=0.5)
    assert len(clip.frames) == 4 and all(f.shape == (1, 3, 48, 64) for f in clip.frames)
    assert clip.backward[0] is None and clip.forward[0] is None
    for i in range(1, 4):
        warped, inside = fl.warp(clip.frames[i - 1], clip.backward[i])
        inner = inside.bool().expand_as(warped)
        assert inner.float().mean() > 0.8
        assert (warped - clip.frames[i]).abs()[inner].max() < 2e-3
        back_and_forth = clip.backward[i] + fl.warp(clip.forward[i], clip.backward[i])[0]
        assert back_and_forth[inner[:, :2]].abs().max() < 1e-4
    with pytest.raises(nst.InputError, match="leaves the photo"):
        fl.camera_move(photo, frames=40, size=(48, 64), pan=(30.0, 0.0))


def test_optical_flow_recovers_a_translation() -> None:
    a = _texture(96, 128)
    b = torch.roll(a, shifts=(1, 4), dims=(2, 3))
    for method in fl.FLOW_METHODS:
        flow = fl.optical_flow(a, b, method)
        assert flow.shape == (1, 2, 96, 128)
        interior = flow[..., 16:-16, 16:-16]
        assert interior[:, 0].median() == pytest.approx(4.0, abs=0.25), method
        assert interior[:, 1].median() == pytest.approx(1.0, abs=0.25), method
    with pytest.raises(nst.InputError, match="method"):
        fl.optical_flow(a, b, "magic")


def test_occlusion_mask_keeps_consistent_flow_and_drops_occlusions_and_boundaries() -> None:
    h, w = 32, 40
    back, fwd = _shift(h, w, -2.0, 0.0), _shift(h, w, 2.0, 0.0)
    mask = fl.occlusion_mask(back, fwd)
    assert mask[..., :, 2:].all() and not mask[..., :, :2].any()  # only what came from outside the frame
    occluded = fwd.clone()
    occluded[..., 10:20, 10:20] = -5.0  # there the forward flow disagrees: an occlusion
    mask = fl.occlusion_mask(back, occluded)
    assert not mask[..., 10:20, 12:22].any() and mask[..., 25:, 25:].all()
    edge = back.clone()
    edge[..., :, 20:] = 6.0  # a jump in the flow: a motion boundary at column 19
    assert not fl.occlusion_mask(edge, -edge)[..., :, 19].any()


def test_temporal_loss_is_zero_for_a_consistent_sequence_and_respects_the_mask() -> None:
    a = _texture()
    b = torch.roll(a, shifts=(0, 2), dims=(2, 3))
    back, fwd = _shift(48, 64, -2.0, 0.0), _shift(48, 64, 2.0, 0.0)
    warped, inside = fl.warp(a, back)
    mask = fl.occlusion_mask(back, fwd)
    assert float(vd.temporal_loss(b, warped, mask)) < 1e-10
    changed = b.clone()
    changed[..., 10:20, 10:20] = 0.0
    by_hand = (mask * (changed - warped).square()).sum() / (3 * 48 * 64)
    assert float(vd.temporal_loss(changed, warped, mask)) == pytest.approx(float(by_hand), rel=1e-5) and by_hand > 0
    masked = mask.clone()
    masked[..., 10:20, 10:20] = 0.0
    assert float(vd.temporal_loss(changed, warped, masked)) < 1e-10
    small = vd.temporal_loss(torch.nn.functional.interpolate(changed, size=(24, 32)), warped, mask)
    assert small.shape == (1,) and float(small) > 0  # a coarse stage: ω and c resized to the image


def _clip(frames: int = 3) -> fl.Clip:
    return fl.camera_move(nst.load_image("images/tubingen.jpg"), frames=frames, size=(32, 40), pan=(2.0, 0.0))


def test_stylize_video_keeps_count_and_shape_and_adds_the_temporal_term() -> None:
    clip, style = _clip(), nst.load_image("images/starry_night.jpg", size=40)
    flows = (clip.backward, clip.forward)
    out = vd.stylize_video(
        clip.frames, style, flows=flows, first_steps=4, steps=3, temporal_weight=50.0, warm_start=False, **CPU
    )
    assert len(out.frames) == 3 and all(f.shape == (1, 3, 32, 40) for f in out.frames) and not out.interrupted
    assert "extra" not in out.histories[0] and len(out.seconds) == 3 and out.masks[0] is None
    # frame 1 starts from its photo: the first temporal term is λ·temporal_loss(photo, ω, c), by hand
    warped, _ = fl.warp(out.frames[0], clip.backward[1])
    want = 50.0 * vd.temporal_loss(clip.frames[1], warped, fl.occlusion_mask(clip.backward[1], clip.forward[1]))
    assert out.histories[1]["extra"][0] == pytest.approx(float(want), rel=1e-4) and float(want) > 0
    assert out.histories[1]["content"][0] < 1e-6  # the photo itself: no content loss at the start
    plain = vd.stylize_video(
        clip.frames, style, flows=flows, first_steps=4, steps=3, temporal_weight=0.0, warm_start=False, **CPU
    )
    assert all("extra" not in h for h in plain.histories)


def test_warm_start_begins_each_frame_from_the_warped_previous_result() -> None:
    """The temporal term measures the distance to the warped previous result on reliable pixels: from a warm start
    it is exactly 0 at the first step; from the photo it is not."""
    clip, style = _clip(), nst.load_image("images/starry_night.jpg", size=40)
    run = dict(flows=(clip.backward, clip.forward), first_steps=3, steps=1, temporal_weight=50.0, **CPU)
    warm = vd.stylize_video(clip.frames, style, warm_start=True, **run)
    cold = vd.stylize_video(clip.frames, style, warm_start=False, **run)
    assert warm.histories[1]["extra"][0] < 1e-12 < 1e-6 < cold.histories[1]["extra"][0]
    assert cold.histories[1]["content"][0] < 1e-6 < warm.histories[1]["content"][0]  # cold starts at the photo


def test_interrupting_returns_the_frames_done_so_far() -> None:
    clip, style = _clip(4), nst.load_image("images/starry_night.jpg", size=40)
    calls = {"n": 0}

    def stop_in_frame_two(progress: nst.Progress) -> None:
        calls["n"] += 1
        if calls["n"] == 3 + 2 + 1:  # frame 0: 3 steps, frame 1: 2 steps, then the first step of frame 2
            raise KeyboardInterrupt

    out = vd.stylize_video(
        clip.frames,
        style,
        flows=(clip.backward, clip.forward),
        first_steps=3,
        steps=2,
        callback=stop_in_frame_two,
        **CPU,
    )
    assert out.interrupted and len(out.frames) == 3


def test_bad_video_input_is_refused() -> None:
    clip, style = _clip(2), nst.load_image("images/starry_night.jpg", size=40)
    with pytest.raises(nst.InputError, match="empty"):
        vd.stylize_video([], style)
    with pytest.raises(nst.InputError, match="same size"):
        vd.stylize_video([clip.frames[0], torch.rand(1, 3, 20, 20)], style)
    with pytest.raises(nst.InputError, match="init"):
        vd.stylize_video(clip.frames, style, init="noise")
    with pytest.raises(nst.InputError, match="flow"):
        vd.stylize_video(clip.frames, style, flows=([None], [None]))


def test_flicker_is_zero_for_a_consistent_clip_and_grows_with_noise() -> None:
    clip = _clip(3)
    assert vd.flicker(clip.frames, clip.backward) < 2e-3
    noisy = [
        f + 0.1 * torch.randn(f.shape, generator=torch.Generator().manual_seed(i)) for i, f in enumerate(clip.frames)
    ]
    assert vd.flicker(noisy, clip.backward) > 0.05


def test_save_video_writes_gif_and_mp4_and_never_overwrites(tmp_path) -> None:
    frames = [torch.full((1, 3, 16, 20), v) for v in (0.1, 0.5, 0.9)]
    gif = vd.save_video(frames, tmp_path / "clip.gif", fps=4)
    with Image.open(gif) as image:
        assert image.n_frames == 3 and image.size == (20, 16)
    with pytest.raises(nst.OutputError, match="exists"):
        vd.save_video(frames, gif)
    mp4 = vd.save_video(frames, tmp_path / "clip.mp4", fps=4)
    assert mp4.stat().st_size > 0
    with pytest.raises(nst.OutputError, match="gif or .mp4"):
        vd.save_video(frames, tmp_path / "clip.avi")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.gif", "clip.mp4"]  # no temporary files left
