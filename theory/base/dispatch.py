"""``occam PACKAGE ARGS``: one console script for the four packages, same as ``python -m PACKAGE ARGS``.

The packages are found through the ``occam.commands`` entry-point group (pyproject.toml), never
imported by name, so the base still imports nothing of the project (docs/architecture.md), as
``occam.claims`` does for the claim catalogues; another distribution can add a command the same
way. A package's one-line summary is the first line of its ``__init__`` docstring, read from the
file without importing it, so ``occam --help`` stays fast and works without torch.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import EntryPoint, entry_points

from theory.base.cli import version_line
from theory.base.version import DISTRIBUTION, __version__

__all__ = ["ENTRY_POINT_GROUP", "commands", "help_text", "main"]

ENTRY_POINT_GROUP = "occam.commands"
PROG = "occam"


def commands() -> dict[str, EntryPoint]:
    """``{name: entry point}`` of every registered package command, sorted by name."""
    found: dict[str, EntryPoint] = {}
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        found.setdefault(ep.name, ep)  # a stale second install of one name: the first stands
    return found


def _summary(ep: EntryPoint) -> str:
    """First line of the package's docstring, without its ``name:`` prefix ('' if unreadable)."""
    package = ep.module.partition(".")[0]
    try:
        spec = importlib.util.find_spec(package)
        origin = spec.origin if spec is not None else None
        if origin is None or not origin.endswith(".py"):
            return ""
        with open(origin, encoding="utf-8") as f:
            doc = ast.get_docstring(ast.parse(f.read())) or ""
    except (OSError, SyntaxError, ImportError, ValueError):
        return ""
    line = doc.strip().splitlines()[0] if doc.strip() else ""
    return line.removeprefix(f"{package}:").strip()


def help_text(cmds: dict[str, EntryPoint]) -> str:
    """What ``occam --help`` prints: usage and the registered packages, one line each."""
    width = max((len(n) for n in cmds), default=0) + 2
    rows = [f"  {name:<{width}}{_summary(ep)}".rstrip() for name, ep in cmds.items()]
    return "\n".join(
        [
            f"usage: {PROG} PACKAGE [ARGS ...]",
            f"       {PROG} --version",
            "",
            f"Grokking as an Occam phase transition ({DISTRIBUTION} {__version__}).",
            f"`{PROG} PACKAGE ARGS` runs `python -m PACKAGE ARGS`; `{PROG} PACKAGE --help` lists",
            "its subcommands. '-' and '_' are interchangeable in PACKAGE (transformer-check).",
            "",
            "packages:",
            *(rows or ["  (none registered: install the distribution, `pip install .`)"]),
            "",
            "options:",
            "  -h, --help  show this message and exit",
            "  --version   show the version and exit",
        ]
    )


def _fail(message: str) -> int:
    sys.stderr.write(f"{PROG}: error: {message}\n")
    return 2


def _load(name: str, ep: EntryPoint) -> Callable[[list[str]], int] | str:
    """The package's ``main``, or one line saying which missing module stops it loading."""
    try:
        return ep.load()
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").partition(".")[0]
        if not missing or missing == ep.module.partition(".")[0]:
            raise  # the package itself is broken: a traceback, not a user error
        return (
            f"{name} needs {missing!r}, which is not installed; install it first "
            f"(README.md, Install; for torch: the PyTorch CPU index or your own build)"
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``occam ARGS``: the named package's own ``main`` gets the rest of the arguments."""
    args = list(sys.argv[1:] if argv is None else argv)
    cmds = commands()
    if not args or args[0] in ("-h", "--help"):
        print(help_text(cmds))
        return 0 if args else 2
    if args[0] == "--version":
        print(version_line(PROG))
        return 0
    if args[0].startswith("-"):
        return _fail(
            f"unknown option {args[0]!r}; usage: {PROG} PACKAGE [ARGS ...] (see {PROG} --help)"
        )
    name = args[0].replace("-", "_")
    if name not in cmds:
        known = ", ".join(cmds) or "none registered: install the distribution (`pip install .`)"
        return _fail(f"unknown package {args[0]!r}; choose from {known} (see {PROG} --help)")
    if args[1:] == ["--version"]:  # answered without loading the package: works without torch
        print(version_line(name))
        return 0
    target = _load(name, cmds[name])
    if isinstance(target, str):
        return _fail(target)
    return int(target(args[1:]) or 0)
