"""What the audio data layer reports about the datasets it built (``results/audio/``):

- ``datasets.csv``: tracks, hours and 4 s chunks per split, and how many chunks hold at least two
  active sources (the chunks the MSDM protocol keeps);
- ``baselines.csv``: the "Average" separation baseline (every stem estimated as y / N) on the test
  split, scored with the same code the tables use: bss_eval v4 SDR (median over 1 s frames, then
  the median over tracks) and SI-SDRi with the MSDM protocol (which is 0 dB for y / N by scale
  invariance: a check of the protocol, not a result);
- ``fad.csv``: FAD per stem between the train and test stems (two samples of real data: the floor
  a generator is measured against) and between the test stems and the test mixtures;
- a figure of one test track's stems as log-mel spectrograms.
"""

from __future__ import annotations

import numpy as np

from harness.audio.dataset import SPLITS, StemDataset
from harness.core.errors import HarnessError
from harness.core.logs import progress
from harness.metrics.sdr import sdr
from harness.metrics.sisdr import msdm_chunk_scores, msdm_means


def dataset_rows(ds: StemDataset) -> list[dict]:
    rows = []
    for split in SPLITS:
        tracks = ds.tracks(split)
        chunks = list(ds.chunks(split, 4.0, 2.0, min_active=1))
        rows.append({
            "dataset": ds.name, "split": split, "tracks": len(tracks),
            "hours": round(sum(ds.seconds(t) for t in tracks) / 3600, 4),
            "sample_rate": ds.native_rate, "stems": " ".join(ds.stems),
            "chunks_4s": len(chunks), "chunks_2plus_active": sum(len(c.active) >= 2 for c in chunks),
        })  # fmt: skip
    return rows


def average_baseline(ds: StemDataset, split: str = "test") -> list[dict]:
    sdr_tracks, rows_msdm = [], []
    if not ds.tracks(split):
        raise HarnessError(f"{ds.root}: no {split} tracks to score the Average baseline on")
    for track in progress(ds.tracks(split), desc=f"{ds.name} baseline"):
        refs = ds.load(track)
        est = {s: sum(refs.values()) / len(refs) for s in refs}
        sdr_tracks.append(sdr(np.stack(list(refs.values())), np.stack(list(est.values())), ds.sample_rate))
        rows_msdm += msdm_chunk_scores(refs, est, ds.sample_rate)
    si = msdm_means(rows_msdm, ds.stems)
    med = np.nanmedian(np.stack(sdr_tracks), axis=0)
    return [
        {"dataset": ds.name, "split": split, "method": "Average (y / N)", "stem": s,
         "sdr_db": round(float(med[i]), 3), "si_sdri_db": round(si[s], 3), "msdm_chunks": len(rows_msdm)}
        for i, s in enumerate(ds.stems)
    ]  # fmt: skip


def fad_rows(ds: StemDataset, encoder, clip_seconds: float = 4.0) -> list[dict]:
    from harness.io.wav import resample
    from harness.metrics.fad import fad_of_clips

    def clips(split) -> dict[str, list]:
        """One pass over a split: each stem's active chunks, and every chunk's mixture."""
        out = {stem: [] for stem in ds.stems} | {"mixture": []}
        for c in ds.chunks(split, clip_seconds, min_active=1, with_audio=True):
            for stem in c.active:
                out[stem].append(resample(c.audio[stem], ds.sample_rate, encoder.sample_rate))
            out["mixture"].append(resample(sum(c.audio.values()), ds.sample_rate, encoder.sample_rate))
        return out

    train_clips, test_clips = clips("train"), clips("test")
    mixtures = test_clips["mixture"]
    rows = []
    for stem in ds.stems:
        train, test = train_clips[stem], test_clips[stem]
        rows.append({
            "dataset": ds.name, "stem": stem, "encoder": encoder.name,
            "fad_train_vs_test": round(fad_of_clips(encoder, train, test), 4),
            "fad_test_vs_mixtures": round(fad_of_clips(encoder, test, mixtures), 4),
            "train_clips": len(train), "test_clips": len(test),
        })  # fmt: skip
    return rows


def plot_stems(datasets: list[StemDataset], path: str) -> None:
    import librosa

    from harness.core.figures import pyplot, save_figure

    plt = pyplot()
    rows = len(datasets)
    cols = max(len(ds.stems) for ds in datasets) + 1
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 2.4 * rows), squeeze=False)
    for r, ds in enumerate(datasets):
        track = ds.tracks("test")[0]
        audio = ds.load(track)
        panels = list(audio.items()) + [("mixture", sum(audio.values()))]
        for c, (name, sig) in enumerate(panels):
            mel = librosa.feature.melspectrogram(y=sig[0], sr=ds.sample_rate, n_mels=64)
            axes[r][c].imshow(
                librosa.power_to_db(mel + 1e-10, ref=1.0, top_db=80), origin="lower", aspect="auto"
            )
            axes[r][c].set_title(f"{ds.name}/{track}: {name}", fontsize=8)
            axes[r][c].set_xticks([])
            axes[r][c].set_yticks([])
        for c in range(len(panels), cols):
            axes[r][c].axis("off")
    fig.suptitle(
        "Embedded datasets: log-mel spectrograms of one test track per dataset (stems sum to the mixture)"
    )
    save_figure(fig, path)
