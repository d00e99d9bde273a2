"""Make a small synthetic set of *corrupted* colour images: shapes with missing pixels, and their masks.

It stands in for your own data in the README walk-through ("learning a prior from your own
masked images") and in the tests. It writes

- ``OUT/images/shape-NNNN.png``: the observed images (missing pixels painted black);
- ``OUT/masks/shape-NNNN.png``: their masks (white = observed, black = missing);
- ``OUT/metadata.csv``: the same pairs as a Hugging Face ``imagefolder`` (``file_name``, ``mask_file_name``);
- with ``--npz FILE``: the same observations as arrays ``y`` and ``mask``;
- with ``--clean``: ``OUT/clean/``, the images before corruption, to judge restorations by eye
  (training never reads them).

Each image has one to three discs, squares or triangles of random colours on a dark background;
each mask hides a random fraction of the pixels (``--missing``) and, in one image out of three, a
box as well.

    python examples/make_masked_shapes.py --out my-shapes --count 512
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def shape_picture(rng: np.random.Generator, size: int) -> Image.Image:
    background = tuple(int(v) for v in rng.integers(0, 60, 3))
    picture = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(picture)
    for _ in range(int(rng.integers(1, 4))):
        colour = tuple(int(v) for v in rng.integers(80, 256, 3))
        radius = float(rng.uniform(0.12, 0.3)) * size
        cx, cy = rng.uniform(radius, size - radius, 2)
        kind = int(rng.integers(0, 3))
        if kind == 0:
            draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=colour)
        elif kind == 1:
            draw.rectangle((cx - radius, cy - radius, cx + radius, cy + radius), fill=colour)
        else:
            draw.polygon([(cx, cy - radius), (cx - radius, cy + radius), (cx + radius, cy + radius)], fill=colour)
    return picture


def shape_mask(rng: np.random.Generator, size: int, missing: float) -> np.ndarray:
    """``(size, size)`` of 0 (missing) / 1 (observed)."""
    mask = (rng.random((size, size)) >= missing).astype(np.uint8)
    if rng.random() < 1 / 3:
        side = int(rng.integers(size // 5, size // 2))
        top, left = rng.integers(0, size - side, 2)
        mask[top:top + side, left:left + side] = 0
    return mask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder to write")
    parser.add_argument("--count", type=int, default=256, help="how many images")
    parser.add_argument("--size", type=int, default=32, help="image side in pixels")
    parser.add_argument("--missing", type=float, default=0.5, help="fraction of pixels missing")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--npz", help="also write the observations as one .npz file (y, mask)")
    parser.add_argument("--clean", action="store_true", help="also write the clean images to OUT/clean/")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    out = Path(args.out)
    for folder in ("images", "masks") + (("clean",) if args.clean else ()):
        (out / folder).mkdir(parents=True, exist_ok=True)
    observed, masks, rows = [], [], ["file_name,mask_file_name"]
    for index in range(args.count):
        clean = np.asarray(shape_picture(rng, args.size))
        mask = shape_mask(rng, args.size, args.missing)
        seen = clean * mask[..., None]
        name = f"shape-{index:04d}.png"
        Image.fromarray(seen).save(out / "images" / name)
        Image.fromarray(mask * 255).save(out / "masks" / name)
        if args.clean:
            Image.fromarray(clean).save(out / "clean" / name)
        rows.append(f"images/{name},masks/{name}")
        observed.append(seen)
        masks.append(mask)
    (out / "metadata.csv").write_text("\n".join(rows) + "\n")
    if args.npz:
        np.savez_compressed(args.npz, y=np.stack(observed), mask=np.stack(masks))
    print(f"wrote {args.count} masked {args.size}x{args.size} colour images and their masks to {out}")


if __name__ == "__main__":
    main()
