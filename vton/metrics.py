"""The image metrics try-on papers report, as plain functions on arrays.

- `psnr`, `ssim`: one result against its ground truth, ``uint8 (H, W, 3)`` each (paired only).
  SSIM is scikit-image's ``structural_similarity`` (7x7 uniform window, mean over the RGB
  channels, ``data_range=255``); PSNR is ``10 log10(255^2 / MSE)`` over all pixels and channels,
  ``inf`` for identical images.
- `frechet_distance` (FID): ``|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))`` between the Gaussians
  fitted to two feature sets (`feature_statistics`: mean and the ``ddof=1`` covariance, as
  pytorch-fid). The trace of the matrix square root is computed as the sum of the square roots of
  the eigenvalues of the symmetric ``S1^(1/2) S2 S1^(1/2)`` (same eigenvalues as ``S1 S2``), with
  symmetric eigendecompositions in float64 and tiny negative eigenvalues from rounding clipped
  to 0: no complex parts to drop, no ``eps`` added to the diagonal, and singular covariances
  (fewer images than feature dimensions) are fine. `fid` on two feature sets with fewer images
  than dimensions uses an exact small-matrix form instead (see its docstring): a set against
  itself gives ``|FID| < 1e-10 Tr(S)``.
- `kernel_inception_distance` (KID, Binkowski et al. 2018): the unbiased estimate of the squared
  MMD with the cubic polynomial kernel ``k(x, y) = (x.y / d + 1)^3``, averaged over random
  subsets, as torch-fidelity and the original code do (``n_subsets=100`` subsets of
  ``subset_size=1000`` features drawn without replacement from each set; the subset size
  shrinks to the smaller set when it has fewer). The estimator is the one those use: the
  cross term keeps its diagonal, so two identical sets give a small value of order
  ``1/subset_size`` (slightly negative), not exactly 0.
"""
from __future__ import annotations

import numpy as np

KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000


# ----------------------------------------------------------------------------- paired: one image against its truth


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape or a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8 or b.dtype != np.uint8:
        raise ValueError(f"need two uint8 (H, W, 3) images of one shape, got {a.dtype} {a.shape} and {b.dtype} {b.shape}")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two ``uint8 (H, W, 3)`` images (``inf`` when they are equal)."""
    _check_pair(a, b)
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two ``uint8 (H, W, 3)`` images (scikit-image, 7x7 uniform window, RGB mean, data range 255)."""
    from skimage.metrics import structural_similarity

    _check_pair(a, b)
    return float(structural_similarity(a, b, channel_axis=2, data_range=255))


# ----------------------------------------------------------------------------- sets: FID and KID


def _features(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"{name} must be (N, D) features with N >= 2, got shape {x.shape}")
    return x


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(D,)`` and covariance ``(D, D)`` (``ddof=1``, float64) of ``features (N, D)``, N >= 2."""
    x = _features(features, "features")
    return x.mean(axis=0), np.cov(x, rowvar=False)


def _sqrt_psd(s: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix (negative rounding eigenvalues -> 0)."""
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def trace_sqrt_product(s1: np.ndarray, s2: np.ndarray) -> float:
    """``Tr((S1 S2)^(1/2))`` for two covariance matrices: the sum of the square roots of the eigenvalues of
    ``S1^(1/2) S2 S1^(1/2)``, a symmetric PSD matrix with the eigenvalues of ``S1 S2``."""
    r = _sqrt_psd(np.asarray(s1, dtype=np.float64))
    m = r @ np.asarray(s2, dtype=np.float64) @ r
    w = np.linalg.eigvalsh((m + m.T) / 2)
    return float(np.sqrt(np.clip(w, 0.0, None)).sum())


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Squared Fréchet distance between ``N(mu1, sigma1)`` and ``N(mu2, sigma2)`` (FID, given Inception statistics).

    Example:
        >>> round(frechet_distance(np.zeros(2), np.eye(2), np.ones(2), 4 * np.eye(2)), 6)  # |1|^2*2 + 2*(2-1)^2
        4.0
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise ValueError(f"statistics of different shapes: {mu1.shape} {sigma1.shape} and {mu2.shape} {sigma2.shape}")
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt_product(sigma1, sigma2))


def fid(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """FID between two feature sets ``(N, D)`` and ``(M, D)`` (N, M >= 2).

    With ``S = A^T A`` (``A``: the centred features over ``sqrt(N - 1)``), the eigenvalues of ``S1 S2`` are the
    squared singular values of ``A1 A2^T``, so ``Tr((S1 S2)^(1/2))`` is the sum of its singular values. When
    ``N M <= D^2`` (fewer images than feature dimensions, as on a test split of 2,032) that small matrix is used:
    no ``D x D`` root whose thousands of zero eigenvalues would come back as ``sqrt(rounding)`` each; identical
    sets then give ``|FID| < 1e-10 Tr(S)``. Larger sets go through `frechet_distance` on the statistics.
    """
    a, b = _features(features_a, "features_a"), _features(features_b, "features_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets of different dimensions: {a.shape} and {b.shape}")
    if len(a) * len(b) > a.shape[1] ** 2:
        return frechet_distance(*feature_statistics(a), *feature_statistics(b))
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    ca, cb = (a - mu_a) / np.sqrt(len(a) - 1), (b - mu_b) / np.sqrt(len(b) - 1)
    diff = mu_a - mu_b
    trace_sqrt = float(np.linalg.svd(ca @ cb.T, compute_uv=False).sum())
    return float(diff @ diff + (ca * ca).sum() + (cb * cb).sum() - 2 * trace_sqrt)


def polynomial_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 estimate between ``x (m, d)`` and ``y (m, d)`` with ``k(a, b) = (a.b / d + 1)^3``
    (the within-set sums skip their diagonals; the cross term keeps it, as KID's reference code)."""
    x, y = _features(x, "x"), _features(y, "y")
    if x.shape != y.shape:
        raise ValueError(f"polynomial MMD needs two sets of one shape, got {x.shape} and {y.shape}")
    m, d = x.shape
    k_xx = (x @ x.T / d + 1) ** 3
    k_yy = (y @ y.T / d + 1) ** 3
    k_xy = (x @ y.T / d + 1) ** 3
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2 * k_xy.sum() / (m * m))


def kernel_inception_distance(features_a: np.ndarray, features_b: np.ndarray, *, n_subsets: int = KID_SUBSETS,
                              subset_size: int = KID_SUBSET_SIZE, seed: int = 0) -> dict:
    """KID between two feature sets: mean and standard deviation of `polynomial_mmd2` over ``n_subsets`` random
    subsets of ``min(subset_size, N, M)`` features of each set (``np.random.default_rng(seed)``).

    Returns:
        ``{"value", "std", "subsets", "subset_size", "seed"}``.
    """
    a, b = _features(features_a, "features_a"), _features(features_b, "features_b")
    if n_subsets < 1 or subset_size < 2:
        raise ValueError(f"KID needs n_subsets >= 1 and subset_size >= 2, got {n_subsets} and {subset_size}")
    m = min(subset_size, len(a), len(b))
    rng = np.random.default_rng(seed)
    values = np.array([polynomial_mmd2(a[rng.choice(len(a), m, replace=False)], b[rng.choice(len(b), m, replace=False)])
                       for _ in range(n_subsets)])
    return {"value": float(values.mean()), "std": float(values.std()), "subsets": int(n_subsets),
            "subset_size": int(m), "seed": int(seed)}
