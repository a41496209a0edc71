"""The command-line convention shared by every ``python -m <package>`` (docs/architecture.md).

Bad input is reported as one line naming the argument, the allowed range and what to do, with
exit code 2; library functions raise :class:`InputError` with the same kind of message.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import stat
import sys
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from theory.base.configs import _strip_optional, field_types
from theory.base.errors import InputError, check_finite, check_int
from theory.base.runs import POLICY_DEST, RunFolder, start_run
from theory.base.runs import add_out_argument as add_out_argument
from theory.base.version import DISTRIBUTION, __version__

__all__ = [
    "OccamArgumentParser",
    "add_out_argument",
    "add_version_argument",
    "version_line",
    "run_cli",
    "arg_type",
    "list_of",
    "add_cluster_arguments",
    "cluster_from_args",
    "FlagSpec",
    "add_config_flags",
    "overrides_from_args",
    "add_config_file_argument",
]


def arg_type(check: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[[str], Any]:
    """Turn a ``check_*(name, value, ...)`` validator into an argparse ``type=``."""

    def convert(text: str) -> Any:
        try:
            return check("value", text, *args, **kwargs)
        except InputError as exc:
            # argparse prefixes "argument --name:"; drop our generic "value:" prefix.
            raise argparse.ArgumentTypeError(str(exc).removeprefix("value: ")) from None

    convert.__name__ = getattr(check, "__name__", "value").removeprefix("check_")
    return convert


class OccamArgumentParser(argparse.ArgumentParser):
    """argparse with a one-line error (argument, range, remedy) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        raise SystemExit(2)


def version_line(package: str) -> str:
    """What ``--version`` prints: ``theory (occam-grokking) 0.2.0``."""
    return f"{package} ({DISTRIBUTION}) {__version__}"


def add_version_argument(parser: argparse.ArgumentParser, package: str) -> None:
    """``--version`` on a top-level parser (:func:`run_cli` adds it to every package's)."""
    if "--version" not in parser._option_string_actions:
        parser.add_argument("--version", action="version", version=version_line(package))


def list_of(check: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[[str], Any]:
    """argparse ``type=`` for a comma-separated list (``0.3,1,3``), validated element-wise."""

    def convert(text: str) -> tuple[Any, ...]:
        try:
            return tuple(check("value", x.strip(), *args, **kwargs) for x in text.split(",") if x)
        except InputError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix("value: ")) from None

    convert.__name__ = "list"
    return convert


def add_cluster_arguments(parser: argparse.ArgumentParser, *, threads: bool = True) -> None:
    """``--scheduler``, ``--workers``, ``--connect-timeout`` (and ``--threads-per-worker``) of a
    command that runs a grid on :mod:`theory.base.sweeps`."""
    from theory.base.cluster import CONNECT_TIMEOUT
    from theory.base.errors import check_range

    parser.add_argument(
        "--scheduler",
        default=None,
        help="Dask scheduler address (tcp://host:8786) of a running cluster; default: a "
        "LocalCluster of worker processes on this machine; 'synchronous' runs in-process",
    )
    parser.add_argument(
        "--workers",
        type=arg_type(check_int, lo=1),
        default=None,
        help="LocalCluster worker processes (default: number of cores; not with --scheduler)",
    )
    if threads:
        parser.add_argument(
            "--threads-per-worker",
            "--threads",
            dest="threads_per_worker",
            type=arg_type(check_int, lo=1),
            default=1,
            help="CPU threads of each run (default 1: fastest on a shared machine; exact step "
            "counts depend on it, docs/statistics.md)",
        )
    parser.add_argument(
        "--connect-timeout",
        type=arg_type(check_range, 0.0, 3600.0, lo_open=True),
        default=CONNECT_TIMEOUT,
        metavar="SECONDS",
        help=f"how long to wait for --scheduler to answer (default {CONNECT_TIMEOUT:g})",
    )


def cluster_from_args(args: argparse.Namespace) -> Any:
    """The :class:`theory.base.sweeps.ClusterSpec` the cluster flags describe (checked)."""
    from theory.base.sweeps import ClusterSpec

    return ClusterSpec(
        scheduler=args.scheduler,
        workers=args.workers,
        threads_per_worker=getattr(args, "threads_per_worker", 1),
        connect_timeout=args.connect_timeout,
    )


