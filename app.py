"""diffem demo app (Gradio). For now it lists the priors found in ``checkpoints/``.

The restoration, comparison and training tabs are tracked as their own issue; this page is
what ``make run`` serves until then. Run: ``python app.py [--host H] [--port P]``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import gradio as gr

from diffem.bundle import list_bundles
from diffem.operators import OPERATORS
from diffem.samplers import SAMPLERS

CHECKPOINTS = Path(__file__).resolve().parent / "checkpoints"


def priors_table() -> list[list[str]]:
    rows = []
    for name, config in list_bundles(CHECKPOINTS):
        info = config.get("info", {})
        rows.append([name, config["kind"], "x".join(map(str, config["event_shape"])),
                     str(info.get("method", "")), str(info.get("corruption", ""))])
    return rows


def build_demo() -> gr.Blocks:
    rows = priors_table()
    with gr.Blocks(title="diffem") as demo:
        gr.Markdown("# diffem: diffusion priors learned from corrupted observations")
        if rows:
            gr.Dataframe(value=rows, headers=["prior", "kind", "shape", "method", "trained on"], interactive=False)
        else:
            gr.Markdown(f"**No prior is installed yet**: `{CHECKPOINTS.name}/` holds no bundle. "
                        "Train one with the EM module or add a bundle folder (see the README).")
        gr.Markdown("Corruptions: " + ", ".join(f"`{n}` ({c.summary})" for n, c in sorted(OPERATORS.items())))
        gr.Markdown("Samplers: " + ", ".join(f"`{n}` ({c.summary})" for n, c in sorted(SAMPLERS.items())))
    return demo


def main() -> None:
    parser = argparse.ArgumentParser(description="diffem demo app")
    parser.add_argument("--host", default=os.environ.get("DIFFEM_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("DIFFEM_PORT", os.environ.get("PORT", "7860"))))
    args = parser.parse_args()
    build_demo().queue(max_size=16, default_concurrency_limit=1).launch(server_name=args.host, server_port=args.port)


if __name__ == "__main__":
    main()
