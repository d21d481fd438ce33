"""Odeen artifacts of the DAG: universe file, bit-packed tag matrix, rules table, summary."""

from __future__ import annotations

import csv
import io
import json
import os
import zipfile
from collections import Counter

import numpy as np

from harness.core.atomic import write_bytes_with, write_text
from harness.core.errors import HarnessError
from harness.core.figures import pyplot, save_figure
from harness.core.logs import LOG, progress
from harness.odeen.interpreter import label_classes, popcount_rows, tag_matrix
from harness.odeen.language import (
    UNIVERSE_SIZE,
    parse_rule,
    structure_from_str,
    structure_to_str,
    universe,
)

RULES_TSV_COLUMNS = ("rule", "kind", "n_tokens", "n_positive", "label_class")


def write_universe(path: str) -> None:
    """One structure per line, in U's canonical order."""
    text = "\n".join(structure_to_str(s) for s in universe()) + "\n"
    write_text(path, text)
    LOG.info("wrote %d structures to %s", UNIVERSE_SIZE, path)


def read_universe(path: str) -> np.ndarray:
    if not os.path.exists(path):
        raise HarnessError(f"universe file {path} does not exist (run `harness odeen universe`)")
    rows = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            try:
                rows.append(structure_from_str(line.rstrip("\n")))
            except ValueError as err:
                raise HarnessError(f"{path} line {lineno}: {err}") from None
    if not rows:
        raise HarnessError(f"universe file {path} is empty")
    structures = np.stack(rows)
    # U is every structure once, in canonical order: a subset would make every count and rate
    # downstream describe another language while the tables call it U
    if len(structures) != UNIVERSE_SIZE or not np.array_equal(structures, universe()):
        raise HarnessError(
            f"universe file {path} holds {len(structures)} structures, not the {UNIVERSE_SIZE} of U "
            "in canonical order (write it with `harness odeen universe`)"
        )
    return structures


def write_tags(path: str, structures: np.ndarray) -> None:
    rules, packed = tag_matrix(structures)
    LOG.info(
        "tag matrix: %d rules x %d structures, %.1f MB packed",
        len(rules),
        len(structures),
        packed.nbytes / 1e6,
    )

    def save(fh):
        np.savez(fh, packed=packed, rules=np.array(rules), n_structures=len(structures))

    write_bytes_with(path, save)


