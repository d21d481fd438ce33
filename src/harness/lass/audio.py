"""LASS on music (thesis section 5.4.2, Table 5.5): drums + bass separation of 3 s mixtures.

The same method as on images (Algorithm 2): a VQ-VAE maps audio to codes, one autoregressive
prior per source class (drums, bass) scores code sequences, the likelihood L is counted over code
triples of random (drums, bass) pairs, and a sampler walks the mixture's codes. The thesis uses
Jukebox's bottom-level VQ-VAE at 44.1 kHz (K = 2,048) and beam search with B = 100; here the
VQ-VAE (``AudioVQVAE``) and the two GPT-2 priors are trained by the DAG. As in the original code
the mixture is (x1 + x2) / 2 of aligned chunks of one song where both stems sound, the stochastic
samplers keep the candidate whose decoded sum is nearest the mixture (L2), beam search keeps its
best beam, and nothing is refined. SDR is bss_eval v4's (``harness.metrics.sdr``), per source,
the mean over mixtures.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from harness.audio.arrays import load_tracks, random_crops
from harness.audio.dataset import StemDataset
from harness.core.errors import HarnessError
from harness.core.logs import LOG, progress
from harness.lass.likelihood import Likelihood, SparseCounts
from harness.lass.models import AudioVQVAE, AudioVQVAEConfig
from harness.lass.separate import PriorPair, Sampler, sample_codes
from harness.metrics.sdr import sdr
from harness.train.checkpoint import seed_everything
from harness.train.loop import RunFiles

SPECTRAL_FFTS = (256, 512, 1024)  # the VQ-VAE's multi-resolution spectral loss
# a stem this far below the other is barely in the mixture: its SDR measures noise (a drums
# chunk 18 dB below the bass scored -12 dB even from the VQ-VAE's own codes), so such chunks are
# not mixtures of two sources for the evaluation
LEVEL_GAP_DB = 15.0


@dataclass(frozen=True)
class AudioVQVAESettings:
    """``lass.audio.vqvae``: codebook, width, strides (hop = their product), training crops."""

    codes: int
    dim: int
    strides: list
    beta: float
    decay: float
    dead_code: float
    crop: int
    steps: int
    batch_size: int
    lr: float
    checkpoint_every: int


@dataclass(frozen=True)
class AudioLikelihoodSettings:
    """``lass.audio.likelihood``: random (drums, bass) crop pairs counted, crop length, batch."""

    pairs: int
    crop: int
    batch: int


def chunk_length(seconds: float, sample_rate: int, hop: int) -> int:
    """Samples of a ``seconds`` chunk, rounded up to whole codes (so a 3 s chunk holds three
    whole 1 s SDR frames)."""
    if seconds <= 0 or hop < 1:
        raise HarnessError(f"a chunk needs seconds > 0 and a hop >= 1 (got {seconds}, {hop})")
    return -(-int(round(seconds * sample_rate)) // hop) * hop


def mixture_chunks(root: str, split: str, stems: list[str], sample_rate: int, length: int, n: int,
                   seed: int) -> tuple[np.ndarray, list[str]]:  # fmt: skip
    """``n`` aligned chunks ``[n, 2, length]`` of one split where both stems sound (MSDM's
    silence test, and neither more than ``LEVEL_GAP_DB`` below the other), drawn without
    replacement; and their "track@start" names."""
    from harness.metrics.sisdr import is_silent

    data = StemDataset(root, sample_rate)
    found, names = [], []
    for track, audio in zip(data.tracks(split), load_tracks(root, split, sample_rate, stems)[0]):
        for start in range(0, audio.shape[-1] - length + 1, length):
            chunk = audio[:, start : start + length]
            level = 10 * np.log10(np.mean(chunk.astype(np.float64) ** 2, axis=-1) + 1e-20)
            if not any(is_silent(c[None]) for c in chunk) and abs(level[0] - level[1]) <= LEVEL_GAP_DB:
                found.append(chunk)
                names.append(f"{track}@{start}")
    if len(found) < n:
        raise HarnessError(
            f"{root}: {len(found)} {split} chunks where {' and '.join(stems)} both sound, {n} asked"
        )
    pick = np.sort(np.random.default_rng(seed).choice(len(found), n, replace=False))
    return np.stack([found[i] for i in pick]), [names[i] for i in pick]


def spectral_loss(estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Relative L1 distance of STFT magnitudes at several resolutions (waveforms ``[n, 1, L]``;
    the resolutions of at most L / 2 samples)."""
    total = estimate.new_zeros(())
    sizes = [n for n in SPECTRAL_FFTS if n <= target.shape[-1] // 2] or [max(target.shape[-1] // 2, 4)]
    for n_fft in sizes:
        window = torch.hann_window(n_fft, device=estimate.device)
        est, ref = (torch.stft(x[:, 0], n_fft, n_fft // 4, window=window, return_complex=True).abs()
                    for x in (estimate, target))  # fmt: skip
        total = total + (est - ref).abs().mean() / (ref.mean() + 1e-8)
    return total / len(sizes)


def vqvae_loss(model: AudioVQVAE, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(training loss, relative MSE) of waveforms: MSE over the signal's power, the spectral loss
    and the quantiser's terms."""
    recon, vq_loss = model(x)
    relative_mse = torch.mean((recon - x) ** 2) / (torch.mean(x**2) + 1e-8)
    return relative_mse + spectral_loss(recon, x) + vq_loss, relative_mse


def train_audio_vqvae(
    tracks: list[np.ndarray], valid: np.ndarray, settings: AudioVQVAESettings, seed: int, files: RunFiles,
    device: str, stop_after: int | None = None,
) -> bool:  # fmt: skip
    """The VQ-VAE on crops of each stem and of the mixtures (x1 + x2) / 2 of random pairs, so
    that sources and mixtures are coded alike; ``valid`` ``[n, 2, L]`` chunks monitor it."""
    from harness.lass.train import train_and_save

    config = AudioVQVAEConfig(settings.codes, settings.dim, tuple(settings.strides), settings.beta,
                              settings.decay, settings.dead_code)  # fmt: skip
    if settings.crop % config.hop:
        raise HarnessError(f"vqvae crop {settings.crop} is not a multiple of the hop {config.hop}")
    rng = seed_everything(seed)
    model = AudioVQVAE(config).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=settings.lr)
    valid_x = torch.from_numpy(np.concatenate([valid[:, :1], valid[:, 1:], valid.mean(1, keepdims=True)])).to(
        device
    )
    third = max(settings.batch_size // 3, 1)

    def step_fn(rng):
        crops = random_crops(tracks, settings.batch_size, settings.crop, rng)  # [b, 2, crop]
        other = random_crops(tracks, third, settings.crop, rng)
        x = np.concatenate([crops[:, :1], crops[:, 1:], (crops[:third, :1] + other[:, 1:]) / 2])
        return vqvae_loss(model, torch.from_numpy(x).to(device))[0]

    @torch.no_grad()
    def evaluate():
        model.eval()
        try:
            _, relative = vqvae_loss(model, valid_x)
            codes = model.encode(valid_x)
        finally:
            model.train()
        return {
            "valid_relative_mse": round(float(relative), 6),
            "codes_used": int(torch.unique(codes).numel()),
        }

    meta = train_and_save(
        "audio_vqvae", "audio VQ-VAE (Jukebox bottom-level shape, trained in the DAG)", model, config, opt,
        step_fn, evaluate, settings, rng, {"settings": asdict(settings), "seed": seed}, files, stop_after,
    )  # fmt: skip
    if meta is None:
        return False
    LOG.info("audio VQ-VAE: valid relative MSE %.4f, %d of %d codes used", meta["valid_relative_mse"],
             meta["codes_used"], config.codes)  # fmt: skip
    return True


@torch.no_grad()
def encode_waves(vqvae: AudioVQVAE, waves: np.ndarray, batch: int = 16) -> torch.Tensor:
    """Codes ``[n, S]`` (CPU) of waveforms ``[n, L]``."""
    device = next(vqvae.parameters()).device
    return torch.cat([vqvae.encode(torch.from_numpy(np.ascontiguousarray(waves[i : i + batch, None])).to(device)).cpu()
                      for i in range(0, len(waves), batch)])  # fmt: skip


def prior_windows(
    vqvae: AudioVQVAE, tracks: list[np.ndarray], row: int, length: int, hop: int
) -> torch.Tensor:
    """The prior's training sequences of one stem: windows of ``length`` codes every ``hop``
    codes of each track's code sequence ``[n, length]``."""
    out = []
    for t in tracks:
        n = t.shape[-1] // vqvae.config.hop * vqvae.config.hop
        codes = encode_waves(vqvae, t[row : row + 1, :n])[0]
        out += [codes[s : s + length] for s in range(0, len(codes) - length + 1, hop)]
    if not out:
        raise HarnessError(f"no track holds {length} codes")
    return torch.stack(out)


def count_audio_likelihood(vqvae: AudioVQVAE, tracks: list[np.ndarray], settings: AudioLikelihoodSettings,
                           seed: int) -> SparseCounts:  # fmt: skip
    """F over ``pairs`` random pairs of a drums crop and a bass crop (of any two tracks): the
    codes of both and of their mixture (x1 + x2) / 2 at each position, both orders."""
    if settings.crop % vqvae.config.hop:
        raise HarnessError(f"likelihood crop {settings.crop} is not a multiple of the hop {vqvae.config.hop}")
    rng = np.random.default_rng(seed)
    counts = SparseCounts.empty(vqvae.config.codes)
    for start in progress(range(0, settings.pairs, settings.batch), desc="counting"):
        n = min(settings.batch, settings.pairs - start)
        x1 = random_crops(tracks, n, settings.crop, rng)[:, 0]
        x2 = random_crops(tracks, n, settings.crop, rng)[:, 1]
        counts.add(encode_waves(vqvae, x1), encode_waves(vqvae, x2), encode_waves(vqvae, (x1 + x2) / 2))
    return counts


def pick_candidate(vqvae: AudioVQVAE, c1: torch.Tensor, c2: torch.Tensor, mixture: torch.Tensor,
                   sampler: Sampler, batch: int = 16) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """The decoded pair ``([1, L], [1, L])`` kept among candidates ``[C, S]``: beam search's best
    beam (first), else the candidate whose sum is nearest the mixture ``[1, L]`` (L2)."""
    with torch.no_grad():
        if sampler.kind in ("beam", "greedy") or len(c1) == 1:
            return vqvae.decode(c1[:1])[0], vqvae.decode(c2[:1])[0]
        errors = []
        for i in range(0, len(c1), batch):
            d1, d2 = vqvae.decode(c1[i : i + batch]), vqvae.decode(c2[i : i + batch])
            errors.append((((d1 + d2) / 2 - mixture) ** 2).flatten(1).sum(1))
        best = int(torch.cat(errors).argmin())
        return vqvae.decode(c1[best : best + 1])[0], vqvae.decode(c2[best : best + 1])[0]


def separate_chunks(vqvae: AudioVQVAE, priors: PriorPair, likelihood: Likelihood, chunks: np.ndarray,
                    sampler: Sampler, sample_rate: int, seed: int) -> tuple[np.ndarray, list[dict]]:  # fmt: skip
    """LASS on the mixtures (x1 + x2) / 2 of chunks ``[n, 2, L]``: estimates ``[n, 2, L]`` and one
    row per mixture: SDR of each source, the SDR of the VQ-VAE decoding the sources' own codes
    (what a perfect sampler would reach), the share of positions whose true code pair was
    counted, fallback steps and the separation's wall time."""
    device = likelihood.device
    generator = torch.Generator(device=device).manual_seed(seed)
    estimates, rows = np.zeros_like(chunks), []
    for i in progress(range(len(chunks)), desc=f"LASS {sampler.kind}"):
        x = torch.from_numpy(chunks[i][:, None]).to(device)  # [2, 1, L]
        mixture = x.mean(0)  # [1, L]
        started = time.perf_counter()
        m = vqvae.encode(mixture[None])[0]
        stats = {"fallbacks": 0}
        c1, c2 = sample_codes(priors, likelihood, m.tolist(), sampler, generator, stats)
        e1, e2 = pick_candidate(vqvae, c1, c2, mixture, sampler)
        seconds = time.perf_counter() - started
        estimates[i] = torch.cat([e1, e2]).cpu().numpy()
        codes = vqvae.encode(x)  # [2, S]
        with torch.no_grad():
            own = vqvae.decode(codes).cpu().numpy()
        ours = sdr(chunks[i][:, None], estimates[i][:, None], sample_rate)
        ceiling = sdr(chunks[i][:, None], own, sample_rate)
        counted = float(likelihood.counted(codes[0], codes[1], m).float().mean())
        rows.append({"mixture": i, "sdr_1": _round(ours[0]), "sdr_2": _round(ours[1]),
                     "ceiling_1": _round(ceiling[0]), "ceiling_2": _round(ceiling[1]),
                     "true_pair_counted": round(counted, 4), "fallbacks": stats["fallbacks"],
                     "seconds": round(seconds, 4)})  # fmt: skip
    LOG.info("LASS %s on %d mixtures: SDR %.2f / %.2f dB (ceiling %.2f / %.2f dB)", sampler.kind, len(rows),
             *(np.nanmean([r[k] for r in rows]) for k in ("sdr_1", "sdr_2", "ceiling_1", "ceiling_2")))  # fmt: skip
    return estimates, rows


def _round(x: float) -> float:
    return round(float(x), 4) if np.isfinite(x) else float("nan")


def score_rows(name: str, chunks: np.ndarray, estimates: np.ndarray, sample_rate: int,
               permute: bool = False) -> list[dict]:  # fmt: skip
    """SDR rows ``{method, mixture, sdr_1, sdr_2}`` of estimates ``[n, 2, L]``; ``permute``: a
    blind method's two outputs are assigned to the sources the better way round per mixture."""
    rows = []
    for i, (ref, est) in enumerate(zip(chunks, estimates)):
        scores = sdr(ref[:, None], est[:, None], sample_rate)
        if permute:
            swapped = sdr(ref[:, None], est[::-1, None], sample_rate)
            if np.nanmean(swapped) > np.nanmean(scores):
                scores = swapped
        rows.append({"method": name, "mixture": i, "sdr_1": _round(scores[0]), "sdr_2": _round(scores[1])})
    return rows
