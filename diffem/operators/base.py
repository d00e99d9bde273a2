r"""Linear corruption operators (the "physics" of an inverse problem, as in ``deepinv``).

An observation is ``y = A x + eta`` with ``eta ~ N(0, sigma_y^2 I)`` on the observed coordinates.
Every operator gives

- ``forward(x) = A x``, batched over the first axis;
- ``adjoint(y) = A^T y``; by default by autograd, as ``A^T y = grad_x <A x, y>`` (exact because
  ``A`` is linear), so a new corruption only needs its forward map;
- ``observe(x, generator)``, a noisy observation ``A x + sigma_y eta``;
- ``condition(y)``, the channels a conditional (DiffEM) denoiser reads, of fixed width.

Operators whose corruption is random (a random mask, a random projection) hold per-sample
parameters, drawn by :meth:`LinearOperator.draw`; a batch of one broadcasts over any batch.
Hyper-parameters round-trip through JSON with :meth:`config` / :func:`operator_from_config`;
per-sample tensors through :meth:`tensors` / :meth:`with_tensors`.
"""

from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from ..rng import randn

OPERATORS: dict[str, type["LinearOperator"]] = {}


@dataclass(frozen=True)
class SpecParameter:
    """The one hyper-parameter a CLI spec sets (``mask:0.75`` sets ``ratio``), with the range a control offers."""

    name: str
    default: float
    low: float
    high: float
    step: float


def register_operator(cls: type["LinearOperator"]) -> type["LinearOperator"]:
    """Class decorator: make an operator available by its ``name`` (CLI, app, configs)."""
    if cls.name in OPERATORS:
        raise ValueError(f"operator name {cls.name!r} is registered twice")
    cls.spec_parameter()  # a spec argument without a control range fails here, not in the app
    OPERATORS[cls.name] = cls
    return cls


