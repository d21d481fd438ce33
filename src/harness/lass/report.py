"""Our values for Tables 5.1-5.4 (row, column, ours) and Figure 5.3 (mixtures, LASS separations
and ground truths), from the files the LASS rules wrote."""

from __future__ import annotations

import csv
import os

import numpy as np

from harness.core.errors import HarnessError
from harness.core.figures import pyplot, save_figure
from harness.core.inputs import read_json
from harness.tables.ours import write_ours_csv


def _rows(path: str) -> list[dict]:
    if not os.path.isfile(path):
        raise HarnessError(f"{path} not found")
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _has_column(path: str, name: str) -> bool:
    rows = _rows(path)
    return bool(rows) and name in rows[0]


def _column(path: str, name: str) -> np.ndarray:
    rows = _rows(path)
    if not rows or name not in rows[0]:
        raise HarnessError(f"{path}: no {name!r} column")
    try:
        values = np.asarray([float(r[name]) for r in rows])
    except (TypeError, ValueError):
        raise HarnessError(f"{path}: column {name!r} holds a value that is not a number") from None
    if not np.isfinite(values).all():
        raise HarnessError(f"{path}: column {name!r} holds NaN or infinite values")
    return values


def mean_std(values: np.ndarray, unit: str = "", digits: int = 2) -> str:
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return f"{np.mean(values):.{digits}f}{unit} ± {std:.{digits}f}{unit}"