def read_tags(path: str) -> tuple[list[str], np.ndarray, int]:
    if not os.path.exists(path):
        raise HarnessError(f"tag matrix {path} does not exist (run `harness odeen tags`)")
    try:
        with np.load(path, allow_pickle=False) as z:
            packed, rules, n = z["packed"], z["rules"].tolist(), int(z["n_structures"])
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError) as err:
        raise HarnessError(f"tag matrix {path} is corrupt or not a harness tag file: {err}") from None
    if packed.shape != (len(rules), (n + 7) // 8):
        raise HarnessError(
            f"tag matrix {path}: shape {packed.shape} does not match {len(rules)} rules x {n} structures"
        )
    return rules, packed, n


def rules_table(rules: list[str], packed: np.ndarray) -> list[dict]:
    positives = popcount_rows(packed)
    classes = label_classes(packed)
    out = []
    for rule, pos, cls in progress(zip(rules, positives, classes), total=len(rules), desc="rules"):
        tree = parse_rule(rule)
        out.append(
            {
                "rule": rule,
                "kind": tree.kind,
                "n_tokens": len(tree.tokens),
                "n_positive": int(pos),
                "label_class": int(cls),
            }
        )
    return out


def write_rules_tsv(path: str, table: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=RULES_TSV_COLUMNS, delimiter="\t", lineterminator="\n")
    writer.writeheader()
    writer.writerows(table)
    write_text(path, buf.getvalue())
    LOG.info("wrote %d rules to %s", len(table), path)


def read_rules_tsv(path: str) -> list[dict]:
    if not os.path.exists(path):
        raise HarnessError(f"rules table {path} does not exist (run `harness odeen rules`)")
    with open(path, encoding="utf-8") as fh:
        reader = csv.DictReader(fh, delimiter="\t")
        if tuple(reader.fieldnames or ()) != RULES_TSV_COLUMNS:
            raise HarnessError(f"{path}: columns {reader.fieldnames} are not {list(RULES_TSV_COLUMNS)}")
        table = []
        for line, r in enumerate(reader, 2):
            try:
                counts = {k: int(r[k]) for k in ("n_tokens", "n_positive", "label_class")}
            except (TypeError, ValueError):
                raise HarnessError(
                    f"{path} line {line}: n_tokens, n_positive, label_class must be whole numbers"
                ) from None
            if min(counts.values()) < 0 or counts["n_positive"] > UNIVERSE_SIZE:
                raise HarnessError(f"{path} line {line}: counts out of range ({counts})")
            table.append(dict(r, **counts))
    if not table:
        raise HarnessError(f"rules table {path} lists no rules")
    return table


def summarise(table: list[dict], n_structures: int, bins: int) -> tuple[dict, list[dict]]:
    """Language statistics (DVC metrics) and the positive-rate histogram per kind (DVC plot)."""
    largest = max(r["n_positive"] for r in table)
    if largest > n_structures:
        raise HarnessError(
            f"a rule labels {largest} structures positive, more than --n-structures {n_structures}"
        )
    kinds = Counter(r["kind"] for r in table)
    metrics = {
        "n_structures": n_structures,
        "n_rules": len(table),
        "n_label_classes": len({r["label_class"] for r in table}),
        "rules_per_kind": dict(sorted(kinds.items())),
        "n_rules_exactly_2": sum("exactly 2" in r["rule"] for r in table),
        "n_rules_at_the_left_of": sum("at_the_left_of" in r["rule"] for r in table),
        "max_tokens": max(r["n_tokens"] for r in table),
        "n_rules_never_true": sum(r["n_positive"] == 0 for r in table),
        "n_rules_always_true": sum(r["n_positive"] == n_structures for r in table),
        "mean_positive_rate": float(np.mean([r["n_positive"] for r in table]) / n_structures),
    }
    edges = np.linspace(0.0, 1.0, bins + 1)
    hist = []
    for kind in sorted(kinds):
        rates = np.array([r["n_positive"] for r in table if r["kind"] == kind]) / n_structures
        counts, _ = np.histogram(rates, bins=edges)
        hist += [
            {"kind": kind, "positive_rate": round(float((lo + hi) / 2), 4), "n_rules": int(c)}
            for lo, hi, c in zip(edges[:-1], edges[1:], counts)
        ]
    return metrics, hist


def write_summary(metrics: dict, hist: list[dict], metrics_path: str, plot_path: str) -> None:
    write_text(metrics_path, json.dumps(metrics, indent=2) + "\n")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["kind", "positive_rate", "n_rules"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(hist)
    write_text(plot_path, buf.getvalue())


def plot_positive_rates(hist: list[dict], path: str) -> None:
    """Histogram of the fraction of U each rule labels positive, one panel per rule kind."""
    plt = pyplot()

    kinds = list(dict.fromkeys(h["kind"] for h in hist))
    fig, axes = plt.subplots(1, len(kinds), figsize=(3.2 * len(kinds), 3), sharex=True)
    for ax, kind in zip(np.atleast_1d(axes), kinds):
        rows = [h for h in hist if h["kind"] == kind]
        centres = [h["positive_rate"] for h in rows]
        width = centres[1] - centres[0] if len(centres) > 1 else 1.0
        ax.bar(centres, [h["n_rules"] for h in rows], width=width * 0.9, color="#4c72b0")
        ax.set_title(f"{kind} ({sum(h['n_rules'] for h in rows)} rules)")
        ax.set_xlabel("fraction of U labelled positive")
    np.atleast_1d(axes)[0].set_ylabel("rules")
    fig.suptitle("Odeen rule language: how much of the universe each rule accepts")
    fig.tight_layout()
    save_figure(fig, path)
