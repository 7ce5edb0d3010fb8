"""Image quality metrics used by tests and benchmarks: PSNR and SSIM (optionally inside a mask)."""
from __future__ import annotations

import cv2
import numpy as np


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Peak signal-to-noise ratio in dB over all pixels or those in ``mask`` (uint8 images)."""
    d = a.astype(np.float64) - b.astype(np.float64)
    if mask is not None:
        d = d[mask]
    mse = float(np.mean(d ** 2)) if d.size else 0.0
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0 ** 2 / mse)


def ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean SSIM (Wang et al. 2004: Gaussian window σ=1.5, K1=0.01, K2=0.03) on the grey images,
    averaged over ``mask`` when given."""
    x = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY).astype(np.float64) if a.ndim == 3 else a.astype(np.float64)
    y = cv2.cvtColor(b, cv2.COLOR_RGB2GRAY).astype(np.float64) if b.ndim == 3 else b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def g(z: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(z, (11, 11), 1.5)

    mx, my = g(x), g(y)
    sxx, syy, sxy = g(x * x) - mx * mx, g(y * y) - my * my, g(x * y) - mx * my
    smap = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(smap[mask].mean() if mask is not None else smap.mean())
