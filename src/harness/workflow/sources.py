"""The source files a ``harness <family> ...`` step runs: the modules it imports, found by
reading the code (every ``import harness...`` statement, function-level ones included, followed
transitively), plus the data files that ship beside them and that one of them names (``tables/registry.yaml``).

Both views of the DAG use this one list: each Snakemake rule names its command's list as its
``code`` input (``CODE("lass", "separate")``; a test checks every rule names the command it runs), and
the generated ``dvc.yaml`` stage declares the rule's inputs as its deps. A fix in a shared module
(``metrics/image.py``) therefore re-runs exactly the steps whose command imports it, and a
corrected thesis value in the registry re-runs the tables.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import harness

PACKAGE_DIR = Path(harness.__file__).resolve().parent  # src/harness
SRC_DIR = PACKAGE_DIR.parent
DATA_SUFFIXES = (".yaml", ".yml", ".json")


def module_file(module: str) -> Path | None:
    """The file of a ``harness`` module (a package's ``__init__.py``), or None if it is no module."""
    if module != "harness" and not module.startswith("harness."):
        return None
    base = SRC_DIR.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@cache
def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(_text(path), filename=str(path))


def _harness_modules(nodes) -> set[str]:
    """The ``harness`` modules the import statements among ``nodes`` name (``from a import b``
    counts ``a.b`` when it is a module)."""
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {m for m in found if module_file(m) is not None}


@cache
def _imports(path: Path, top_level_only: bool = False) -> frozenset[str]:
    """The ``harness`` modules a file imports: anywhere in it, or at its top level only."""
    tree = _tree(path)
    return frozenset(_harness_modules(tree.body if top_level_only else ast.walk(tree)))


def _with_parents(module: str) -> list[str]:
    """A module and the packages above it (importing ``a.b.c`` runs ``a`` and ``a.b`` first)."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


@cache
def module_closure(roots: tuple[str, ...]) -> tuple[str, ...]:
    """Every ``harness`` module that importing ``roots`` may run, sorted."""
    seen: set[str] = set()
    todo = [p for root in roots for p in _with_parents(root)]
    while todo:
        module = todo.pop()
        if module in seen or module_file(module) is None:
            continue
        seen.add(module)
        for imported in _imports(module_file(module)):
            todo.extend(_with_parents(imported))
    return tuple(sorted(seen))


def _handlers(tree: ast.Module) -> dict[str, str]:
    """``step(sub, "train-vqvae", _train_vqvae, ...)`` calls of a module: step -> handler name."""
    found = {}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "step"
                and len(node.args) >= 3 and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[2], ast.Name)):  # fmt: skip
            found[node.args[1].value] = node.args[2].id
    return found


def _function_imports(tree: ast.Module, name: str) -> set[str]:
    """The modules function ``name`` imports inside its body, and those of the module's functions
    it calls (followed transitively)."""
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    todo, seen, found = [name], set(), set()
    while todo:
        fn = todo.pop()
        if fn in seen or fn not in functions:
            continue
        seen.add(fn)
        nodes = list(ast.walk(functions[fn]))
        found |= _harness_modules(nodes)
        todo.extend(n.id for n in nodes if isinstance(n, ast.Name) and n.id in functions)
    return found


def command_roots(family: str, step: str) -> tuple[str, ...]:
    """The modules ``harness <family> <step>`` runs: the CLI's own top-level imports (offline
    environment, errors, logging), the top-level imports of the module registering the step
    (``harness.<family>.commands``, or the CLI itself for ``tables``; the other steps' imports
    in that module do not count), and every module the step's handler function imports, directly
    or through the module's helper functions."""
    cli_path = PACKAGE_DIR / "cli.py"
    roots = set(_imports(cli_path, top_level_only=True))
    module = f"harness.{family}.commands"
    path = module_file(module) or cli_path
    tree = _tree(path)
    handler = _handlers(tree).get(step)
    if handler is None:
        raise ValueError(f"no step `harness {family} {step}` in {path.name}")
    if path != cli_path:  # the commands module runs its top-level imports, and its package's
        roots |= _imports(path, top_level_only=True) | {f"harness.{family}"}
    return tuple(sorted(roots | _function_imports(tree, handler)))


def _relative(path: Path, root: Path) -> str:
    return path.resolve().relative_to(root).as_posix()


@cache
def command_sources(family: str, step: str) -> tuple[str, ...]:
    """Paths (relative to the repository root) of the source and data files ``harness <family>
    <step>`` runs: ``command_sources("lass", "separate")`` holds ``src/harness/lass/separate.py``
    and the shared ``src/harness/metrics/image.py``, but no Odeen module; ``command_sources(
    "tables", "build")`` holds ``src/harness/tables/registry.yaml``."""
    root = SRC_DIR.parent
    files: set[Path] = {
        PACKAGE_DIR / "cli.py",
        module_file(f"harness.{family}.commands") or PACKAGE_DIR / "cli.py",
    }
    modules = [module_file(m) for m in module_closure(command_roots(family, step))]
    files.update(modules)
    texts = "\n".join(_text(p) for p in modules)
    for path in modules:  # data files a module reads by name (tables/registry.yaml)
        files.update(p for p in path.parent.iterdir() if p.suffix in DATA_SUFFIXES and p.name in texts)
    return tuple(sorted(_relative(f, root) for f in files))
