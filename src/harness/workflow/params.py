"""Rule parameters that remember which config key they came from.

Rules write ``params: bins=cfg("odeen.histogram_bins")``; Snakemake formats the value into the
shell command as usual, and the DVC generator reads ``.key`` to declare the stage's ``params:``.
"""

from __future__ import annotations

import json
import shlex
from functools import reduce

from harness.core.errors import HarnessError


class ConfigParam:
    def __init__(self, config: dict, key: str):
        self.key = key
        try:
            self.value = reduce(lambda node, part: node[part], key.split("."), config)
        except (KeyError, TypeError):
            raise HarnessError(f"config key {key!r} is missing") from None

    def __str__(self) -> str:
        """The value as the shell command gets it: a mapping or list as one quoted JSON word."""
        if isinstance(self.value, (dict, list)):
            return shlex.quote(json.dumps(self.value, sort_keys=True, separators=(",", ":")))
        return str(self.value)

    def __repr__(self) -> str:
        return f"ConfigParam({self.key!r}={self.value!r})"
