r"""Posterior denoisers: ``E[x | x_t, y]`` in place of ``E[x | x_t]`` inside any sampler.

By Bayes, ``grad log p(x_t | y) = grad log p(x_t) + grad log p(y | x_t)``; with Tweedie's formula
the posterior denoiser is ``E[x | x_t, y] = E[x | x_t] + sigma_t^2 grad_{x_t} log p(y | x_t)``.
Each method here approximates that likelihood term differently (MMPS, DPS, PiGDM, ...) or
learns the posterior denoiser directly (DiffEM's conditional model).

The interface every posterior method implements (:class:`PosteriorDenoiser`):

- ``forward(x_t, sigma)``: the method's estimate of ``E[x | x_t, y]``, clamped to the data range
  when the method was built with ``clamp=(low, high)`` (:func:`~diffem.denoisers.clamped.clamp_estimate`);
- ``transition(sampler, x_t, sigma_t, sigma_s, generator)``: one reverse step, returning
  ``(x_s, denoised)``. By default the sampler's own update around ``forward``; a method that acts
  on the state (DPS's guidance on ``x_t``, DAPS's decoupled annealing, DiffPIR's noise mixing)
  overrides it. Samplers call it through :func:`diffem.samplers.base.Sampler.iterate`, and the
  final denoising at ``sigma_min`` calls ``forward`` only;
- ``cost``: counters of network evaluations and vector-Jacobian products spent so far (one
  batched call counts once), and ``step_cost(options)``: what one sampler step costs, so runs can
  be matched at equal cost (:func:`run_cost`).

Methods register by name with :func:`register_posterior` (``POSTERIORS``), each with an
``Options`` dataclass (:mod:`diffem.options`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor, nn

from ..denoisers.base import Denoiser, batch_sigma
from ..denoisers.clamped import Clamp, clamp_estimate
from ..operators import LinearOperator
from ..options import check_options

if TYPE_CHECKING:
    from ..samplers.base import Sampler

POSTERIORS: dict[str, type["PosteriorDenoiser"]] = {}


def register_posterior(cls: type["PosteriorDenoiser"]) -> type["PosteriorDenoiser"]:
    """Class decorator: make a posterior method available by its ``name`` (CLI, app, eval)."""
    if cls.name in POSTERIORS:
        raise ValueError(f"posterior method {cls.name!r} is registered twice")
    if not dataclasses.is_dataclass(cls.Options):
        raise TypeError(f"{cls.__name__}.Options must be a dataclass")
    POSTERIORS[cls.name] = cls
    return cls


@dataclass
class Cost:
    """Network evaluations and vector-Jacobian products (one batched call counts once)."""

    network: int = 0
    vjps: int = 0

    @property
    def total(self) -> int:
        """The cost unit of the equal-cost comparison: network evaluations plus VJPs."""
        return self.network + self.vjps

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(self.network + other.network, self.vjps + other.vjps)

    def __mul__(self, times: int) -> "Cost":
        return Cost(self.network * times, self.vjps * times)

    def reset(self) -> None:
        self.network = self.vjps = 0


def validated_observation(operator: LinearOperator, y: Tensor) -> Tensor:
    """``y`` after checking it is finite (shape is checked at the first call)."""
    if not isinstance(y, Tensor):
        raise TypeError(f"the observation must be a tensor, got {type(y).__name__}")
    if not bool(torch.isfinite(y).all()):
        raise ValueError(f"{operator.name}: the observation contains NaN or infinite values")
    return y


def check_shapes(operator: LinearOperator, y: Tensor, x_t: Tensor) -> None:
    """Raise a clear error if ``y`` does not match ``A x_t`` in shape."""
    expected = operator.forward(torch.zeros_like(x_t)).shape
    if y.shape[1:] != expected[1:] or y.shape[0] not in (1, x_t.shape[0]):
        raise ValueError(
            f"{operator.name}: observation of shape {tuple(y.shape)} does not match A x of shape {tuple(expected)}"
        )


class PosteriorDenoiser(nn.Module):
    """Base class: a denoiser bound to an observation ``y`` of ``operator`` (see the module docstring)."""

    name: ClassVar[str]
    #: one line for the CLI and the app
    summary: ClassVar[str] = ""
    #: the paper the method follows
    source: ClassVar[str] = ""
    #: ``"unconditional"`` (around a prior's denoiser) or ``"conditional"`` (a DiffEM model)
    needs: ClassVar[str] = "unconditional"
    #: whether the method needs an observation and its operator
    observes: ClassVar[bool] = True

    @dataclass(frozen=True)
    class Options:
        pass

    def __init__(self, denoiser: Denoiser, operator: LinearOperator | None, y: Tensor | None,
                 clamp: Clamp = None) -> None:
        super().__init__()
        self.denoiser = denoiser
        self.operator = operator
        if self.observes:
            if operator is None or y is None:
                raise ValueError(f"{self.name or type(self).__name__} needs an observation and its operator")
            y = validated_observation(operator, y)
        self.y = y
        self.clamp = clamp
        self.cost = Cost()
        self._checked_shape: torch.Size | None = None

    # --- construction from options --------------------------------------------------------
    @classmethod
    def from_options(cls, denoiser: Denoiser, operator: LinearOperator | None, y: Tensor | None,
                     options: Any, clamp: Clamp = None) -> "PosteriorDenoiser":
        """The method with ``options`` (an instance of ``cls.Options``), checked against its bounds."""
        if not isinstance(options, cls.Options):
            raise TypeError(f"{cls.name} takes {cls.Options.__qualname__}, got {type(options).__name__}")
        check_options(options)
        return cls(denoiser, operator, y, **dataclasses.asdict(options), clamp=clamp)

    @classmethod
    def step_cost(cls, options: Any) -> Cost:
        """Network evaluations and VJPs of one sampler step with ``options``."""
        return Cost(1, 0)

    @classmethod
    def final_cost(cls, options: Any) -> Cost:
        """Cost of the final ``forward`` at ``sigma_min`` (a method acting on the state may spend less there)."""
        return cls.step_cost(options)

    # --- what samplers call -----------------------------------------------------------------
    def estimate(self, x_t: Tensor, sigma: Tensor) -> Tensor:
        """The method's ``E[x | x_t, y]`` (unclamped); ``sigma`` has shape ``(B,)``. Every method defines it."""
        raise NotImplementedError(f"{type(self).__name__} must define estimate()")

    def forward(self, x_t: Tensor, sigma: Tensor | float) -> Tensor:
        self.check_input(x_t)
        return clamp_estimate(self.estimate(x_t, batch_sigma(sigma, x_t)), self.clamp).detach()

    def transition(self, sampler: "Sampler", x_t: Tensor, sigma_t: Tensor, sigma_s: Tensor,
                   generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """One reverse step ``sigma_t -> sigma_s``: ``(x_s, denoised)``; the sampler's update by default."""
        denoised = self(x_t, sigma_t.expand(x_t.shape[0]))
        return sampler.update(self, x_t, denoised, sigma_t, sigma_s, generator), denoised

    # --- counted building blocks ----------------------------------------------------------
    def network(self, x_t: Tensor, sigma: Tensor, *condition: Tensor) -> Tensor:
        """One evaluation of the wrapped network (counted)."""
        self.cost.network += 1
        return self.denoiser(x_t, sigma, *condition)

    def vjp(self, output: Tensor, inputs: Tensor, cotangent: Tensor) -> Tensor:
        """``cotangent^T d output / d inputs`` by one vector-Jacobian product (counted)."""
        self.cost.vjps += 1
        return torch.autograd.grad(output, inputs, cotangent, retain_graph=True)[0]

    def check_input(self, x_t: Tensor) -> None:
        """:func:`check_shapes` once per input shape (it costs one pass of the operator)."""
        if self.observes and x_t.shape != self._checked_shape:
            assert self.operator is not None and self.y is not None
            check_shapes(self.operator, self.y, x_t)
            self._checked_shape = x_t.shape

    def denoise_tracked(self, x_t: Tensor, sigma: Tensor | float) -> tuple[Tensor, Tensor, Tensor]:
        """``(x_t, sigma, d(x_t, sigma))`` with ``x_t`` a fresh leaf that ``d`` is differentiable in."""
        self.check_input(x_t)
        sigma = batch_sigma(sigma, x_t)
        with torch.enable_grad():
            x_t = x_t.detach().requires_grad_(True)
            return x_t, sigma, self.network(x_t, sigma)

    def observed(self, like: Tensor) -> Tensor:
        """``y`` broadcast to the batch of ``like``."""
        assert self.y is not None
        return self.y if self.y.shape[0] == like.shape[0] else self.y.expand(like.shape[0], *self.y.shape[1:])


#: the former name of the base class, kept for callers outside the library
ObservationGuidance = PosteriorDenoiser


def run_cost(method: type[PosteriorDenoiser], options: Any, steps: int) -> Cost:
    """Cost of one sampler run of ``steps`` steps plus the final denoising (one ``forward``)."""
    return method.step_cost(options) * steps + method.final_cost(options)


def steps_for_budget(method: type[PosteriorDenoiser], options: Any, budget: int) -> int:
    """The most sampler steps (at least 1) whose run costs at most ``budget`` network calls + VJPs."""
    per_step = method.step_cost(options).total
    final = method.final_cost(options).total
    return max(1, (budget - final) // per_step)
