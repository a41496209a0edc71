"""Run folders: where a command's files go, so two runs never share a folder (docs/architecture.md,
"Run folders").

Without ``--out`` each run gets a new folder ``<root>/<YYYYmmdd-HHMMSS>-<hash of the arguments>/``
and ``<root>/latest`` points at it. A given ``--out`` must be empty or missing, unless ``--resume``
(the command checks that the run can continue) or ``--overwrite`` (empties it, only if it is an
occam run folder). Every run folder holds ``.occam-run.json`` (who started it, when, how) and,
while the command runs, ``RUNNING``: a folder that still has it after the command ended was killed
or failed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from theory.base.errors import InputError
from theory.base.io import atomic_write_text, make_dirs, to_jsonable
from theory.base.provenance import utc_now

__all__ = [
    "IDENTITY_FILE",
    "RUNNING_FILE",
    "LATEST",
    "POLICY_DEST",
    "OutPolicy",
    "RunFolder",
    "add_out_argument",
    "args_hash",
    "read_latest",
    "start_run",
]

IDENTITY_FILE = ".occam-run.json"
RUNNING_FILE = "RUNNING"
LATEST = "latest"
POLICY_DEST = "_occam_out_policy"
# Parsed arguments that choose where a run goes, not what it computes: not in the folder's hash.
_NOT_HASHED = {"func", "out", "overwrite", "resume", POLICY_DEST}


@dataclass(frozen=True)
class OutPolicy:
    """How a subcommand's ``--out`` is resolved: the root of its default folders, and whether
    the command can continue a run (``--resume``)."""

    default_root: str
    resumable: bool = False


def _has_option(parser: argparse.ArgumentParser, flag: str) -> bool:
    return any(flag in act.option_strings for act in parser._actions)


def add_out_argument(
    parser: argparse.ArgumentParser, default_root: str, *, resumable: bool = False
) -> None:
    """``--out DIR``, ``--overwrite`` and (if ``resumable``) ``--resume`` for one subcommand.

    :func:`theory.base.cli.run_cli` resolves the folder before the command runs and sets
    ``args.out`` to it (a :class:`~pathlib.Path`).
    """
    parser.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help=f"run folder; must be empty or new (default: a new folder under {default_root}/, "
        f"with {default_root}/{LATEST} pointing at the newest)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="empty the --out run folder first (only a folder an occam run made)",
    )
    # A command that adds its own --resume keeps it (same dest, so args.resume is read as before).
    if resumable and not _has_option(parser, "--resume"):
        parser.add_argument(
            "--resume",
            action="store_true",
            help=f"continue the run in --out (default: the one {default_root}/{LATEST} points at)",
        )
    parser.set_defaults(**{POLICY_DEST: OutPolicy(default_root, resumable)})


def args_hash(args: argparse.Namespace) -> str:
    """8 hex digits of SHA-256 over the parsed arguments that decide what the run computes."""
    items = {
        k: v for k, v in sorted(vars(args).items()) if k not in _NOT_HASHED and not callable(v)
    }
    text = json.dumps(to_jsonable(items), sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def read_latest(root: str | os.PathLike) -> Path | None:
    """The folder ``<root>/latest`` points at (a symlink, or a text file naming it), if any."""
    link = Path(root) / LATEST
    try:
        if link.is_symlink():
            target = Path(os.readlink(link))
        elif link.is_file():
            target = Path(link.read_text(encoding="utf-8").strip())
        else:
            return None
    except OSError:
        return None
    return target if target.is_absolute() else Path(root) / target


def _pointer_state(root: Path) -> tuple[str, str] | None:
    link = root / LATEST
    try:
        if link.is_symlink():
            return ("link", os.readlink(link))
        if link.is_file():
            return ("file", link.read_text(encoding="utf-8"))
    except OSError:
        return None
    return None


def _set_pointer(root: Path, name: str) -> None:
    """Point ``<root>/latest`` at ``name``: a relative symlink, or a text file where links fail."""
    tmp = root / f".{LATEST}.{os.getpid()}.tmp"
    try:
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(name, tmp)
        os.replace(tmp, root / LATEST)
        return
    except OSError:
        try:
            tmp.unlink()
        except OSError:
            pass
    try:
        if (root / LATEST).is_symlink():
            (root / LATEST).unlink()
        atomic_write_text(root / LATEST, name + "\n")
    except OSError as exc:
        sys.stderr.write(f"note: could not update {root / LATEST}: {exc.strerror or exc}\n")


def _restore_pointer(root: Path, state: tuple[str, str] | None) -> None:
    link = root / LATEST
    try:
        if link.is_symlink() or link.is_file():
            link.unlink()
        if state is not None and state[0] == "link":
            os.symlink(state[1], link)
        elif state is not None:
            atomic_write_text(link, state[1])
    except OSError:
        pass


def _first_existing(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p.parent != p:
        p = p.parent
    return p


def _prepare_missing(path: Path, flag: str) -> None:
    """Create the folder ``path`` (and its parents), or refuse in one line saying why not."""
    anc = _first_existing(path)
    if not anc.is_dir():
        raise InputError(
            f"{flag}: {anc} is a file, so {path} cannot be a folder under it; choose another --out"
        )
    if not os.access(anc, os.W_OK | os.X_OK):
        raise InputError(
            f"{flag}: cannot create {path}: {anc} is not writable; choose another --out"
        )
    try:
        make_dirs(path)
    except OSError as exc:
        raise InputError(
            f"{flag}: cannot create {path}: {exc.strerror or exc}; choose another --out"
        ) from None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _read_identity(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((path / IDENTITY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


def _empty_folder(path: Path) -> None:
    for entry in path.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


@dataclass
class RunFolder:
    """A resolved run folder and what :func:`start_run` created in it (undone on a refusal)."""

    path: Path
    root: Path | None = None
    created_dir: bool = False
    pointer_before: tuple[str, str] | None = None
    pointer_set: bool = False
    identity_before: str | None = None
    running_before: str | None = None
    entries_before: set[str] = field(default_factory=set)
    attempt: dict[str, Any] = field(default_factory=dict)

    def _write_identity(self, identity: dict[str, Any]) -> None:
        atomic_write_text(self.path / IDENTITY_FILE, json.dumps(identity, indent=2) + "\n")

    def begin(self, prog: str, argv: Sequence[str]) -> None:
        """Write the identity file and the ``RUNNING`` marker."""
        self.attempt = {
            "prog": prog,
            "argv": list(argv),
            "started_utc": utc_now(),
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "cwd": os.getcwd(),
        }
        old = _read_identity(self.path)
        self.entries_before = {e.name for e in self.path.iterdir()}
        self.identity_before = _read_text(self.path / IDENTITY_FILE)
        self.running_before = _read_text(self.path / RUNNING_FILE)
        attempts = list(old.get("attempts", [])) if old else []
        identity = {"occam_run": 1, **self.attempt, "attempts": [*attempts, self.attempt]}
        marker = (
            f"started {self.attempt['started_utc']} by pid {os.getpid()} on "
            f"{self.attempt['host']}: {prog} {' '.join(argv)}\n"
            "This file is removed when the command finishes; if it is here and no such process "
            "runs, the run was killed or failed: continue it with --resume.\n"
        )
        try:
            self._write_identity(identity)
            atomic_write_text(self.path / RUNNING_FILE, marker)
        except OSError as exc:
            self.undo()
            raise InputError(
                f"--out: cannot write into {self.path}: {exc.strerror or exc}; choose another --out"
            ) from None

    def finish(self) -> None:
        """The command returned 0: record it and remove ``RUNNING``."""
        identity = _read_identity(self.path) or {}
        identity["finished_utc"] = utc_now()
        identity["exit_code"] = 0
        try:
            self._write_identity(identity)
            (self.path / RUNNING_FILE).unlink(missing_ok=True)
        except OSError as exc:
            sys.stderr.write(f"note: could not mark {self.path} finished: {exc.strerror}\n")

    def undo(self) -> None:
        """The command refused its input. If it wrote nothing, take back what the policy wrote
        (a refused run leaves no file, and a refused ``--resume`` leaves the folder as it was);
        if it wrote files, keep ``RUNNING``: the folder holds an incomplete run."""
        try:
            now = {e.name for e in self.path.iterdir()}
            if now - self.entries_before - {IDENTITY_FILE, RUNNING_FILE}:
                return
            if self.running_before is None:
                (self.path / RUNNING_FILE).unlink(missing_ok=True)
            else:
                atomic_write_text(self.path / RUNNING_FILE, self.running_before)
            if self.identity_before is None:
                (self.path / IDENTITY_FILE).unlink(missing_ok=True)
            else:
                atomic_write_text(self.path / IDENTITY_FILE, self.identity_before)
            if self.created_dir and not any(self.path.iterdir()):
                self.path.rmdir()
                if self.pointer_set and self.root is not None:
                    _restore_pointer(self.root, self.pointer_before)
        except OSError:
            pass


def _new_default_folder(root: Path, args: argparse.Namespace) -> RunFolder:
    if root.exists() and not root.is_dir():
        raise InputError(f"--out: the default root {root} is a file; remove it or give --out DIR")
    if not root.exists():
        _prepare_missing(root, "--out")
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{args_hash(args)}"
    for i in range(1, 10_000):
        name = stem if i == 1 else f"{stem}-{i}"
        try:
            os.mkdir(root / name, 0o777)  # atomic: two runs started together get two folders
        except FileExistsError:
            continue
        except OSError as exc:
            raise InputError(
                f"--out: cannot create a run folder in {root}: {exc.strerror or exc}; "
                "give --out DIR somewhere writable"
            ) from None
        run = RunFolder(root / name, root=root, created_dir=True)
        run.pointer_before = _pointer_state(root)
        _set_pointer(root, name)
        run.pointer_set = True
        return run
    raise InputError(f"--out: {root} has 10,000 runs started this second; give --out DIR")


def _resume_default(root: Path) -> RunFolder:
    target = read_latest(root)
    if target is None:
        raise InputError(
            f"--resume: no run to continue under {root} (no {root / LATEST}); "
            "give --out DIR of the run to continue, or drop --resume"
        )
    if not target.is_dir():
        raise InputError(
            f"--resume: {root / LATEST} points at {target}, which is not a folder; "
            "give --out DIR of the run to continue"
        )
    return RunFolder(target, root=root)


def _given_folder(text: str, policy: OutPolicy, resume: bool, overwrite: bool) -> RunFolder:
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise InputError(f"--out: {path} is a file, not a folder; choose another --out")
    if not path.exists():
        _prepare_missing(path, "--out")
        return RunFolder(path, created_dir=True)
    try:
        entries = sorted(e.name for e in path.iterdir())
    except OSError as exc:
        raise InputError(
            f"--out: cannot read {path}: {exc.strerror or exc}; choose another --out"
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise InputError(f"--out: {path} is not writable; choose another --out")
    if not entries or resume:
        return RunFolder(path)
    if overwrite:
        identity = _read_identity(path)
        if identity is None:
            raise InputError(
                f"--overwrite: {path} is not an occam run folder (no {IDENTITY_FILE}); "
                "remove it yourself or choose another --out"
            )
        pid = identity.get("pid")
        if (
            (path / RUNNING_FILE).exists()
            and isinstance(pid, int)
            and pid != os.getpid()
            and identity.get("host") == socket.gethostname()
            and _pid_alive(pid)
        ):
            raise InputError(
                f"--overwrite: {path} is in use by a running command (pid {pid}, started "
                f"{identity.get('started_utc')}); wait for it or stop it, or choose another --out"
            )
        try:
            _empty_folder(path)
        except OSError as exc:
            raise InputError(
                f"--overwrite: cannot empty {path}: {exc.strerror or exc}; "
                "remove it yourself or choose another --out"
            ) from None
        return RunFolder(path)
    shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
    how = "--resume to continue the run in it, " if policy.resumable else ""
    raise InputError(
        f"--out: {path} is not empty ({len(entries)} "
        f"{'entry' if len(entries) == 1 else 'entries'}: {shown}); give {how}--overwrite "
        f"to replace it, or choose another --out (without --out each run gets a new folder "
        f"under {policy.default_root}/)"
    )


def start_run(
    args: argparse.Namespace, policy: OutPolicy, prog: str, argv: Sequence[str]
) -> RunFolder:
    """Resolve ``args.out`` by the run-folder policy, write the identity file and ``RUNNING``.

    Sets ``args.out`` to the folder. Raises :class:`InputError` (one line) for a folder that
    cannot be used.
    """
    text = getattr(args, "out", None)
    resume = bool(getattr(args, "resume", False))
    overwrite = bool(getattr(args, "overwrite", False))
    if getattr(args, "resume", None) is not None:  # the command has its own --resume
        policy = OutPolicy(policy.default_root, True)
    if resume and overwrite:
        raise InputError(
            "--overwrite: conflicts with --resume (one continues the run, the other deletes it); "
            "give one of them"
        )
    if text is not None and not str(text).strip():
        raise InputError(
            "--out: empty folder name; give a folder such as --out runs/mine, or leave --out "
            f"out for a new folder under {policy.default_root}/"
        )
    if text is None:
        root = Path(policy.default_root)
        if overwrite:
            raise InputError(
                "--overwrite: needs --out DIR (the folder to replace); without --out every run "
                f"gets a new folder under {root}/"
            )
        run = _resume_default(root) if resume else _new_default_folder(root, args)
    else:
        run = _given_folder(str(text), policy, resume, overwrite)
    args.out = run.path
    run.begin(prog, argv)
    return run
