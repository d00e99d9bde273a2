r"""Choosing a posterior method by name: the one place the CLI and the app build ``E[x | x_t, y]``.

- ``mmps``: moment matching around an unconditional prior (EM-MMPS's E-step);
- ``dps``: diffusion posterior sampling around an unconditional prior (baseline);
- ``conditional``: a DiffEM conditional model, one network call a step;
- ``prior``: no observation (unconditional generation).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from .bundle import PriorBundle
from .denoisers import Denoiser
from .guidance import ConditionalPosteriorDenoiser, DPSDenoiser, MMPSDenoiser
from .operators import LinearOperator, served_operators

POSTERIOR_METHODS = ("mmps", "dps", "conditional", "prior")


@dataclass(frozen=True)
class PosteriorOptions:
    solver: str = "gmres"
    iterations: int = 1
    zeta: float = 1.0
    reuse_products: bool = True  # False: MMPS spends k + 1 VJPs, as the official codes (cost reference)


def make_posterior(bundle: PriorBundle, method: str, operator: LinearOperator | None, y: Tensor | None,
                   options: PosteriorOptions = PosteriorOptions()) -> Denoiser:
    """The denoiser a sampler should call for ``method`` with this prior and observation."""
    if method not in POSTERIOR_METHODS:
        raise ValueError(f"unknown posterior method {method!r}; choose one of {', '.join(POSTERIOR_METHODS)}")
    conditional = bundle.kind == "conditional"
    if method == "conditional":
        if not conditional:
            raise ValueError("conditional sampling needs a conditional (DiffEM) model; this prior is "
                             f"{bundle.kind}: use mmps or dps")
    elif conditional:
        raise ValueError(f"{method} needs an unconditional prior; this is a conditional model: use conditional")
    if method == "prior":
        return bundle.denoiser
    if operator is None or y is None:
        raise ValueError(f"{method} needs an observation and its operator")
    if conditional and bundle.operators and operator.name not in served_operators(bundle.operators):
        raise ValueError(f"this conditional model was trained for {', '.join(bundle.operators)}, "
                         f"not {operator.name}; use an unconditional prior with mmps")
    if method == "mmps":
        return MMPSDenoiser(bundle.denoiser, operator, y, options.solver, options.iterations,
                            options.reuse_products)
    if method == "dps":
        return DPSDenoiser(bundle.denoiser, operator, y, options.zeta)
    return ConditionalPosteriorDenoiser(bundle.denoiser, operator, y)
