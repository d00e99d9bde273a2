r"""Quality metrics for restorations and priors.

- PSNR on pixels in ``[0, 1]``: ``10 log10(1 / MSE)`` per image.
- SSIM (Wang et al., 2004; Gaussian window 11, sigma 1.5) per image, by ``torchmetrics``.
- Fréchet distance between two sets of features (Heusel et al., 2017)::

      FD = ||mu_1 - mu_2||^2 + tr(S_1 + S_2 - 2 (S_1 S_2)^{1/2}),

  by ``torchmetrics``' ``FrechetInceptionDistance`` with our own feature network in place of
  Inception (any ``nn.Module`` mapping images in ``[0, 1]`` to feature vectors).
- Sinkhorn divergence (Genevay et al., 2018; Feydy et al., 2019) between point clouds, with
  squared-Euclidean cost and log-domain iterations by ``POT``::

      S(a, b) = OT_eps(a, b) - (OT_eps(a, a) + OT_eps(b, b)) / 2.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def psnr(estimate: Tensor, reference: Tensor) -> Tensor:
    """Per-image PSNR in dB of pixel tensors in ``[0, 1]``, shape ``(B, C, H, W)``."""
    mse = ((estimate - reference) ** 2).flatten(1).mean(dim=1).clamp_min(1e-10)
    return 10 * torch.log10(1 / mse)


def ssim(estimate: Tensor, reference: Tensor) -> Tensor:
    """Per-image SSIM of pixel tensors in ``[0, 1]``."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    values = structural_similarity_index_measure(
        estimate.double(), reference.double(), data_range=1.0, reduction="none"
    )
    return values.float()


class FlattenFeatures(nn.Module):
    """Raw pixels as features (a fallback when no feature network is given)."""

    def forward(self, images: Tensor) -> Tensor:
        return images.flatten(1).float()


def frechet_distance(samples: Tensor, reference: Tensor, features: nn.Module | None = None,
                     batch_size: int = 1000) -> float:
    """Fréchet distance between feature statistics of two image sets (pixels in ``[0, 1]``)."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    extractor = features if features is not None else FlattenFeatures()
    # torchmetrics probes the extractor with a CPU image when it is built, so build it on the CPU
    metric = FrechetInceptionDistance(feature=extractor.cpu().eval(), normalize=True,
                                      input_img_size=tuple(samples.shape[1:]))
    metric = metric.to(samples.device).set_dtype(torch.float64)
    with torch.no_grad():
        for images, real in ((reference, True), (samples, False)):
            for start in range(0, images.shape[0], batch_size):
                metric.update(images[start:start + batch_size].float(), real=real)
        return float(metric.compute())


def sinkhorn_divergence(a: Tensor, b: Tensor, reg: float = 1e-3, iterations: int = 1000) -> float:
    """Debiased entropic OT between two point clouds ``(n, d)`` and ``(m, d)`` (uniform weights)."""
    import ot

    a64, b64 = a.detach().double().cpu(), b.detach().double().cpu()

    def entropic_cost(p: Tensor, q: Tensor) -> float:
        cost = torch.cdist(p, q) ** 2
        wp = torch.full((p.shape[0],), 1 / p.shape[0], dtype=torch.float64)
        wq = torch.full((q.shape[0],), 1 / q.shape[0], dtype=torch.float64)
        return float(ot.sinkhorn2(wp, wq, cost, reg, method="sinkhorn_log", numItermax=iterations, stopThr=1e-6))

    return entropic_cost(a64, b64) - 0.5 * (entropic_cost(a64, a64) + entropic_cost(b64, b64))
