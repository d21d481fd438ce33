"""Blind single-channel separators into two parts (the unsupervised rows of thesis Table 5.5).

Each maps a mono mixture ``[L]`` to two estimates ``[2, L]`` that sum to it: a time-frequency
model of the mixture's magnitude spectrogram splits it into two magnitudes, whose Wiener-like soft
masks are applied to the complex STFT. nussl, which ships the thesis's implementations, does not
install with our pins (its ``soxbindings`` dependency does not build for Python 3.11), so each is
named for what runs:

- ``hpss``: librosa's median-filtering harmonic / percussive separation (Fitzgerald 2010);
- ``repet_sim``: REPET-SIM (Rafii & Pardo 2012) as librosa runs it: each frame's repeating
  background is the median of its most similar frames (``librosa.decompose.nn_filter``);
- ``rpca``: robust PCA (Candès et al. 2011; Huang et al. 2012 for separation) of the magnitude
  spectrogram into low rank + sparse parts by the inexact augmented Lagrange multiplier method,
  written here (no maintained library in our stack has it);
- ``ica``: independent subspace analysis: scikit-learn's FastICA with two components over the
  magnitude spectrogram's frames, each component's rank-one spectrogram as a mask;
- ``ft2d``: the 2-D Fourier transform method (Seetharaman, Pishdadian & Pardo 2017): repeating
  patterns are peaks of the 2-D transform of the magnitude spectrogram; keeping only the local
  peaks and transforming back gives the repeating background. Written here.
"""

from __future__ import annotations

import numpy as np

from harness.core.errors import HarnessError

N_FFT, HOP = 1024, 256
EPS = 1e-10


def _stft(y: np.ndarray) -> np.ndarray:
    import librosa

    return librosa.stft(y.astype(np.float32), n_fft=N_FFT, hop_length=HOP)


def _apply_masks(y: np.ndarray, spec: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Soft masks first / (first + second) and the rest, inverted to ``[2, L]``."""
    import librosa

    mask = first / (first + second + EPS)
    out = [librosa.istft(spec * m, hop_length=HOP, length=len(y)) for m in (mask, 1 - mask)]
    return np.stack(out).astype(np.float32)


def hpss(y: np.ndarray) -> np.ndarray:
    """(percussive, harmonic)."""
    import librosa

    spec = _stft(y)
    harmonic, percussive = librosa.decompose.hpss(np.abs(spec))
    return _apply_masks(y, spec, percussive, harmonic)


def repet_sim(y: np.ndarray, sample_rate: int) -> np.ndarray:
    """(repeating background, foreground)."""
    import librosa

    spec = _stft(y)
    mag = np.abs(spec)
    # similar frames at least 0.5 s away (librosa's example), fewer in a short mixture
    most = (mag.shape[1] - 1) // 2 - 1
    if most < 1:
        raise HarnessError(f"REPET-SIM needs at least 5 STFT frames, the mixture has {mag.shape[1]}")
    width = min(max(int(librosa.time_to_frames(0.5, sr=sample_rate, hop_length=HOP)), 1), most)
    background = np.minimum(
        mag, librosa.decompose.nn_filter(mag, aggregate=np.median, metric="cosine", width=width)
    )
    return _apply_masks(y, spec, background, mag - background)


def robust_pca(m: np.ndarray, iterations: int = 100, tol: float = 1e-7) -> tuple[np.ndarray, np.ndarray]:
    """M = L + S with L low rank and S sparse (inexact ALM, lambda = 1 / sqrt(max(m, n)))."""
    lam = 1.0 / np.sqrt(max(m.shape))
    norm = np.linalg.norm(m)
    spectral = np.linalg.norm(m, 2)
    y = m / max(spectral, np.abs(m).max() / lam)
    mu, rho = 1.25 / spectral, 1.5
    low, sparse = np.zeros_like(m), np.zeros_like(m)
    for _ in range(iterations):
        u, s, vt = np.linalg.svd(m - sparse + y / mu, full_matrices=False)
        low = (u * np.maximum(s - 1 / mu, 0)) @ vt
        residual = m - low + y / mu
        sparse = np.sign(residual) * np.maximum(np.abs(residual) - lam / mu, 0)
        gap = m - low - sparse
        y = y + mu * gap
        mu = min(mu * rho, 1e7)
        if np.linalg.norm(gap) / norm < tol:
            break
    return low, sparse


def rpca(y: np.ndarray) -> np.ndarray:
    """(low-rank part, sparse part)."""
    spec = _stft(y)
    mag = np.abs(spec).astype(np.float64)
    low, sparse = robust_pca(mag)
    return _apply_masks(y, spec, np.abs(low), np.abs(sparse))


def ica(y: np.ndarray, seed: int) -> np.ndarray:
    """Two independent components of the magnitude spectrogram, each as a mask."""
    from sklearn.decomposition import FastICA

    spec = _stft(y)
    mag = np.abs(spec).astype(np.float64)  # [freq, frames]
    model = FastICA(n_components=2, whiten="unit-variance", random_state=seed, max_iter=500, tol=1e-3)
    activations = model.fit_transform(mag.T)  # [frames, 2]
    parts = [np.abs(np.outer(model.mixing_[:, k], activations[:, k])) for k in range(2)]
    return _apply_masks(y, spec, parts[0], parts[1])


def ft2d(y: np.ndarray, neighbourhood: tuple[int, int] = (1, 35)) -> np.ndarray:
    """(repeating background, foreground): local peaks of |FFT2(|X|)| over ``neighbourhood``
    (frequency x time bins of the 2-D transform) kept, the rest zeroed, transformed back."""
    from scipy.ndimage import maximum_filter

    spec = _stft(y)
    mag = np.abs(spec)
    transform = np.fft.fft2(mag)
    amplitude = np.abs(transform)
    peaks = amplitude == maximum_filter(amplitude, size=neighbourhood, mode="wrap")
    background = np.minimum(np.abs(np.fft.ifft2(transform * peaks)), mag)
    return _apply_masks(y, spec, background, mag - background)


def separate(method: str, y: np.ndarray, sample_rate: int, seed: int = 0) -> np.ndarray:
    """``[2, L]`` estimates of the blind method ``method`` on the mono mixture ``[L]``."""
    if method == "hpss":
        return hpss(y)
    if method == "repet_sim":
        return repet_sim(y, sample_rate)
    if method == "rpca":
        return rpca(y)
    if method == "ica":
        return ica(y, seed)
    if method == "ft2d":
        return ft2d(y)
    raise HarnessError(f"unknown blind method {method!r} (one of {', '.join(METHODS)})")


METHODS = ("rpca", "ica", "hpss", "repet_sim", "ft2d")
