"""The registry of thesis tables and figures (registry.yaml beside this file)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from harness.core.errors import HarnessError

REGISTRY_PATH = Path(__file__).with_name("registry.yaml")


@dataclass(frozen=True)
class Entry:
    id: str
    kind: str  # table | figure
    chapter: int
    family: str
    caption: str
    values: tuple[tuple[str, str, str], ...]  # (row, column, thesis value as printed)
    label: str = ""  # title of a result the thesis states in its text, not as a numbered item
    # how far each number of our cells may move between runs on different machines, in the
    # cell's units (`harness results check`); None: wall-clock seconds, not compared
    tolerance: float | None = 0.0
    # rows named by the config (Table 3.2's data regimes): a config with other regimes (the tiny
    # test config) reports its own rows, kept as rows only we have
    config_rows: bool = False
    # columns named by the config (Table 6.4's embedding scales w): the config's grid may hold
    # values the thesis did not try, reported as columns only we have
    config_columns: bool = False

    @property
    def number(self) -> str:
        return ".".join(self.id.split("_")[1:])

    @property
    def title(self) -> str:
        return self.label or f"{self.kind.capitalize()} {self.number}"

    def rows(self) -> list[str]:
        return list(dict.fromkeys(v[0] for v in self.values))

    def columns(self) -> list[str]:
        return list(dict.fromkeys(v[1] for v in self.values))


@cache
def load_registry(path: Path = REGISTRY_PATH) -> dict[str, Entry]:
    with open(path, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    out: dict[str, Entry] = {}
    for kind in ("tables", "figures"):
        for item in raw[kind]:
            values = tuple(tuple(str(x) for x in v) for v in item["values"])
            bad = [v for v in values if len(v) != 3]
            if bad:
                raise HarnessError(f"registry {item['id']}: value rows need [row, column, thesis]: {bad[0]}")
            cells = [(r, c) for r, c, _ in values]
            if len(set(cells)) != len(cells):
                raise HarnessError(f"registry {item['id']}: a (row, column) cell appears twice")
            if item["id"] in out:
                raise HarnessError(f"registry: duplicate id {item['id']}")
            out[item["id"]] = Entry(
                item["id"],
                kind[:-1],
                int(item["chapter"]),
                item["family"],
                item["caption"],
                values,
                item.get("title", ""),
                _tolerance(item),
                _flag(item, "config_rows"),
                _flag(item, "config_columns"),
            )
    return out


def _flag(item: dict, key: str) -> bool:
    value = item.get(key, False)
    if not isinstance(value, bool):
        raise HarnessError(f"registry {item['id']}: {key} must be true or false, got {value!r}")
    return value


def _tolerance(item: dict) -> float | None:
    value = item.get("tolerance", 0.0)
    if value == "timing":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise HarnessError(
            f"registry {item['id']}: tolerance must be a number >= 0 or 'timing', got {value!r}"
        )
    return float(value)


def get_entry(entry_id: str) -> Entry:
    registry = load_registry()
    if entry_id not in registry:
        raise HarnessError(f"unknown table/figure id {entry_id!r} (known: {', '.join(registry)})")
    return registry[entry_id]