def _silence_stdout() -> None:
    """The reader of stdout went away (``| head``): send what is left to /dev/null, quietly."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, AttributeError, ValueError):
        pass  # stdout is not a file descriptor (captured in tests): nothing will be flushed


class _PipeSafeStdout:
    """stdout that survives its reader going away: the rest goes to /dev/null, the run goes on.

    ``python -m theory crossover | head -1`` then prints one line and still writes its files
    (with ``PYTHONUNBUFFERED`` every print writes at once, so a closed pipe would otherwise stop
    the command half-way).
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def write(self, text: str) -> int:
        try:
            return self._inner.write(text)
        except BrokenPipeError:
            _silence_stdout()
            return len(text)

    def flush(self) -> None:
        try:
            self._inner.flush()
        except BrokenPipeError:
            _silence_stdout()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _stdout_is_pipe() -> bool:
    try:
        return stat.S_ISFIFO(os.fstat(sys.stdout.fileno()).st_mode)
    except (OSError, AttributeError, ValueError):
        return False


def _flush_stdout() -> bool:
    """Flush stdout; ``False`` if its reader has gone (a broken pipe)."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        return False
    return True


def run_cli(build_parser: Callable[[], argparse.ArgumentParser], argv: Sequence[str] | None) -> int:
    """Parse ``argv``, resolve the run folder and call the chosen subcommand's ``func(args)``.

    A subcommand with :func:`add_out_argument` gets ``args.out`` resolved by the run-folder
    policy (:mod:`theory.base.runs`) before it runs; its ``RUNNING`` marker is removed when it
    returns 0. :class:`InputError` becomes one line on stderr and exit code 2 (and the folder
    is left as it was); a closed stdout (``| head``) ends the run quietly. The parser gets
    ``--version``, named after the package that defines ``build_parser``.
    """
    # A CLI draws figures into files only: no window, whatever the user's default backend.
    os.environ.setdefault("MPLBACKEND", "Agg")
    parser = build_parser()
    package = build_parser.__module__.partition(".")[0]
    add_version_argument(parser, parser.prog if package == "__main__" else package)
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    policy = vars(args).pop(POLICY_DEST, None)
    saved_stdout = sys.stdout
    if _stdout_is_pipe():
        sys.stdout = _PipeSafeStdout(saved_stdout)  # type: ignore[assignment]
    try:
        return _run(parser, func, args, policy, argv)
    finally:
        if isinstance(sys.stdout, _PipeSafeStdout):
            sys.stdout = saved_stdout


def _run(
    parser: argparse.ArgumentParser,
    func: Callable[[argparse.Namespace], Any],
    args: argparse.Namespace,
    policy: Any,
    argv: Sequence[str] | None,
) -> int:
    run: RunFolder | None = None
    try:
        if policy is not None:
            given = list(sys.argv[1:]) if argv is None else list(argv)
            run = start_run(args, policy, parser.prog, given)
        rc = int(func(args) or 0)
    except InputError as exc:
        if run is not None:
            run.undo()
        _flush_stdout()
        sys.stderr.write(f"{parser.prog}: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        where = f"; {run.path} keeps RUNNING (an incomplete run)" if run else ""
        sys.stderr.write(f"{parser.prog}: interrupted; finished results are kept{where}\n")
        return 130
    except BrokenPipeError:
        # stdout closed before the command finished: its folder keeps RUNNING (incomplete).
        _silence_stdout()
        return 141
    # The command finished; a reader that stopped early (| head) does not make it incomplete.
    _flush_stdout()
    if rc == 0 and run is not None:
        run.finish()
    return rc


# --------------------------------------------------------------------------------------------
# Flags generated from a configuration dataclass


@dataclass(frozen=True)
class FlagSpec:
    """How one config field appears on the command line.

    ``flag``: its name when it is not ``--<leaf-name-with-dashes>``; ``help``: the help text;
    ``choices``: allowed values; ``check``: an ``arg_type`` converter replacing the one derived
    from the field's type; ``skip``: no flag (the command sets the field itself).
    """

    flag: str | None = None
    help: str = ""
    choices: Sequence[Any] | None = None
    check: Callable[[str], Any] | None = None
    skip: bool = False


def _leaves(cls: type, prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for name, tp in field_types(cls).items():
        inner = _strip_optional(tp)
        if dataclasses.is_dataclass(inner):
            out.extend(_leaves(inner, f"{prefix}{name}."))
        else:
            out.append((f"{prefix}{name}", tp))
    return out


def _scalar_type(tp: Any) -> Callable[[str], Any] | None:
    if tp is int:
        return arg_type(check_int)
    if tp is float:
        return arg_type(check_finite)
    if tp is str:
        return str
    return None


def _default_of(default: Any, path: str) -> Any:
    for part in path.split("."):
        default = getattr(default, part, None)
    return default


def add_config_flags(
    parser: argparse.ArgumentParser,
    cls: type,
    specs: Mapping[str, FlagSpec] | None = None,
    *,
    defaults: Any = None,
) -> dict[str, str]:
    """One flag per leaf field of the (nested) dataclass ``cls``; returns ``{dest: path}``.

    A field ``task.frac`` becomes ``--frac`` unless ``specs["task.frac"]`` renames it. Flags
    default to ``None`` ("not given") so a preset's or ``--config`` file's value stands;
    ``defaults`` (a ``cls`` instance) is quoted in the help. Two leaves with one flag name, or a
    field type with no command-line form and no spec, are programming errors raised here.
    """
    specs = dict(specs or {})
    unknown = set(specs) - {p for p, _ in _leaves(cls)}
    if unknown:
        raise TypeError(f"{cls.__name__}: flag specs for unknown fields {sorted(unknown)}")
    dests: dict[str, str] = {}
    for path, tp in _leaves(cls):
        spec = specs.get(path, FlagSpec())
        if spec.skip:
            continue
        flag = spec.flag or "--" + path.rsplit(".", 1)[-1].replace("_", "-")
        dest = "cfg__" + path.replace(".", "__")
        if flag in {a for act in parser._actions for a in act.option_strings}:
            raise TypeError(f"{cls.__name__}.{path}: flag {flag} is taken; give a FlagSpec")
        kw: dict[str, Any] = {"dest": dest, "default": None, "help": spec.help or path}
        if defaults is not None:
            kw["help"] += f" (default: {_default_of(defaults, path)})"
        inner = _strip_optional(tp)
        origin = typing.get_origin(inner)
        if inner is bool:
            kw["action"] = argparse.BooleanOptionalAction
        elif origin is tuple:
            args = typing.get_args(inner)
            elem = args[0] if args else str
            kw["nargs"] = "*" if (len(args) == 2 and args[1] is Ellipsis) else len(args)
            kw["type"] = spec.check or _scalar_type(elem)
        else:
            kw["type"] = spec.check or _scalar_type(inner)
        if kw.get("type") is None and "action" not in kw:
            raise TypeError(f"{cls.__name__}.{path}: type {tp} needs a FlagSpec(check=...)")
        if spec.choices is not None:
            kw["choices"] = list(spec.choices)
        elif "action" not in kw:  # help shows --lr LR, not the internal dest
            kw["metavar"] = flag.lstrip("-").replace("-", "_").upper()
        parser.add_argument(flag, **kw)
        dests[dest] = path
    return dests


def overrides_from_args(args: argparse.Namespace, dests: Mapping[str, str]) -> dict[str, Any]:
    """``{path: value}`` for the generated flags the user gave (lists become tuples)."""
    out: dict[str, Any] = {}
    for dest, path in dests.items():
        value = getattr(args, dest, None)
        if value is not None:
            out[path] = tuple(value) if isinstance(value, list) else value
    return out


def add_config_file_argument(parser: argparse.ArgumentParser) -> None:
    """``--config FILE``: start from the configuration a run wrote into its JSON."""
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help="a run's JSON (summary.json, crosscheck.json, ...) or a bare config: rerun exactly "
        "that configuration; flags given as well override it",
    )
