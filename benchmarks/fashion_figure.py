"""Redraw ``docs/fashion.png`` from what the shipped model cards and evaluation files record.

Two panels, so that nothing unlike is compared:

- **unconditional priors**: the Fréchet distance (feature network) of 1,000 samples per lap, as each
  run evaluated itself (the lap tables of ``checkpoints/*/README.md``): EM-MMPS, DiffEM's
  unconditional prior (its own laps, after its conditional model) and the clean-data reference,
  with the Gaussian lap 0 as a line; the 10,000-sample figures of the final laps
  (``benchmarks/results/fashion-h100.json``) as separate markers, since fewer samples give a
  larger FD;
- **DiffEM's conditional models**: the FD of their *aggregate posterior*, samples conditioned on
  held-out observations, which is not a prior and can come out below the clean-data prior.

    python benchmarks/fashion_figure.py
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = ROOT / "checkpoints"
FD_COLUMN = re.compile(r"FD \(features, 1,000 samples\)")

PRIORS = {"em-mmps-fashion-mask75": ("EM-MMPS (mask 75 %)", "em-mmps-mask"),
          "diffem-fashion-mask75-prior": ("DiffEM's prior (mask 75 %; CPU, laps after its conditional model)", None),
          "reference-fashion-clean": ("clean-data reference (upper bound)", "reference")}
CONDITIONALS = {"diffem-fashion-mask75": "DiffEM conditional, mask 75 %", "diffem-fashion-blur2": "DiffEM conditional, blur"}


def lap_fds(card: Path) -> list[float]:
    """The 1,000-sample FD of every lap, from a model card's lap table (lap 0 first)."""
    lines = card.read_text(encoding="utf-8").splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| lap |") and FD_COLUMN.search(line))
    column = [c.strip() for c in lines[header].strip("|").split("|")].index("FD (features, 1,000 samples)")
    values = []
    for line in lines[header + 2:]:
        if not line.startswith("|"):
            break
        values.append(float(line.strip("|").split("|")[column]))
    return values


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    final = json.loads((ROOT / "benchmarks" / "results" / "fashion-h100.json").read_text())["models"]
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6), sharey=True)
    gaussian = lap_fds(CHECKPOINTS / "em-mmps-fashion-mask75" / "README.md")[0]
    for axis in (left, right):
        axis.axhline(gaussian, color="grey", linestyle=":", label=f"Gaussian, lap 0 ({gaussian:.0f})")
    for name, (label, key) in PRIORS.items():
        values = lap_fds(CHECKPOINTS / name / "README.md")
        line, = left.plot(range(len(values)), values, marker="o", label=label)
        big = (final.get(key or "", {}).get("prior") or {}).get("frechet_features") if key else None
        if big is not None:
            left.plot([len(values) - 1], [big], marker="*", markersize=14, color=line.get_color(), linestyle="none",
                      label=f"  its last lap, 10,000 samples: {big:.1f}")
    left.set_title("Unconditional priors (FD of 1,000 samples per lap; stars: 10,000)")
    for name, label in CONDITIONALS.items():
        values = lap_fds(CHECKPOINTS / name / "README.md")
        right.plot(range(len(values)), values, marker="s", label=label)
    right.set_title("DiffEM conditional models: aggregate posterior\n(samples given held-out observations, not a prior)")
    for axis in (left, right):
        axis.set_yscale("log")
        axis.set_xlabel("EM lap")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    left.set_ylabel("Fréchet distance (feature net)")
    figure.suptitle("Fashion-MNIST, learned from corrupted observations only (the shipped checkpoints' own records)")
    figure.tight_layout()
    out = ROOT / "docs" / "fashion.png"
    figure.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
