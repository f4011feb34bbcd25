"""Train the transfer networks that the kit ships (nstlib.algorithms.pretrained): ``make transfer-nets``.

For each style below: nstlib's own train_transfer_net on HED's trained VGG-16 (the loss network every machine
here has), on the photos of images/ listed in PHOTOS — their licences are read from images/README.md and
recorded — never on tubingen.jpg, which lesson 10 shows as the photo the network has not seen. The weights
are stored in float16 (half the bytes; loading turns them back into float32), and
nstlib/weights/transfer_nets/manifest.json records each file's SHA-256, the settings, the seconds and the
photos with their licences. Seeded: the same machine type gives the same file; another CPU's rounding may
not, so after retraining commit both the .pt files and the manifest.

    python tools/train_transfer_nets.py [--style starry_night] [--steps N]
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nstlib as nst  # noqa: E402
from nstlib.algorithms.pretrained import PRETRAINED_DIR  # noqa: E402
from nstlib.images import write_atomically  # noqa: E402
from nstlib.weights.files import sha256_file  # noqa: E402

PHOTOS = ("chelsea", "astronaut", "coffee", "rocket")  # images/<name>.jpg; tubingen.jpg stays unseen
STYLES = {"starry_night": "starry_night.jpg"}
SETTINGS = dict(
    size=128,  # crops of 128 px, each from a random square of 128 px to the photo's short side (augment)
    steps=3000,
    batch_size=4,
    width=16,
    n_residual=5,
    lr=1e-3,
    tv_weight=60.0,
    seed=0,
    augment=True,
    precision="auto",  # bf16 where native: about 3x faster on a CPU with AMX
)
STYLE_SIDE = 256  # the style image's long side: twice the crops, so that its strokes come out large


def licences() -> dict[str, str]:
    """``{file name: "source — licence"}`` from the table of images/README.md."""
    rows = {}
    for line in (ROOT / "images" / "README.md").read_text(encoding="utf-8").splitlines():
        match = re.match(r"\|\s*`([^`]+)`\s*\|([^|]*)\|([^|]*)\|([^|]*)\|", line)
        if match:
            rows[match[1]] = f"{match[2].strip()}; {match[3].strip()}; licence: {match[4].strip()}"
    return rows


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def train(style_name: str, steps: int) -> dict:
    known = licences()
    photos = [ROOT / "images" / f"{name}.jpg" for name in PHOTOS]
    style_file = ROOT / "images" / STYLES[style_name]
    for path in [*photos, style_file]:
        if path.name not in known:
            raise SystemExit(f"{path.name} has no row in images/README.md: record its source and licence first.")
    settings = {**SETTINGS, "steps": steps}
    style = nst.load_image(style_file, size=STYLE_SIDE)
    start = time.perf_counter()
    result = nst.train_transfer_net(
        style, [nst.load_image(p) for p in photos], weights="hed", device="cpu", progress=True, **settings
    )
    seconds = time.perf_counter() - start
    path = PRETRAINED_DIR / f"{style_name}.pt"
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in result.net.state_dict().items()}
    blob = {"format": "nstlib.TransferNet/1", "config": dict(result.net.config), "state_dict": state}
    write_atomically(path, lambda handle: torch.save(blob, handle), overwrite=True)
    last = result.history["total"][-100:]
    return {
        "file": path.name,
        "sha256": sha256_file(path),
        "style": f"images/{style_file.name}, long side {STYLE_SIDE} px: {known[style_file.name]}",
        "photos": {f"images/{p.name}": known[p.name] for p in photos},
        "unseen": "images/tubingen.jpg (never used in training)",
        "settings": {k: v for k, v in result.settings.items() if k not in ("device",)},
        "final_loss_mean_of_last_100_steps": sum(last) / len(last),
        "seconds": round(seconds),
        "machine": f"{cpu_name()}, torch {torch.__version__}, {torch.get_num_threads()} threads",
        "trained_by": "tools/train_transfer_nets.py (make transfer-nets)",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--style", choices=sorted(STYLES), action="append")
    parser.add_argument("--steps", type=int, default=SETTINGS["steps"])
    args = parser.parse_args()
    manifest_path = PRETRAINED_DIR / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.exists() else {}
    for name in args.style or sorted(STYLES):
        print(f"training the {name} network ({args.steps} steps) ...", flush=True)
        manifest[name] = train(name, args.steps)
        manifest_path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {manifest[name]['file']} ({manifest[name]['seconds']} s), sha256 {manifest[name]['sha256']}")


if __name__ == "__main__":
    main()