class LinearOperator(ABC):
    """Base class of linear corruptions ``y = A x + sigma_y eta``."""

    #: registry key, also the prefix of the CLI spec (``"mask:0.75"``)
    name: ClassVar[str]
    #: ``"image"`` for ``(B, C, H, W)`` inputs, ``"vector"`` for ``(B, n)``
    domain: ClassVar[str] = "image"
    #: the hyper-parameter set by the CLI spec's value (``mask:0.75`` sets ``ratio``), if any
    spec_argument: ClassVar[str | None] = None
    #: ``(low, high, step)`` that a slider for ``spec_argument`` offers (the app's controls)
    spec_range: ClassVar[tuple[float, float, float] | None] = None
    #: a one-line description for the CLI and the app
    summary: ClassVar[str] = ""
    #: a few plain words for a visitor ("random pixels missing"); the name if empty
    title: ClassVar[str] = ""
    #: whether the app and ``restore`` offer it as a corruption to apply (not when its parameters
    #: can only come with imported observations, as blur kernels do)
    offered: ClassVar[bool] = True

    @classmethod
    def spec_parameter(cls) -> SpecParameter | None:
        """``spec_argument`` with its default (from ``__init__``) and its control range, if the operator has one."""
        if cls.spec_argument is None:
            return None
        if cls.spec_range is None:
            raise TypeError(f"operator {cls.name!r} sets spec_argument but no spec_range")
        default = inspect.signature(cls.__init__).parameters[cls.spec_argument].default
        low, high, step = cls.spec_range
        return SpecParameter(cls.spec_argument, float(default), float(low), float(high), float(step))

    def __init__(self, sigma_y: float = 0.01) -> None:
        sigma_y = float(sigma_y)
        if not math.isfinite(sigma_y) or sigma_y <= 0:
            raise ValueError(f"sigma_y must be a positive finite number, got {sigma_y}")
        self.sigma_y = sigma_y

    # --- the linear map -------------------------------------------------------------------
    @abstractmethod
    def forward(self, x: Tensor) -> Tensor:
        """``A x`` for a batch ``x``."""

    def __call__(self, x: Tensor) -> Tensor:
        return self.forward(x)

    def input_shape(self, y_shape: torch.Size) -> torch.Size:
        """The shape of ``x`` whose image has shape ``y_shape`` (same shape by default)."""
        return torch.Size(y_shape)

    def adjoint(self, y: Tensor) -> Tensor:
        """``A^T y``, by autograd through :meth:`forward`."""
        x0 = torch.zeros(self.input_shape(y.shape), dtype=y.dtype, device=y.device)
        _, vjp = torch.func.vjp(self.forward, x0)
        return vjp(y)[0]

    # --- observations ---------------------------------------------------------------------
    def preview(self, y: Tensor) -> Tensor:
        """``y`` drawn in ``x``'s coordinates for a person to look at: ``y`` itself where it has ``x``'s
        shape (masks, blur, noise), else ``A^T y``."""
        return y if self.input_shape(y.shape) == y.shape else self.adjoint(y)

    def missing(self, y: Tensor) -> Tensor | None:
        """Where ``x``'s pixels are not observed at all (1 = missing), for operators that drop pixels."""
        return None

    def noise_support(self, y: Tensor) -> Tensor | None:
        """Where observation noise lives (``None``: everywhere)."""
        return None

    def observe(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """A noisy observation ``y = A x + sigma_y eta``."""
        y = self.forward(x)
        noise = self.sigma_y * randn(y.shape, generator, y)
        support = self.noise_support(y)
        return y + (noise if support is None else support * noise)

    # --- conditioning for DiffEM ------------------------------------------------------------
    def condition(self, y: Tensor) -> Tensor:
        """Channels for a conditional denoiser: ``[A^T y, A^T A 1]`` for images."""
        back = self.adjoint(y)
        weight = self.adjoint(self.forward(torch.ones_like(back)))
        return torch.cat([back, weight], dim=1)

    def condition_channels(self, event_shape: Sequence[int]) -> int:
        """Width of :meth:`condition`'s output for inputs of ``event_shape``."""
        return 2 * int(event_shape[0])

    # --- randomness and parameters ------------------------------------------------------
    def draw(self, batch: int, event_shape: Sequence[int], generator: torch.Generator | None = None,
             device: torch.device | str = "cpu") -> "LinearOperator":
        """An operator with per-sample random parameters for a batch (itself if deterministic)."""
        return self

    def tensors(self) -> dict[str, Tensor]:
        """Per-sample parameter tensors (empty for deterministic operators)."""
        return {}

    def with_tensors(self, tensors: dict[str, Tensor]) -> "LinearOperator":
        """The same operator with the given per-sample parameters."""
        if tensors:
            raise ValueError(f"{self.name} takes no parameter tensors, got {sorted(tensors)}")
        return self

    def select(self, index: Tensor | slice) -> "LinearOperator":
        """The operator for a sub-batch (parameters indexed along the batch axis)."""
        tensors = self.tensors()
        if not tensors:
            return self
        return self.with_tensors({k: (v if v.shape[0] == 1 else v[index]) for k, v in tensors.items()})

    def to(self, device: torch.device | str) -> "LinearOperator":
        tensors = self.tensors()
        return self.with_tensors({k: v.to(device) for k, v in tensors.items()}) if tensors else self

    # --- configuration ------------------------------------------------------------------
    def hyperparameters(self) -> dict[str, Any]:
        """JSON-serialisable hyper-parameters other than ``sigma_y``."""
        return {}

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "sigma_y": self.sigma_y, **self.hyperparameters()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({args})"


def require_image(x: Tensor, name: str) -> None:
    if x.ndim != 4:
        raise ValueError(f"{name} acts on image batches of shape (B, C, H, W), got {tuple(x.shape)}")


def require_batch(x: Tensor, params: Tensor, name: str) -> None:
    if params.shape[0] not in (1, x.shape[0]):
        raise ValueError(f"{name}: parameters are for a batch of {params.shape[0]}, input has batch {x.shape[0]}")


def operator_from_config(config: dict[str, Any]) -> LinearOperator:
    """Rebuild an operator (without per-sample tensors) from :meth:`LinearOperator.config`."""
    config = dict(config)
    name = config.pop("name", None)
    if name not in OPERATORS:
        raise ValueError(f"unknown operator {name!r}; known operators: {', '.join(sorted(OPERATORS))}")
    try:
        return OPERATORS[name](**config)
    except TypeError as error:
        raise ValueError(f"bad configuration for operator {name!r}: {error}") from None


def parse_corruption(spec: str, sigma_y: float = 0.01) -> LinearOperator:
    """Parse a CLI spec such as ``mask:0.75``, ``blur:1.5``, ``downsample:2`` or ``denoise``."""
    name, _, value = spec.strip().partition(":")
    if name not in OPERATORS:
        raise ValueError(f"unknown corruption {name!r}; known: {', '.join(sorted(OPERATORS))}")
    cls = OPERATORS[name]
    if not value:
        return cls(sigma_y=sigma_y)
    if cls.spec_argument is None:
        raise ValueError(f"corruption {name!r} takes no value, got {spec!r}")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"corruption {spec!r}: {value!r} is not a number") from None
    return cls(sigma_y=sigma_y, **{cls.spec_argument: number})