_NUMBER = {"type": "number", "minimum": 0}
# the JSON files the report reads: likelihood statistics, the timing run, a CelebA summary
SCHEMAS = {
    "likelihood": {"type": "object", "required": ["codes", "codes_used", "density_percent"],
                   "properties": {"codes": {"type": "integer", "minimum": 2},
                                  "codes_used": {"type": "integer", "minimum": 1},
                                  "density_percent": {"type": "number", "minimum": 0, "maximum": 100}}},
    "timing": {"type": "object", "required": ["seconds", "sampler", "refine", "device", "threads"],
               "properties": {"seconds": {"type": "array", "minItems": 1, "items": _NUMBER},
                              "sampler": {"type": "object", "required": ["kind"]},
                              "refine": {"type": "object", "required": ["steps"]},
                              "device": {"type": "string"}, "threads": {"type": "integer", "minimum": 0}}},
    "test": {"type": "object", "required": ["mixtures", "sampler", "refine", "fallbacks", "positions"],
             "properties": {"mixtures": {"type": "integer", "minimum": 1},
                            "sampler": {"type": "object", "required": ["kind"]},
                            "refine": {"type": "object", "required": ["steps"]},
                            "fallbacks": {"type": "integer", "minimum": 0},
                            "positions": {"type": "integer", "minimum": 1},
                            "rerank": {"type": "object", "required": ["candidates", "steps"],
                                       "properties": {"candidates": {"type": "integer", "minimum": 2},
                                                      "steps": {"type": "integer", "minimum": 0}}},
                            "rerank_seconds_per_mixture": _NUMBER},
             "dependentRequired": {"rerank": ["rerank_seconds_per_mixture"]}},
    "audio_test": {"type": "object",
                   "required": ["mixtures", "stems", "sample_rate", "samples", "sampler", "seconds", "device",
                                "threads", "vqvae", "fallbacks", "positions"],
                   "properties": {"mixtures": {"type": "integer", "minimum": 1},
                                  "stems": {"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "string"}},
                                  "sample_rate": {"type": "integer", "minimum": 1},
                                  "samples": {"type": "integer", "minimum": 1},
                                  "sampler": {"type": "object", "required": ["kind"]},
                                  "seconds": {"type": "array", "minItems": 1, "items": _NUMBER},
                                  "device": {"type": "string"}, "threads": {"type": "integer", "minimum": 0},
                                  "vqvae": {"type": "object", "required": ["codes", "hop"]},
                                  "fallbacks": {"type": "integer", "minimum": 0},
                                  "positions": {"type": "integer", "minimum": 1}}},
    "summary": {"type": "object", "required": ["mixtures", "fid", "average_fid"],
                "properties": {"mixtures": {"type": "integer", "minimum": 1}, "fid": _NUMBER, "average_fid": _NUMBER}},
}  # fmt: skip


# rows of ours only: what bounds the LASS number of Table 5.2, and Table 5.4 at the thesis's settings
CEILING = "LASS, sources' own codes refined (ceiling)"
# one mixture's PSNR varies by about 7 dB between mixtures and between sampler seeds: the mean's
# standard error tells how far another draw of the test mixtures could move it
STANDARD_ERROR = "LASS (Ours), standard error of the mean over the test mixtures"
COUNTED = "Positions whose true code pair has L > 0"
FALLBACKS = "Sampler steps on the priors alone (mixture code never counted)"
# the sources' own codes score higher under the sampler's posterior than every candidate: the
# search missed them (a search error), where a better prior or likelihood would not have helped
SEARCH_ERRORS = "Mixtures whose true codes outscore every candidate (search errors)"
# the rest of the mixtures: where L = 0 at some position whose mixture code was counted, no
# sampler can return the true codes (where the code was never counted, the sampler falls back on
# the priors alone and any pair is possible)
POSSIBLE = "Mixtures whose true codes are possible (L > 0 wherever the mixture code was counted)"
THESIS_SETTINGS = "MNIST / LASS (Ours), thesis's candidates and T"
# ours, not the thesis's (harness.lass.separate): the rows Table 5.2 adds for it
RERANKED = "LASS + prior re-ranking (ours)"
RERANK_ROWS = (RERANKED, f"{RERANKED}, paired difference from LASS (Ours)", f"{RERANKED}, setting")
RERANK_TIME = "MNIST / LASS + prior re-ranking (ours), added time"


def _load_json(path: str, kind: str) -> dict:
    return read_json(path, SCHEMAS[kind], f"{kind} file")


def _setting(sampler: dict, refine: dict, label: str = "") -> str:
    """'<label or sampler kind>, C candidates, T = steps'."""
    return f"{label or sampler['kind']}, {sampler.get('candidates', 1)} candidates, T = {refine['steps']}"


def _refinement(refine: dict) -> str:
    """', alpha = a, pull p': the refinement's step size (Eqs. 5.5-5.6) and its pull towards the
    sampled codes (the original code's, not in the thesis's equations), where the run logged them."""
    return "".join(f", {name}{refine[key]:g}" for key, name in (("alpha", "alpha = "), ("regularizer", "pull "))
                   if isinstance(refine.get(key), (int, float)))  # fmt: skip


def _timing_setting(timing: dict, runs: int, label: str) -> str:
    threads = f"{timing['threads']} thread" + ("s" if timing["threads"] != 1 else "")
    vq = timing.get("vqvae") or {}
    size = f"; VQ-VAE K = {vq['codes']}, width {vq['dim']}" if vq else ""
    return (f"{timing['device']}, {threads}, {runs} runs after a warm-up; "
            f"{_setting(timing['sampler'], timing['refine'], label)}{size}")  # fmt: skip


def write_report(
    likelihood_meta: str,
    test_csv: str,
    test_summary: str,
    baselines_csv: str,
    sampler_csvs: dict[str, str],
    sampler_names: dict[str, str],
    timing_json: str,
    timing_thesis_json: str,
    estimates: str,
    out_dir: str,
    figure: str,
    test_sampler: str,
    celeba_likelihood_meta: str | None = None,
    celeba_summary: str | None = None,
    audio: dict | None = None,
) -> None:
    """Tables 5.1-5.4 and Figure 5.3; with ``audio`` (the keyword arguments of ``audio_rows``)
    also the Slakh rows of Tables 5.1, 5.3, 5.4 and Table 5.5."""
    slakh = audio_rows(**audio) if audio else {"5_1": [], "5_3": [], "5_4": []}
    rows_5_1 = []
    for name, path in (("MNIST", likelihood_meta), ("CelebA", celeba_likelihood_meta)):
        if path:
            meta = _load_json(path, "likelihood")
            rows_5_1 += [
                (name, "K", str(meta["codes"])),
                (name, "Likelihood density", f"{meta['density_percent']:.2f} %"),
                (f"{name}, codes in use (ours)", "K", str(meta["codes_used"])),
            ]
    write_ours_csv(os.path.join(out_dir, "table_5_1.csv"), rows_5_1 + slakh["5_1"],
                   only_ours={f"{name}, codes in use (ours)" for name in ("MNIST", "CelebA", SLAKH)})  # fmt: skip
    celeba = _load_json(celeba_summary, "summary") if celeba_summary else None
    lass = _column(test_csv, "psnr")
    n = len(lass)
    test = _load_json(test_summary, "test")
    sampler_label = sampler_names.get(test_sampler, test_sampler)
    averages = _same_mixtures(baselines_csv, test_csv, "average_psnr")
    average = averages.mean()
    unrefined_each = _column(test_csv, "psnr_unrefined")
    unrefined, ceiling = unrefined_each.mean(), _same_mixtures(baselines_csv, test_csv, "psnr_ceiling").mean()
    note = (
        f"LASS - Average on MNIST, paired over the test mixtures: {_paired(lass - averages)} dB after refinement, "
        f"{_paired(unrefined_each - averages)} dB before; refining the sources' own codes "
        f"reaches {ceiling:.1f} dB, "
        f"so {ceiling - lass.mean():.1f} dB are lost in the codes the sampler picks (prior and "
        "candidates), not in the VQ-VAE"
    )
    search_errors = int(_column(test_csv, "search_error").sum())
    possible = int(_column(test_csv, "truth_possible").sum())
    note += (
        f"; the sources' own codes are possible (L > 0 wherever the mixture code was counted) in {possible} of {n} "
        f"mixtures, and in {search_errors} of those they score higher under the sampler's posterior "
        "than every candidate (the search missed them); in the rest the models rule the true codes "
        "out or score them below a candidate"
    )
    rerank_rows, rerank_time = _rerank_rows(test_csv, test, lass)
    if rerank_rows:
        note += (
            f"; keeping instead, of the {test['rerank']['candidates']} best candidates by L2, the one whose sources "
            "are most probable under the prior after a short refinement (ours, not the thesis's) gives "
            f"{rerank_rows[0][2]} dB"
        )
    write_ours_csv(
        os.path.join(out_dir, "table_5_2.csv"),
        [
            ("Average", "MNIST (PSNR)", f"{average:.1f}"),
            ("NMF", "MNIST (PSNR)", f"{_column(baselines_csv, 'nmf_psnr').mean():.1f}"),
            ("LASS (Ours)", "MNIST (PSNR)", f"{lass.mean():.1f}"),
            (STANDARD_ERROR, "MNIST (PSNR)", f"{lass.std(ddof=1) / np.sqrt(n):.1f}" if n > 1 else "-"),
            ("LASS (Ours), before refinement", "MNIST (PSNR)", f"{unrefined:.1f}"),
            (CEILING, "MNIST (PSNR)", f"{ceiling:.1f}"),
            (COUNTED, "MNIST (PSNR)", f"{100 * _column(test_csv, 'true_pair_counted').mean():.1f} %"),
            (FALLBACKS, "MNIST (PSNR)", f"{test['fallbacks']} of {test['positions']}"),
            (POSSIBLE, "MNIST (PSNR)", f"{possible} of {n}"),
            (SEARCH_ERRORS, "MNIST (PSNR)", f"{search_errors} of {n}"),
            ("Test mixtures (ours)", "MNIST (PSNR)", str(n)),
            (
                "LASS sampler (ours)",
                "MNIST (PSNR)",
                _setting(test["sampler"], test["refine"], sampler_label) + _refinement(test["refine"]),
            ),
            *rerank_rows,
        ]
        + (
            [
                ("Average", "CelebA (FID)", f"{celeba['average_fid']:.2f}"),
                ("LASS (Ours)", "CelebA (FID)", f"{celeba['fid']:.2f}"),
                ("Test mixtures (ours)", "CelebA (FID)", str(celeba["mixtures"])),
            ]
            if celeba
            else []
        ),  # fmt: skip
        only_ours={
            STANDARD_ERROR,
            "LASS (Ours), before refinement",
            CEILING,
            COUNTED,
            FALLBACKS,
            POSSIBLE,
            SEARCH_ERRORS,
            "Test mixtures (ours)",
            "LASS sampler (ours)",
            *RERANK_ROWS,
        },  # fmt: skip
        note=note,
    )
    rows = []
    for name, path in sampler_csvs.items():
        if name not in sampler_names:
            raise HarnessError(f"sampler {name!r} has no row label in --sampler-names")
        rows.append((sampler_names[name], "MNIST (PSNR)", mean_std(_column(path, "psnr"))))
    write_ours_csv(os.path.join(out_dir, "table_5_3.csv"), rows + slakh["5_3"])
    rows_5_4 = []
    # the same file as --timing: the test run's setting is the thesis's, one row says so
    same = os.path.samefile(timing_json, timing_thesis_json)
    timings = [("MNIST / LASS (Ours)", timing_json)]
    if not same:
        timings.append((THESIS_SETTINGS, timing_thesis_json))
    for row, path in timings:
        timing = _load_json(path, "timing")
        seconds = np.asarray(timing["seconds"])
        setting = _timing_setting(timing, len(seconds), sampler_label)
        setting += " (the thesis's candidates and T)" if same else ""
        rows_5_4 += [(row, "Time", mean_std(seconds, " s")), (f"{row}, setting", "Time", setting)]
    write_ours_csv(os.path.join(out_dir, "table_5_4.csv"), rows_5_4 + rerank_time + slakh["5_4"],
                   only_ours={THESIS_SETTINGS, f"{THESIS_SETTINGS}, setting", "MNIST / LASS (Ours), setting",
                              "Slakh / LASS (Ours), setting", RERANK_TIME})  # fmt: skip
    if audio:
        write_ours_csv(os.path.join(out_dir, "table_5_5.csv"), slakh["5_5"], note=slakh["note_5_5"],
                       only_ours={NO_SEPARATION, AUDIO_CEILING, COUNTED, FALLBACKS, "Test mixtures (ours)",
                                  "LASS sampler (ours)"})  # fmt: skip
    plot_separations(
        estimates, figure, f"LASS on MNIST test mixtures ({sampler_label}, L2 selection, refinement)"
    )


def _paired(diff: np.ndarray) -> str:
    """'+m ± se': a paired difference's mean and its standard error over the mixtures (just '+m'
    for one mixture)."""
    if len(diff) < 2:
        return f"{diff.mean():+.1f}"
    return f"{diff.mean():+.1f} ± {diff.std(ddof=1) / np.sqrt(len(diff)):.1f}"


def _same_mixtures(baselines_csv: str, test_csv: str, column: str) -> np.ndarray:
    """A baseline's column, checked to hold the test run's mixtures in the same order (the source
    pairs of each row), so that the two can be paired mixture by mixture."""
    pairs = [
        [(r.get("source_1"), r.get("source_2")) for r in _rows(path)] for path in (baselines_csv, test_csv)
    ]
    if pairs[0] != pairs[1]:
        raise HarnessError(f"{baselines_csv} and {test_csv} do not hold the same mixtures in the same order")
    return _column(baselines_csv, column)


def _rerank_rows(test_csv: str, test: dict, lass: np.ndarray) -> tuple[list, list]:
    """Table 5.2's and 5.4's rows of the prior re-ranking, when the test run scored it (its CSV
    has ``psnr_reranked`` and its summary the settings and seconds): ([], []) otherwise."""
    if not _has_column(test_csv, "psnr_reranked"):
        return [], []
    if "rerank" not in test:
        raise HarnessError(f"{test_csv} has psnr_reranked but its summary no 'rerank' settings")
    reranked = _column(test_csv, "psnr_reranked")
    diff = reranked - lass
    kept = int((_column(test_csv, "rerank_choice") == 0).sum())
    settings = test["rerank"]
    paired = f"{_paired(diff)} (standard error)" if len(diff) > 1 else "-"
    setting = (f"of the {settings['candidates']} best candidates by L2, each refined {settings['steps']} steps, "
               f"the one of highest log p(x1) + log p(x2), then T = {test['refine']['steps']}; "
               f"L2's choice kept in {kept} of {len(diff)}")  # fmt: skip
    rows = [(RERANK_ROWS[0], "MNIST (PSNR)", f"{reranked.mean():.1f}"), (RERANK_ROWS[1], "MNIST (PSNR)", paired),
            (RERANK_ROWS[2], "MNIST (PSNR)", setting)]  # fmt: skip
    per_mixture = test["rerank_seconds_per_mixture"]
    time = [(RERANK_TIME, "Time", f"{per_mixture:.2f} s per mixture (test run, refinements batched by 64)")]
    return rows, time


# Table 5.5's rows of the methods `harness lass audio-baselines` runs, and what each runs
AUDIO_ROWS = {"rpca": "rPCA", "ica": "ICA", "hpss": "HPSS", "repet_sim": "REPET", "ft2d": "FT2D",
              "hdemucs": "Demucs", "convtasnet": "Conv-Tasnet"}  # fmt: skip
AUDIO_RUNS = {
    "rPCA": "robust PCA of the magnitude spectrogram (inexact ALM, ours)",
    "ICA": "scikit-learn FastICA, 2 components of the magnitude spectrogram",
    "HPSS": "librosa median-filtering HPSS",
    "REPET": "REPET-SIM (librosa nn_filter)",
    "FT2D": "2-D Fourier peak picking (ours)",
    "Demucs": "torchaudio HDemucs trained in the DAG",
    "Conv-Tasnet": "torchaudio ConvTasNet trained in the DAG",
}
NO_SEPARATION = "Mixture as both estimates (no separation)"
AUDIO_CEILING = "VQ-VAE decoding the sources' own codes (ceiling)"
SLAKH = "Slakh (Drum + Bass)"


def _sdr_columns(path: str, method: str | None = None,
                 keys: tuple[str, str] = ("sdr_1", "sdr_2")) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Per-mixture SDR of source 1 and source 2 (NaN where bss_eval had no frame) of a CSV, or
    of one method's rows of a baselines CSV."""
    if not os.path.isfile(path):
        raise HarnessError(f"{path} not found")
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    if method is not None:
        rows = [r for r in rows if r.get("method") == method]
    if not rows or not set(keys) <= set(rows[0]):
        raise HarnessError(f"{path}: no {' / '.join(keys)} rows{f' of {method}' if method else ''}")
    try:
        return tuple(np.asarray([float(r[k]) for r in rows]) for k in keys)
    except (TypeError, ValueError):
        raise HarnessError(f"{path}: an SDR that is not a number") from None


def _sdr_cells(first: np.ndarray, second: np.ndarray) -> tuple[str, str, str]:
    """(Avg., source 1, source 2): means over the mixtures with a finite SDR."""
    a, b = float(np.nanmean(first)), float(np.nanmean(second))
    return f"{(a + b) / 2:.2f}", f"{a:.2f}", f"{b:.2f}"


def audio_rows(likelihood_meta: str, test_csv: str, test_summary: str, baselines_csv: str,
               sampler_csvs: dict[str, str], sampler_names: dict[str, str], test_sampler: str,
               dataset: str) -> dict[str, list]:  # fmt: skip
    """The Slakh rows (row, column, ours) of Tables 5.1, 5.3, 5.4 and 5.5, from LASS on audio."""
    meta = _load_json(likelihood_meta, "likelihood")
    test = _load_json(test_summary, "audio_test")
    stems = [s.capitalize() for s in test["stems"]]
    out = {"5_1": [(SLAKH, "K", str(meta["codes"])), (SLAKH, "Likelihood density", f"{meta['density_percent']:.2e} %"),
                   (f"{SLAKH}, codes in use (ours)", "K", str(meta["codes_used"]))]}  # fmt: skip
    rows = []
    for name, path in sampler_csvs.items():
        if name not in sampler_names:
            raise HarnessError(f"audio sampler {name!r} has no row label")
        per_mixture = np.nanmean(np.stack(_sdr_columns(path)), axis=0)
        rows.append((sampler_names[name], "Slakh (SDR)", mean_std(per_mixture[np.isfinite(per_mixture)])))
    out["5_3"] = rows
    seconds = np.asarray(test["seconds"])
    threads = f"{test['threads']} thread" + ("s" if test["threads"] != 1 else "")
    vq = test["vqvae"]
    out["5_4"] = [("Slakh / LASS (Ours)", "Time", mean_std(seconds, " s")),
                  ("Slakh / LASS (Ours), setting", "Time",
                   f"{test['device']}, {threads}, each of {len(seconds)} test mixtures of "
                   f"{test['samples'] / test['sample_rate']:.2f} s once; {sampler_names.get(test_sampler, test_sampler)}, "
                   f"{test['sampler'].get('candidates', 1)} candidates; VQ-VAE K = {vq['codes']}, hop {vq['hop']}")]  # fmt: skip
    columns = ("Avg.", *stems)
    table = []
    for method, row in AUDIO_ROWS.items():
        try:
            cells = _sdr_cells(*_sdr_columns(baselines_csv, method))
        except HarnessError:
            continue  # a method the config left out
        table += [(row, c, v) for c, v in zip(columns, cells)]
    lass = _sdr_columns(test_csv)
    table += [("LASS (Ours)", c, v) for c, v in zip(columns, _sdr_cells(*lass))]
    table += [
        (NO_SEPARATION, c, v) for c, v in zip(columns, _sdr_cells(*_sdr_columns(baselines_csv, "mixture")))
    ]
    ceiling = _sdr_columns(test_csv, keys=("ceiling_1", "ceiling_2"))
    table += [(AUDIO_CEILING, c, v) for c, v in zip(columns, _sdr_cells(*ceiling))]
    table += [(COUNTED, "Avg.", f"{100 * _column(test_csv, 'true_pair_counted').mean():.1f} %"),
              (FALLBACKS, "Avg.", f"{test['fallbacks']} of {test['positions']}"),
              ("Test mixtures (ours)", "Avg.", str(len(lass[0]))),
              ("LASS sampler (ours)", "Avg.", f"{sampler_names.get(test_sampler, test_sampler)}, "
                                              f"{test['sampler'].get('candidates', 1)} candidates")]  # fmt: skip
    out["5_5"] = table
    out["note_5_5"] = (
        f"Ours on {dataset} {' + '.join(test['stems'])} at {test['sample_rate']} Hz (the Slakh stem layout, "
        f"rendered from MIDI here), not Slakh2100. Blind methods (nussl does not install with our pins), "
        f"each scored with its two outputs assigned to the sources the better way round: "
        + "; ".join(f"{k}: {v}" for k, v in AUDIO_RUNS.items())
    )
    return out


def plot_separations(estimates: str, path: str, title: str, examples: int = 8) -> None:
    """Figure 5.3: columns are examples; rows mixture, the two separations, the two sources."""
    if not os.path.isfile(estimates):
        raise HarnessError(f"{estimates} not found")
    keys = ("estimate_1", "estimate_2", "source_1", "source_2")
    try:
        with np.load(estimates, allow_pickle=False) as data:
            e1, e2, x1, x2 = (data[k] for k in keys)
    except (OSError, KeyError, ValueError, EOFError) as err:
        raise HarnessError(
            f"{estimates}: not an estimates file with {', '.join(keys)} ({str(err)[:80]})"
        ) from None
    if not (e1.ndim == 4 and len(e1) and e1.shape == e2.shape == x1.shape == x2.shape):
        raise HarnessError(f"{estimates}: estimates and sources must share one [n, c, h, w] shape")
    e1, e2, x1, x2 = (a[:examples, 0] for a in (e1, e2, x1, x2))
    rows = [("mixture", (x1 + x2) / 2), ("LASS 1", e1), ("LASS 2", e2), ("source 1", x1), ("source 2", x2)]
    plt = pyplot()
    fig, axes = plt.subplots(len(rows), len(x1), figsize=(1.2 * len(x1), 1.3 * len(rows)))
    axes = np.atleast_2d(axes)
    for r, (label, images) in enumerate(rows):
        for c in range(len(x1)):
            ax = axes[r, c]
            ax.imshow(images[c], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)
