"""Plant one bug at a time in a scratch copy of nstlib and check that the tests meant to catch it fail.

    python tools/mutants.py              # every mutant (about 10 minutes on 2 CPU cores)
    python tools/mutants.py cli- texnet  # only mutants whose name starts with one of these
    python tools/mutants.py texnet tests/test_texnet.py   # ... against other tests than the listed ones

Each mutant replaces one exact piece of source text (it must occur exactly once, which
tests/test_mutants.py checks on every CI run, so the list cannot silently drift from the code) and names
the tests that should fail. A mutant is *killed* when those tests fail, *survives* when they pass (a gap in
the tests: the exit status is 1), and is an *error* when pytest could not even run them. The unmutated copy
must pass the same tests first, or the run stops.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]


class Mutant(NamedTuple):
    name: str
    file: str  # relative to the repository root
    old: str
    new: str
    tests: tuple[str, ...]  # pytest node ids (file or file::test), relative to the root


OE = "tests/test_option_effects.py"
WIRING = "tests/test_wiring.py"
BOOK = "tests/test_book.py"
FIRST_STEP = f"{OE}::test_first_step_from_noise_applies_every_weight"

MUTANTS: tuple[Mutant, ...] = (
    # -- stylize ------------------------------------------------------------------------------------------
    Mutant(
        "stylize-alpha-ignored",
        "nstlib/loss/objective.py",
        'f"content:{n}": w.alpha * c * content_loss(',
        'f"content:{n}": c * content_loss(',
        (FIRST_STEP,),
    ),
    Mutant(
        "stylize-gamma-ignored",
        "nstlib/loss/objective.py",
        'terms["tv"] = w.gamma * tv_loss(image, p=1, per_image=True)',
        'terms["tv"] = 10.0 * tv_loss(image, p=1, per_image=True)',
        (FIRST_STEP,),
    ),
    Mutant(
        "stylize-beta-ignored",
        "nstlib/loss/objective.py",
        "terms.update(style_terms(feats, w.beta))",
        "terms.update(style_terms(feats, 5e4))",
        (FIRST_STEP,),
    ),
    Mutant(
        "layer-weights-mapping-ignored",
        "nstlib/net/layers.py",
        "return {str(k): float(v) for k, v in layers.items()}",
        "return {str(k): 1.0 / len(layers) for k in layers}",
        (FIRST_STEP,),
    ),
    Mutant(
        "stylize-pooling-ignored",
        "nstlib/algorithms/request.py",
        "            pooling=g.pooling,\n            device=self.device,",
        "            device=self.device,",
        (FIRST_STEP,),
    ),
    Mutant(
        "noise-seed-ignored",
        "nstlib/optim/schedule.py",
        "generator = torch.Generator().manual_seed(seed)",
        "generator = torch.Generator().manual_seed(0)",
        (f"{OE}::test_init_gives_the_documented_start",),
    ),
    Mutant(
        "init-style-is-content",
        "nstlib/optim/schedule.py",
        "return resize_image(style, (content.shape[-2], content.shape[-1])).expand_as(content).clone()",
        "return content.clone()",
        (f"{OE}::test_init_gives_the_documented_start",),
    ),
    Mutant(
        "variant-init-ignored",
        "nstlib/algorithms/request.py",
        "initial_image(self.runs[i].init,",
        "initial_image(self.goal.init,",
        (f"{OE}::test_variants_start_from_their_own_init_and_seed",),
    ),
    Mutant(
        "stylize-lr-ignored",
        "nstlib/algorithms/request.py",
        "lr=self.lr,",
        "lr=None,",
        (f"{OE}::test_optimizer_and_lr_give_the_documented_first_update",),
    ),
    Mutant(
        "stylize-optimizer-ignored",
        "nstlib/algorithms/request.py",
        "optimizer=self.optimizer,",
        'optimizer="lbfgs",',
        (f"{OE}::test_optimizer_and_lr_give_the_documented_first_update",),
    ),
    Mutant(
        "style-scale-ignored",
        "nstlib/loss/objective.py",
        "resize_image(s, max(1, round(max(key) * self.style_scale)))",
        "resize_image(s, max(key))",
        (f"{OE}::test_style_scale_sets_the_style_targets_size",),
    ),
    Mutant(
        "stage-style-from-previous-stage",
        "nstlib/loss/objective.py",
        "            self._size, self._value = None, None  # the previous stage's targets go first",
        "            self.styles[:] = styles_s\n            self._size, self._value = None, None",
        (f"{OE}::test_scales_rebuild_the_targets_from_the_original_style_at_each_stage",),
    ),
    Mutant(
        "stage-start-not-upsampled",
        "nstlib/algorithms/transfer.py",
        "start = warm_start(image, content_s, previous)",
        "start = content_s.clone()",
        (f"{OE}::test_a_later_stage_starts_from_the_photo_plus_the_previous_change_upsampled",),
    ),
    Mutant(
        "warm-start-without-the-photo",
        "nstlib/optim/schedule.py",
        "return (content_s + up(image - previous)).clamp(0.0, 1.0)",
        "return up(image).clamp(0.0, 1.0)",
        (f"{OE}::test_a_later_stage_starts_from_the_photo_plus_the_previous_change_upsampled",),
    ),
    Mutant(
        "default-content-layers-ignored",
        "nstlib/algorithms/request.py",
        "content_layers = dict(defaults.content_layers) if self.content_layers is None else self.content_layers",
        'content_layers = {"relu4_2": 1.0} if self.content_layers is None else self.content_layers',
        ("tests/test_sources.py::test_the_default_content_layers_come_from_the_weights_source",),
    ),
    Mutant(
        "auto-precision-always-fp32",
        "nstlib/optim/schedule.py",
        'return ["bf16"] * stages',
        'return ["fp32"] * stages',
        ("tests/test_perf_paths.py::test_auto_precision_runs_a_schedule_in_bf16_only_where_native",),
    ),
    Mutant(
        "auto-precision-bf16-for-one-stage",
        "nstlib/optim/schedule.py",
        "if stages == 1 or not native_bf16(device):",
        "if not native_bf16(device):",
        ("tests/test_perf_paths.py::test_auto_precision_runs_a_schedule_in_bf16_only_where_native",),
    ),
    Mutant(
        "auto-schedule-drops-skipped-steps",
        "nstlib/optim/schedule.py",
        "counts[0] += sum(_AUTO_STEPS[: len(_AUTO_STEPS) - len(counts)])",
        "pass",
        ("tests/test_perf_paths.py::test_the_default_schedule_is_half_then_full_size",),
    ),
    Mutant(
        "style-blend-ignored",
        "nstlib/algorithms/request.py",
        "blend=g.style_blend,",
        "blend=None,",
        (f"{OE}::test_several_styles_blend_and_masks_reach_the_style_term",),
    ),
    Mutant(
        "style-masks-ignored",
        "nstlib/algorithms/request.py",
        "masks=g.style_masks,",
        "masks=None,",
        (f"{OE}::test_several_styles_blend_and_masks_reach_the_style_term",),
    ),
    Mutant(
        "style-stat-ignored",
        "nstlib/algorithms/request.py",
        "stat=g.style_stat,\n            blend=",
        'stat="gram",\n            blend=',
        (f"{OE}::test_style_stat_reaches_the_style_term",),
    ),
    Mutant(
        "gram-in-low-precision",
        "nstlib/loss/objective.py",
        "feats = {n: f if f.dtype == torch.bfloat16 else f.float() for n, f in feats.items()}",
        "feats = dict(feats)",
        (f"{OE}::test_fp16_autocast_runs_the_network_low_but_gram_and_losses_in_fp32",),
    ),
    Mutant(
        "losses-under-autocast",
        "nstlib/loss/objective.py",
        "        with speed.autocast():\n            feats = forward(image)\n",
        "        speed.autocast().__enter__()\n        feats = forward(image)\n",
        (f"{OE}::test_fp16_autocast_runs_the_network_low_but_gram_and_losses_in_fp32",),
    ),
    Mutant(
        "precision-ignored",
        "nstlib/optim/schedule.py",
        '        if self.precision == "fp32" or self.end_to_end:\n            return contextlib.nullcontext()',
        "        if True:\n            return contextlib.nullcontext()",
        (f"{OE}::test_fp16_autocast_runs_the_network_low_but_gram_and_losses_in_fp32",),
    ),
    Mutant(
        "bf16-end-to-end-ignored",
        "nstlib/optim/schedule.py",
        'return self.precision == "bf16" and self.device.type == "cpu" and not self.compile',
        "return False",
        (f"{OE}::test_bf16_on_a_cpu_runs_a_bf16_copy_of_the_network_and_the_losses_in_fp32",),
    ),
    Mutant(
        "bf16-relu-mask-ignored",
        "nstlib/net/frozen.py",
        "g = torch.ops.aten.threshold_backward(grad.contiguous(memory_format=_CL), y, 0)",
        "g = grad.contiguous(memory_format=_CL)",
        ("tests/test_frozen.py::test_float32_copy_equals_the_network_features_and_gradient",),
    ),
    Mutant(
        "channels-last-ignored",
        "nstlib/optim/schedule.py",
        "return Speed(device, precision, bool(channels_last), bool(compile))",
        "return Speed(device, precision, True, bool(compile))",
        (f"{OE}::test_channels_last_sets_the_networks_layout",),
    ),
    Mutant(
        "compile-ignored",
        "nstlib/algorithms/transfer.py",
        "torch.compile(vgg) if speed.compile else vgg",
        "vgg",
        (f"{OE}::test_compile_runs_the_network_through_torch_compile",),
    ),
    Mutant(
        "check-memory-ignored",
        "nstlib/algorithms/transfer.py",
        "    if how.check_memory:\n",
        "    if False:\n",
        (f"{OE}::test_check_memory_refuses_and_can_be_switched_off",),
    ),
    # -- reconstruct ----------------------------------------------------------------------------------------
    Mutant(
        "reconstruct-tv-ignored",
        "nstlib/algorithms/reconstruct.py",
        '        if tv_weight:\n            terms["tv"] = tv_weight',
        '        if tv_weight:\n            terms["tv"] = 1.0',
        (f"{OE}::test_content_reconstruction_first_step",),
    ),
    Mutant(
        "reconstruct-layer-weights-ignored",
        "nstlib/algorithms/reconstruct.py",
        'terms = {f"content:{n}": w * content_loss(now[n], goals[n], per_image=True)',
        'terms = {f"content:{n}": content_loss(now[n], goals[n], per_image=True)',
        (f"{OE}::test_content_reconstruction_first_step",),
    ),
    Mutant(
        "reconstruct-pooling-ignored",
        "nstlib/algorithms/reconstruct.py",
        "        pooling=pooling,\n        device=run_device,",
        "        device=run_device,",
        (f"{OE}::test_content_reconstruction_first_step",),
    ),
    Mutant(
        "reconstruct-style-weight-ignored",
        "nstlib/algorithms/reconstruct.py",
        'f"style:{n}": style_weight\n',
        'f"style:{n}": 5e4\n',
        (f"{OE}::test_style_reconstruction_first_step_size_and_weight",),
    ),
    Mutant(
        "reconstruct-size-ignored",
        "nstlib/algorithms/reconstruct.py",
        'canvas = target if mode == "content" or size is None else resize_image(target, size)',
        "canvas = target",
        (f"{OE}::test_style_reconstruction_first_step_size_and_weight",),
    ),
    Mutant(
        "stylize-extra-loss-ignored",
        "nstlib/algorithms/transfer.py",
        "        if request.goal.extra_loss is not None:\n",
        "        if False:\n",
        (f"{OE}::test_extra_loss_is_one_more_term_of_the_objective", "tests/test_video.py"),
    ),
    Mutant(
        "video-temporal-weight-ignored",
        "nstlib/algorithms/video.py",
        "temporal_weight * temporal_loss(x, omega, c)",
        "200.0 * temporal_loss(x, omega, c)",
        ("tests/test_video.py::test_stylize_video_keeps_count_and_shape_and_adds_the_temporal_term",),
    ),
    Mutant(
        "video-warm-start-ignored",
        "nstlib/algorithms/video.py",
        "                if warm_start:\n",
        "                if False:\n",
        ("tests/test_video.py::test_warm_start_begins_each_frame_from_the_warped_previous_result",),
    ),
    Mutant(
        "video-mask-ignored",
        "nstlib/algorithms/video.py",
        "    return (mask * (image - warped).square())",
        "    return (1.0 * (image - warped).square())",
        ("tests/test_video.py::test_temporal_loss_is_zero_for_a_consistent_sequence_and_respects_the_mask",),
    ),
    # -- train_transfer_net ---------------------------------------------------------------------------------
    Mutant(
        "texnet-content-term-zero",
        "nstlib/algorithms/texnet.py",
        "content = functools.reduce(",
        "content = 0 * functools.reduce(",
        (f"{OE}::test_transfer_net_first_step_is_the_perceptual_loss",),
    ),
    Mutant(
        "texnet-style-term-zero",
        "nstlib/algorithms/texnet.py",
        "style_l = functools.reduce(",
        "style_l = 0 * functools.reduce(",
        (f"{OE}::test_transfer_net_first_step_is_the_perceptual_loss",),
    ),
    Mutant(
        "texnet-tv-weight-ignored",
        "nstlib/algorithms/texnet.py",
        "tv = tv_weight * tv_loss(y, p=1, per_image=True).mean()",
        "tv = 10.0 * tv_loss(y, p=1, per_image=True).mean()",
        (f"{OE}::test_transfer_net_first_step_is_the_perceptual_loss",),
    ),
    Mutant(
        "texnet-lr-ignored",
        "nstlib/algorithms/texnet.py",
        "opt = torch.optim.Adam(net.parameters(), lr=lr)",
        "opt = torch.optim.Adam(net.parameters(), lr=1e-3)",
        (f"{OE}::test_transfer_net_lr_seed_and_given_net",),
    ),
    Mutant(
        "texnet-seed-ignored",
        "nstlib/algorithms/texnet.py",
        "        torch.manual_seed(seed)\n        net = (net or",
        "        torch.manual_seed(0)\n        net = (net or",
        (f"{OE}::test_transfer_net_lr_seed_and_given_net",),
    ),
    Mutant(
        "texnet-augment-ignored",
        "nstlib/algorithms/texnet.py",
        "x = _random_crops(pool, size, batch_size, generator, augment)",
        "x = _random_crops(pool, size, batch_size, generator)",
        (f"{OE}::test_transfer_net_augment_scales_and_mirrors_the_crops",),
    ),
    Mutant(
        "texnet-precision-ignored",
        "nstlib/algorithms/texnet.py",
        'bf16 = precision == "bf16" or (precision == "auto" and native_bf16(run_device))',
        "bf16 = False",
        (f"{OE}::test_transfer_net_precision",),
    ),
    Mutant(
        "pretrained-hash-unchecked",
        "nstlib/algorithms/pretrained.py",
        'if found != entry["sha256"]:',
        "if False:",
        ("tests/test_texnet.py::test_a_damaged_or_missing_shipped_network_is_refused",),
    ),
    # -- the command line, the explorer, the gallery ----------------------------------------------------------
    *(
        Mutant(
            f"cli-{flag}-dropped",
            "nstlib/cli.py",
            f"{kw}=args.{kw}{after}",
            f"{kw}={default}{after}",
            (f"{WIRING}::test_each_cli_flag_reaches_stylize",),
        )
        for flag, kw, default, after in (
            ("style-weight", "style_weight", "None", ""),
            ("content-weight", "content_weight", "None", ""),
            ("tv-weight", "tv_weight", "None", ""),
            ("optimizer", "optimizer", '"lbfgs"', ""),
            ("init", "init", '"content"', ""),
            ("arch", "arch", "None", ""),
            ("seed", "seed", "0", ""),
            ("weights", "weights", "None", ",\n        arch="),
        )
    ),
    Mutant(
        "cli-memory-check-dropped",
        "nstlib/cli.py",
        "check_memory=not args.no_memory_check",
        "check_memory=True",
        (f"{WIRING}::test_each_cli_flag_reaches_stylize",),
    ),
    *(
        Mutant(
            f"explorer-{kw}-dropped",
            "nstlib/course/widgets.py",
            f"{kw}=float(self.{kw}.value)",
            f"{kw}={value}",
            (f"{WIRING}::test_each_explorer_control_reaches_stylize",),
        )
        for kw, value in (("content_weight", "1.0"), ("style_weight", "5e4"), ("tv_weight", "10.0"))
    ),
    Mutant(
        "gallery-steps-ignored",
        "nstlib/course/gallery.py",
        "reconstruct(photo, name, steps=steps,",
        "reconstruct(photo, name, steps=200,",
        (f"{WIRING}::test_gallery_passes_size_steps_and_weights_to_every_run",),
    ),
    Mutant(
        "gallery-transfer-size-ignored",
        "nstlib/course/gallery.py",
        "setup, size, images, run, source = g.setup, g.transfer_size, g.images, g.run, g.source",
        "setup, size, images, run, source = g.setup, g.size, g.images, g.run, g.source",
        (f"{WIRING}::test_gallery_passes_size_steps_and_weights_to_every_run",),
    ),
    # -- memory, colour, images, statistics, weights, dreams ----------------------------------------------------
    Mutant(
        "available-memory-none",
        "nstlib/device.py",
        "return int(line.split()[1]) * 1024",
        "return None",
        ("tests/test_perf_paths.py::test_available_memory_is_the_kernels_mem_available",),
    ),
    Mutant(
        "yiq-row-swapped",
        "nstlib/algorithms/colour.py",
        "[0.595716, -0.274453, -0.321263]",
        "[0.595716, -0.321263, -0.274453]",
        ("tests/test_colour.py::test_yiq_against_colorsys",),
    ),
    Mutant(
        "resize-bilinear",
        "nstlib/images.py",
        'mode="bicubic", align_corners=False, antialias=True',
        'mode="bilinear", align_corners=False, antialias=True',
        ("tests/test_images.py::test_resize_image_equals_pillows_bicubic",),
    ),
    Mutant(
        "to-pil-truncates",
        "nstlib/images.py",
        "* 255.0 + 0.5).astype(np.uint8)",
        "* 255.0).astype(np.uint8)",
        ("tests/test_images.py::test_to_pil_values_channel_order_and_batch",),
    ),
    Mutant(
        "masked-mean-cov-unmasked",
        "nstlib/loss/stats.py",
        "mu, cov = mean_covariance(f, mask)",
        "mu, cov = mean_covariance(f)",
        ("tests/test_stats.py::test_masked_style_term_is_the_unmasked_term_of_the_region",),
    ),
    Mutant(
        "masked-w2-unmasked",
        "nstlib/loss/stats.py",
        "omega = _position_weights(f, mask)",
        "omega = _position_weights(f, None)",
        ("tests/test_stats.py::test_masked_style_term_is_the_unmasked_term_of_the_region",),
    ),
    Mutant(
        "hed-kernel-transposed",
        "nstlib/weights/hed.py",
        "kernel.permute(\n                    3, 2, 0, 1",
        "kernel.permute(\n                    3, 2, 1, 0",
        ("tests/test_hed.py::test_conversion_puts_every_keras_kernel_where_torchvision_expects_it",),
    ),
    Mutant(
        "hed-alpha-default",
        "nstlib/weights/sources.py",
        "_CAFFE = LossDefaults(\n    5.0,",
        "_CAFFE = LossDefaults(\n    1.0,",
        ("tests/test_hed.py::test_stylize_takes_hed_defaults_and_applies_them",),
    ),
    Mutant(
        "dream-octave-scale-ignored",
        "nstlib/algorithms/dream.py",
        "octaves, octave_scale)",
        "octaves, 1.4)",
        ("tests/test_dream.py::test_octave_pyramid_sizes_and_detail_carried",),
    ),
    Mutant(
        "dream-seed-ignored",
        "nstlib/algorithms/dream.py",
        "generator = torch.Generator().manual_seed(seed)\n    original",
        "generator = torch.Generator().manual_seed(0)\n    original",
        ("tests/test_dream.py::test_seeded_and_reproducible",),
    ),
    Mutant(
        "dream-guide-ignored",
        "nstlib/algorithms/dream_gradient.py",
        "tiled_gradient(net, image, weights, guides, tiling, shift)",
        "tiled_gradient(net, image, weights, None, tiling, shift)",
        ("tests/test_dream.py::test_guided_dream_raises_the_guide_objective",),
    ),
    Mutant(
        "dream-tile-margin-ignored",
        "nstlib/algorithms/dream.py",
        "tiling = Tiling(tile_size, tile_margin, _stride(net))",
        "tiling = Tiling(tile_size, 32, _stride(net))",
        (f"{OE}::test_deepdream_passes_its_tiling_and_guide_to_each_gradient",),
    ),
    Mutant(
        "texture-stat-ignored",
        "nstlib/algorithms/texture.py",
        "terms = StyleTerms.from_images(vgg, [style], w, stat=stat)",
        "terms = StyleTerms.from_images(vgg, [style], w)",
        (f"{OE}::test_texture_synthesis_first_step",),
    ),
    Mutant(
        "texture-size-ignored",
        "nstlib/algorithms/texture.py",
        "canvas = style if size is None else resize_image(style, size)",
        "canvas = style",
        (f"{OE}::test_texture_synthesis_first_step",),
    ),
    Mutant(
        "texture-pooling-ignored",
        "nstlib/algorithms/texture.py",
        "weights=weights, pooling=pooling, device=style.device",
        "weights=weights, device=style.device",
        (f"{OE}::test_texture_synthesis_first_step",),
    ),
    Mutant(
        "snapshot-every-ignored",
        "nstlib/optim/loop.py",
        "if self.snapshot_every and step % self.snapshot_every == 0:",
        "if self.snapshot_every and step % 2 == 0:",
        (f"{OE}::test_snapshot_every_keeps_exactly_those_steps",),
    ),
    Mutant(
        "max-step-ignored",
        "nstlib/optim/loop.py",
        "cap_step(opt, x, evaluated, max_step)",
        "cap_step(opt, x, evaluated, DEFAULT_MAX_STEP)",
        ("tests/test_step_cap.py::test_optimize_pixels_follows_the_loop_by_hand_with_and_without_the_cap",),
    ),
    Mutant(
        "step-length-not-rescaled",
        "nstlib/optim/steps.py",
        'opt.state[x]["t"] = opt.state[x]["t"] * factor',
        "pass",
        ("tests/test_step_cap.py",),
    ),
    Mutant(
        "progress-ignored",
        "nstlib/optim/loop.py",
        "bar = tqdm(total=steps, desc=desc, disable=not progress,",
        "bar = tqdm(total=steps, desc=desc, disable=False,",
        (f"{OE}::test_progress_shows_a_bar_only_when_asked",),
    ),
    Mutant(
        "variant-weights-ignored",
        "nstlib/loss/objective.py",
        "float(pick(r)) for r in rows",
        "float(pick(rows[0])) for r in rows",
        (
            "tests/test_perf_paths.py::test_lbfgs_variants_equal_separate_runs",
            "tests/test_perf_paths.py::test_adam_variants_are_one_batch_and_match",
        ),
    ),
    Mutant(
        "explorer-steps-dropped",
        "nstlib/course/widgets.py",
        "steps=int(self.steps.value)",
        "steps=3",
        (f"{WIRING}::test_each_explorer_control_reaches_stylize",),
    ),
    Mutant(
        "explorer-size-dropped",
        "nstlib/course/widgets.py",
        "source, size = self._sources[label], int(self.size.value)",
        "source, size = self._sources[label], 32",
        (f"{WIRING}::test_explorer_images_and_size_reach_stylize",),
    ),
    Mutant(
        "gram-gatys-divisor",
        "nstlib/loss/functional.py",
        '"gatys": 2.0 * n * m',
        '"gatys": float(n * m)',
        ("tests/test_losses.py",),
    ),
    Mutant(
        "tv-p-ignored",
        "nstlib/loss/functional.py",
        "    if p == 1:\n        dy, dx = dy.abs(), dx.abs()",
        "    if True:\n        dy, dx = dy.abs(), dx.abs()",
        ("tests/test_losses.py",),
    ),
    Mutant(
        "match-colour-method-ignored",
        "nstlib/algorithms/colour.py",
        '    if method == "cholesky":',
        "    if True:",
        ("tests/test_colour.py",),
    ),
    # Not a mutant: combine_luminance ignoring ``space`` is equivalent (YIQ and YCbCr share the Y row, and their
    # chroma pairs span the same plane of colours with no luminance, so Y plus either pair gives the same RGB).
    Mutant(
        "estimate-precision-ignored",
        "nstlib/optim/memory.py",
        "    act = _BYTES[precision]",
        "    act = 4",
        ("tests/test_perf_paths.py",),
    ),
    Mutant(
        "estimate-lbfgs-history-ignored",
        "nstlib/optim/memory.py",
        "opt = (2 * history_size + 6) * numel * 4",
        "opt = 6 * numel * 4",
        ("tests/test_perf_paths.py",),
    ),
    Mutant(
        "load-image-size-ignored",
        "nstlib/images.py",
        "        if (w, h) != image.size:\n            image = image.resize(",
        "        if False:\n            image = image.resize(",
        ("tests/test_images.py",),
    ),
    Mutant(
        "lesson-quick-size-ignored",
        "nstlib/course/lesson.py",
        '"quick": (quick_size, quick_steps)',
        '"quick": (64, quick_steps)',
        ("tests/test_lesson.py",),
    ),
    Mutant(
        "exercise-stub-raises-through",
        "nstlib/course/check/_core.py",
        "    except NotImplementedError:\n        raise NotAnswered from None\n    except Exception as exc:",
        "    except Exception as exc:",
        ("tests/test_exercises.py::test_a_stub_is_not_yet_even_inside_a_checkers_own_try",),
    ),
    Mutant(
        "exercise-hint-dropped",
        "nstlib/course/check/_core.py",
        "if not result.ok and not result.hint:",
        "if False:",
        ("tests/test_exercises.py::test_a_stub_is_not_yet_even_inside_a_checkers_own_try",),
    ),
    Mutant(
        "lesson-laptop-size-ignored",
        "nstlib/course/lesson.py",
        '"laptop": (laptop_size or size // 2',
        '"laptop": (size // 2',
        ("tests/test_lesson.py::test_laptop_sizes_and_a_bad_size_name",),
    ),
    Mutant(
        "lesson-paper-size-everywhere",
        "nstlib/course/lesson.py",
        'return "paper" if device.type == "cuda" else "laptop"',
        'return "paper"',
        ("tests/test_lesson.py::test_sizes_follow_the_device_unless_asked",),
    ),
    Mutant(
        "dream-step-size-ignored",
        "nstlib/algorithms/dream.py",
        "lr=step_size,",
        "lr=0.01,",
        ("tests/test_dream.py::test_matches_a_hand_written_octave_loop",),
    ),
    Mutant(
        "dream-jitter-ignored",
        "nstlib/algorithms/dream_gradient.py",
        "torch.randint(-jitter, jitter + 1,",
        "torch.randint(-32, 33,",
        ("tests/test_dream.py::test_matches_a_hand_written_octave_loop",),
    ),
    # -- checkers on another CPU's rounding -------------------------------------------------------------------
    Mutant(
        "checker-rounding-floor-dropped",
        "nstlib/course/check/_core.py",
        "    return eps * size\n",
        "    return 0.0\n",
        ("tests/test_exercises.py::test_verdicts_survive_rounding",),
    ),
    Mutant(
        "checker-exact-zero-floor",
        "nstlib/course/check/statistics.py",
        "if abs(floor) <= 1e-6 * min(floors.values()):",
        "if floor == 0.0:",
        ("tests/test_exercises.py::test_verdicts_survive_rounding",),
    ),
    # -- the book (tools/build_book.py, tools/book_site.py) ---------------------------------------------------------
    Mutant(
        "book-math-left-for-mathjax",
        "tools/book_site.py",
        'return mathml(body, "inline")',
        'return f"${body}$"',
        (f"{BOOK}::test_formulas_become_mathml_and_no_tex_is_left",),
    ),
    Mutant(
        "book-check-ignores-anchors",
        "tools/book_site.py",
        "if not names & ids.get(target, set()):",
        "if False:",
        (f"{BOOK}::test_the_site_check_finds_every_kind_of_breakage",),
    ),
    Mutant(
        "book-widgets-kept",
        "tools/book_site.py",
        'if WIDGET in output.get("data", {}):',
        "if False:",
        (f"{BOOK}::test_widget_outputs_become_a_note_and_the_rest_is_kept",),
    ),
    Mutant(
        "book-rerun-ignored",
        "tools/build_book.py",
        "if cached.exists() and not args.rerun:",
        "if cached.exists():",
        (f"{BOOK}::test_one_lesson_is_executed_in_its_mode_then_reused_then_rerun",),
    ),
    Mutant(
        "book-weights-ignored",
        "tools/build_book.py",
        'env["NSTLIB_WEIGHTS"] = weights',
        "pass",
        (
            f"{BOOK}::test_the_kernels_see_the_mode_and_the_inline_backend",
            f"{BOOK}::test_one_lesson_is_executed_in_its_mode_then_reused_then_rerun",
        ),
    ),
    Mutant(
        "book-timeout-ignored",
        "tools/build_book.py",
        "            timeout=timeout,\n",
        "            timeout=3600,\n",
        (f"{BOOK}::test_a_cell_past_the_timeout_stops_the_build_with_a_message",),
    ),
)


def apply(mutant: Mutant, root: Path) -> None:
    path = root / mutant.file
    text = path.read_text(encoding="utf-8")
    count = text.count(mutant.old)
    if count != 1:
        raise SystemExit(f"{mutant.name}: the text to replace occurs {count} times in {mutant.file} (must be once)")
    path.write_text(text.replace(mutant.old, mutant.new), encoding="utf-8")


def _copy(to: Path) -> None:
    for part in ("nstlib", "tests", "images", "solutions", "notebooks", "tools", "gallery"):
        shutil.copytree(ROOT / part, to / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", to / "pyproject.toml")


def _pytest(root: Path, tests: tuple[str, ...]) -> int:
    env = {
        **os.environ,
        "PYTHONPATH": str(root),
        "NSTLIB_WEIGHTS": "random",
        "NSTLIB_OFFLINE": "1",
        "NSTLIB_QUICK": "1",
        "MPLBACKEND": "Agg",
    }
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    return done.returncode


def main(args: list[str]) -> int:
    prefixes = [a for a in args if not a.startswith("tests/")]
    override = tuple(a for a in args if a.startswith("tests/"))
    chosen = [m for m in MUTANTS if not prefixes or m.name.startswith(tuple(prefixes))]
    if override:
        chosen = [m._replace(tests=override) for m in chosen]
    with tempfile.TemporaryDirectory(prefix="nst-mutants-") as tmp:
        clean = Path(tmp) / "clean"
        _copy(clean)
        union = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
        if _pytest(clean, union) != 0:
            print("the unmutated code fails the selected tests; fix that first", file=sys.stderr)
            return 2
        survived = 0
        for mutant in chosen:
            scratch = Path(tmp) / mutant.name
            shutil.copytree(clean, scratch)
            apply(mutant, scratch)
            start = time.perf_counter()
            code = _pytest(scratch, mutant.tests)
            verdict = "killed" if code == 1 else "SURVIVED" if code == 0 else f"error (pytest exit {code})"
            survived += code == 0
            print(
                f"{verdict:10s} {mutant.name:36s} {time.perf_counter() - start:5.1f} s  "
                f"{', '.join(t.split('::')[-1] for t in mutant.tests)}",
                flush=True,
            )
            shutil.rmtree(scratch)
    print(f"{len(chosen) - survived} of {len(chosen)} mutants killed")
    return 1 if survived else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
