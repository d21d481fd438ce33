"""Metrics against known answers: SI-SDR(i) and the MSDM protocol, bss_eval v4 SDR (museval and
the fast path), FAD, PSNR and FID, and `harness metrics` on real WAV files with bad inputs."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import run
from harness.core.errors import HarnessError
from harness.metrics import fad, image, sdr, sisdr

RNG = np.random.default_rng(7)


# ----------------------------------------------------------------------------- SI-SDR
def test_si_sdr_known_answers():
    x = RNG.normal(size=4000)
    noise = RNG.normal(size=4000)
    noise -= noise @ x / (x @ x) * x  # orthogonal to x: alpha = 1, the error is exactly the noise
    noise *= np.sqrt((x @ x) / (noise @ noise)) / 10  # 20 dB below the source
    assert float(sisdr.si_sdr(x + noise, x)) == pytest.approx(20.0, abs=1e-6)
    # scale invariance: any gain of the estimate scores the same
    assert float(sisdr.si_sdr(3.7 * (x + noise), x)) == pytest.approx(20.0, abs=1e-6)
    # a perfect estimate: the eps terms bound it
    assert float(sisdr.si_sdr(x, x)) > 100


def test_si_sdr_matches_torchmetrics():
    from torchmetrics.functional.audio import scale_invariant_signal_distortion_ratio as tm

    ref = torch.from_numpy(RNG.normal(size=(5, 3000)))
    est = ref * 0.5 + torch.from_numpy(RNG.normal(size=(5, 3000))) * torch.linspace(0.05, 2.0, 5)[:, None]
    np.testing.assert_allclose(
        sisdr.si_sdr(est, ref).numpy(), tm(est, ref, zero_mean=False).numpy(), atol=1e-6
    )


def test_si_sdri_of_the_mixture_and_of_the_average_is_zero():
    refs = RNG.normal(size=(4, 1, 8000))
    mix = refs.sum(0)
    assert float(sisdr.si_sdr_improvement(mix, refs[0], mix).mean()) == 0.0
    assert float(sisdr.si_sdr_improvement(mix / 4, refs[0], mix).mean()) == pytest.approx(0.0, abs=1e-9)


def test_chunk_bounds_follow_msdm():
    # ceil((n - overlap) / hop) chunks; the last one ends with the track
    assert sisdr.chunk_bounds(1000, 400, 200) == [(0, 400), (200, 600), (400, 800), (600, 1000)]
    assert sisdr.chunk_bounds(1100, 400, 200)[-1] == (800, 1100)
    assert sisdr.chunk_bounds(300, 400, 200) == [(0, 300)]


def test_is_silent_uses_norm_over_samples():
    n = 10_000
    quiet = np.zeros((1, n))
    quiet[0, 0] = 1.4e-5 * n  # ||x|| / n = 1.4e-5 < 1.5e-5
    loud = quiet * 1.2
    assert sisdr.is_silent(quiet) and not sisdr.is_silent(loud)


def test_msdm_protocol_skips_single_source_chunks():
    sr = 100  # 4 s chunks = 400 samples, hop 200
    refs = {s: RNG.normal(size=(1, 1200)) for s in ("bass", "drums", "piano")}
    for s in ("drums", "piano"):
        refs[s][:, :600] = 0  # only bass plays in [0, 600): chunks 0 and 1 hold one source
    est = {s: refs[s] + 0.1 * RNG.normal(size=(1, 1200)) for s in refs}
    rows = sisdr.msdm_chunk_scores(refs, est, sr)
    assert [(r["start"], r["end"]) for r in rows] == [(400, 800), (600, 1000), (800, 1200)]
    every = sisdr.msdm_chunk_scores(refs, est, sr, filter_single_source=False)
    assert len(every) == 5  # ceil((1200 - 200) / 200)
    # each kept chunk's value is SI-SDR(est) - SI-SDR(mixture) on that chunk
    mix = sum(refs.values())[:, 400:800]
    want = sisdr.si_sdr(est["bass"][:, 400:800], refs["bass"][:, 400:800]) - sisdr.si_sdr(
        mix, refs["bass"][:, 400:800]
    )
    assert rows[0]["bass"] == pytest.approx(float(want.mean()))
    assert sisdr.msdm_means(rows, refs)["piano"] == pytest.approx(np.mean([r["piano"] for r in rows]))


# ----------------------------------------------------------------------------- SDR
def _cases():
    sr = 1000
    ref = RNG.normal(size=(3, 2, 5 * sr + 123))
    est = ref + 0.3 * RNG.normal(size=ref.shape)
    est[1] = np.roll(ref[1], 3, axis=-1)  # a delayed estimate: the filters would matter for SIR
    ref[2, :, sr : 2 * sr] = 0  # a silent reference frame: NaN there
    yield "stereo with a silent frame", ref, est, sr
    mono = RNG.normal(size=(4, 1, 3 * sr))
    yield "mono", mono, mono * 0.8 + 0.05 * RNG.normal(size=mono.shape), sr
    short = RNG.normal(size=(2, 1, sr // 2))  # shorter than one window: one frame over all
    yield "shorter than a frame", short, short + RNG.normal(size=short.shape), sr


@pytest.mark.parametrize("case", list(_cases()), ids=lambda c: c[0])
def test_fast_sdr_agrees_with_museval(case):
    _, ref, est, sr = case
    slow = sdr.framewise_sdr_museval(ref, est, sr)
    fast = sdr.framewise_sdr_fast(ref, est, sr)
    assert slow.shape == fast.shape
    assert np.array_equal(np.isnan(slow), np.isnan(fast))
    ok = ~np.isnan(slow)
    assert np.max(np.abs(slow[ok] - fast[ok])) < 0.01
    assert np.allclose(sdr.median_sdr(slow), sdr.median_sdr(fast), atol=0.01)


def test_sdr_known_answer():
    ref = RNG.normal(size=(2, 1, 4000))
    # an estimate off by 10% of the source: SDR = 10 log10(1 / 0.01) = 20 dB in every frame
    assert sdr.sdr(ref, 1.1 * ref, 1000) == pytest.approx([20.0, 20.0])
    assert sdr.sdr(ref, 1.1 * ref, 1000, backend="museval") == pytest.approx([20.0, 20.0])


# ----------------------------------------------------------------------------- FAD, PSNR, FID
def _whitened(n, d):
    """n samples with sample mean exactly 0 and sample covariance (ddof 1) exactly I."""
    x = RNG.normal(size=(n, d))
    x -= x.mean(0)
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    return u @ vt * np.sqrt(n - 1)


def test_frechet_distance_closed_form():
    x = _whitened(200, 6)
    mu = np.arange(6.0)
    # N(0, I) vs N(mu, 4I): ||mu||^2 + tr(I + 4I - 2 * 2I) = ||mu||^2 + d
    assert fad.frechet_distance(x, 2 * x + mu) == pytest.approx(mu @ mu + 6, rel=1e-6)
    assert fad.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(HarnessError, match="embedding sizes differ"):
        fad.frechet_distance(x, x[:, :3])


def test_package_backbone_needs_local_checkpoint(tmp_path):
    with pytest.raises(HarnessError, match=r"Cnn14_16k_mAP=0.438.pth not found"):
        fad.PackageEncoder("pann", tmp_path)


def test_psnr_known_answer():
    target = torch.rand(3, 1, 8, 8) * 0.8
    assert image.psnr_per_image(target + 0.1, target) == pytest.approx([20.0] * 3)
    assert image.mean_psnr(target + 0.01, target) == pytest.approx(40.0)


def test_fid_with_a_feature_module():
    class Flatten(torch.nn.Module):  # features = the pixels themselves: FID = Frechet distance
        def forward(self, x):
            return x.flatten(1)

    x = torch.from_numpy(_whitened(100, 4)).float().reshape(100, 1, 2, 2)
    metric = image.fid_metric(feature=Flatten(), image_size=(1, 2, 2))
    shift = torch.tensor([1.0, 2.0, 0.0, 0.0]).reshape(1, 1, 2, 2)
    assert image.fid(x, x + shift, metric) == pytest.approx(5.0, rel=1e-3)
    with pytest.raises(HarnessError, match="Inception weights"):
        image.fid_metric(inception_weights="missing.pth")


# ----------------------------------------------------------------------------- the CLI on WAV files
@pytest.fixture
def separation(tmp_path):
    sr = 8000
    ref, est = tmp_path / "ref", tmp_path / "est"
    ref.mkdir(), est.mkdir()
    refs = {s: RNG.normal(size=3 * sr).astype(np.float32) * 0.1 for s in ("bass", "drums")}
    for s, x in refs.items():
        sf.write(ref / f"{s}.wav", x, sr, subtype="FLOAT")
        sf.write(est / f"{s}.wav", 1.1 * x, sr, subtype="FLOAT")
    return ref, est, sr


def test_cli_separation_prints_sdr_and_si_sdr(separation):
    ref, est, _ = separation
    fast = json.loads(run(["harness", "metrics", "separation", str(ref), str(est)]).stdout)
    slow = json.loads(
        run(["harness", "metrics", "separation", str(ref), str(est), "--backend", "museval"]).stdout
    )
    assert set(fast) == {"bass", "drums"} and all(set(v) == {"sdr", "si_sdr"} for v in fast.values())
    for stem in fast:
        assert fast[stem]["sdr"] == pytest.approx(20.0, abs=1e-3)
        assert abs(fast[stem]["sdr"] - slow[stem]["sdr"]) <= 0.01
        assert fast[stem]["si_sdr"] > 60  # a scaled copy: only eps bounds it


def test_cli_msdm_protocol(separation):
    ref, est, _ = separation
    chunks = ref.parent / "chunks.csv"
    out = json.loads(run(["harness", "metrics", "msdm", str(ref), str(est), "--csv", str(chunks)]).stdout)
    assert out["chunks"] == 1 and out["bass"] > 60
    lines = chunks.read_text().splitlines()
    assert lines[0] == "track,start,end,bass,drums" and len(lines) == 2


def _bad(tmp_path, ref, est, cause):
    proc = run(["harness", "metrics", "separation", str(ref), str(est)], check=False)
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("harness: error:") and cause in last, proc.stderr


def test_cli_bad_inputs(separation, tmp_path):
    ref, est, sr = separation
    drums = sf.read(ref / "drums.wav")[0]
    sf.write(est / "drums.wav", drums, sr // 2, subtype="FLOAT")
    _bad(tmp_path, ref, est, "sample rate 4000 Hz, expected 8000 Hz")
    sf.write(est / "drums.wav", drums[:-10], sr, subtype="FLOAT")
    _bad(tmp_path, ref, est, "differ in channels or length")
    bad = drums.copy()
    bad[5] = np.nan
    sf.write(est / "drums.wav", bad, sr, subtype="FLOAT")
    _bad(tmp_path, ref, est, "NaN")
    (est / "drums.wav").write_bytes(b"")
    _bad(tmp_path, ref, est, "empty file")
    (est / "drums.wav").write_bytes(b"RIFF\x00\x00garbage" * 10)
    _bad(tmp_path, ref, est, "not a readable audio file")
    (est / "drums.wav").rename(est / "drum.wav")
    _bad(tmp_path, ref, est, "stems do not match")


def test_fid_reads_inception_weights_from_a_local_file(inception_weights):
    """The thesis-scale path: Inception-v3 weights from a file, nothing downloaded. The file
    here holds random weights of the right architecture (the real ones cannot be fetched)."""
    weights, net = inception_weights
    metric = image.fid_metric(inception_weights=weights)  # strict load of the saved file
    loaded = metric.inception.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in net.state_dict().items())
    images = torch.rand(3, 3, 32, 32)
    assert image.fid(images, images, metric) == pytest.approx(0.0, abs=1e-3)


@pytest.mark.parametrize("chunk, hop", [(4.0, 0.0), (4.0, -2.0), (0.0, 2.0), (1.0, 2.0), (1e-6, 1e-6)])
def test_msdm_windows_refuse_empty_chunks_and_hops(chunk, hop):
    refs = {s: np.ones((1, 8000), np.float32) for s in ("bass", "drums")}
    with pytest.raises(HarnessError, match="at least one sample"):
        sisdr.msdm_chunk_scores(refs, refs, 8000, chunk_seconds=chunk, hop_seconds=hop)
