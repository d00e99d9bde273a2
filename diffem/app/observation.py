r"""What a restoration starts from: a picture, an operator ``A`` and an observation ``y = A x + sigma_y eta``.

The picture is taken to the prior's resolution first (``x`` in the model's scale), then observed
with freshly drawn operator parameters (a random mask, a box) from ``seed``. A picture that is
already corrupted (uploaded with its own mask) is taken as ``y = m * x`` directly; its clean image
is then unknown (:func:`take_observed_picture` reads such a picture and its mask file, for the page
and the CLI alike). :func:`observation_picture` is what the model sees, drawn for a person.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from ..bundle import PriorBundle
from ..imaging import painted_missing
from ..operators import OPERATORS, LinearOperator
from ..rng import make_generator
from .inputs import InputError, read_observed


@dataclass
class Observation:
    """``picture`` and ``clean`` are ``(C, H, W)`` pixels in ``[0, 1]``; ``clean`` is None when unknown;
    ``y`` is a batch of one in the model's scale, ``operator`` carries the drawn parameters."""

    picture: Tensor
    clean: Tensor | None
    y: Tensor
    operator: LinearOperator


def corruption_operator(corruption: str, amount: float | None, sigma_y: float, mask: Tensor | None = None) -> LinearOperator:
    """The operator named ``corruption``; ``amount`` sets its spec parameter (``ratio`` of ``mask``...)."""
    if corruption not in OPERATORS:
        raise InputError(f"Unknown corruption {corruption!r}; known: {', '.join(sorted(OPERATORS))}.")
    cls = OPERATORS[corruption]
    options: dict[str, object] = {"sigma_y": sigma_y}
    parameter = cls.spec_parameter()
    if parameter is not None and amount is not None:
        options[parameter.name] = amount
    if corruption == "user-mask":
        if mask is None:
            raise InputError("Draw on the mask canvas first (painted pixels are treated as missing).")
        options["mask"] = mask
    try:
        return cls(**options)
    except ValueError as error:
        raise InputError(str(error)) from None


def observe_picture(bundle: PriorBundle, picture: Tensor, operator: LinearOperator, seed: int) -> Observation:
    """Draw the operator's random parameters and a noisy observation of a clean picture."""
    generator = make_generator(seed)
    x = bundle.scaling.to_model(picture)[None]
    try:
        drawn = operator.draw(1, tuple(x.shape[1:]), generator)
        y = drawn.observe(x, generator)
    except ValueError as error:
        raise InputError(str(error)) from None
    return Observation(picture, picture, y, drawn)


def take_corrupted_picture(bundle: PriorBundle, picture: Tensor, operator: LinearOperator) -> Observation:
    """An already corrupted picture as the observation ``y = A x`` (no noise added); the clean image is unknown."""
    try:
        y = operator.forward(bundle.scaling.to_model(picture)[None])
    except ValueError as error:
        raise InputError(str(error)) from None
    return Observation(picture, None, y, operator)


def take_observed_picture(bundle: PriorBundle, image: str, mask: str, sigma_y: float) -> Observation:
    """An observed image file and its mask file (white = observed) as the observation under ``user-mask``."""
    picture, observed = read_observed(image, mask, bundle.event_shape)
    if not observed.any():
        raise InputError("The mask is all black: no pixel is observed (white = observed, black = missing).")
    return take_corrupted_picture(bundle, picture, corruption_operator("user-mask", None, sigma_y, observed))


def observation_picture(bundle: PriorBundle, observation: Observation) -> Tensor | None:
    """What the model sees, as ``(3, H, W)`` RGB pixels: ``y`` in ``x``'s coordinates, missing pixels in
    :data:`~diffem.imaging.MISSING_COLOUR`. None for vector priors (nothing to draw)."""
    if len(bundle.event_shape) != 3:
        return None
    y = observation.y.to(bundle.device)
    seen = bundle.scaling.to_pixels(observation.operator.preview(y)).clamp(0, 1)[:1].cpu()
    missing = observation.operator.missing(y)
    return painted_missing(seen, None if missing is None else missing[:1].cpu())[0]
