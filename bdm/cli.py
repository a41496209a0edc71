"""``python -m bdm``: ``measure`` (per-tensor and total BDM) and ``blocks`` (per-block CTM heatmaps)."""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from theory.base.cli import OccamArgumentParser, add_out_argument, arg_type, run_cli
from theory.base.errors import InputError, check_int
from theory.base.io import save_figure, write_csv, write_json
from theory.base.provenance import run_metadata

from .partition import BlockGroup, parse_partition
from .weights import (
    KBDMResult,
    as_matrix,
    bdm_for,
    k_bdm,
    load_tensors,
    select_model_tensors,
    to_symbols,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_side = arg_type(check_int, lo=1, hi=12)
_nsym = arg_type(check_int, lo=2, hi=9)


def _partition(text: str):
    try:
        return parse_partition(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("partition: ")) from None


def _nsymbols(args: argparse.Namespace) -> int:
    if args.map == "quartile":
        return 4
    if args.map == "median":
        return 2
    if args.nsymbols is None:
        raise InputError("--nsymbols: required with --map none (the alphabet size of the symbols)")
    return args.nsymbols


def _config(args: argparse.Namespace) -> dict:
    return {
        "file": str(args.file),
        "map": args.map,
        "layout": args.layout,
        "nsymbols": _nsymbols(args),
        "block": args.block,
        "partition": repr(args.partition),
    }


def _load(args: argparse.Namespace) -> tuple[dict[str, np.ndarray], dict[str, str], list[str]]:
    """FILE's tensors; of a training checkpoint only the model's parameters (plain names)."""
    return select_model_tensors(load_tensors(args.file), args.include_state)


def _note_left_out(args: argparse.Namespace, n_params: int, left_out: list[str]) -> None:
    if left_out:
        print(
            f"note: {args.file} is a training checkpoint: used its model parameters ({n_params} "
            f"tensors, plain names) and skipped {len(left_out)} optimizer and RNG state tensors (opt.*, rng.*); "
            "--include-state measures them too",
            file=sys.stderr,
        )


def _fmt(x: float | None, spec: str) -> str:
    if x is None:
        width = re.match(r">(\d+)", spec)
        return "-".rjust(int(width.group(1)) if width else 1)
    return format(x, spec)


def _measure_rows(res: KBDMResult) -> list[dict]:
    """One row per tensor: its BDM, NBDM, block entropy, or why it was skipped."""
    rows = []
    for t in res.tensors:
        r = t.result
        rows.append(
            {
                "tensor": t.name,
                "shape": "x".join(map(str, t.shape)),
                "blocks": None if r is None else r.n_blocks,
                "bdm_bits": None if r is None else r.bdm,
                "nbdm": None if r is None else r.nbdm,
                "entropy_bits": None if r is None else r.entropy,
                "missing_fraction": None if r is None else r.missing_fraction,
                "note": t.skipped or (r.nbdm_note if r is not None else None),
            }
        )
    return rows


def _print_measure_table(res: KBDMResult, rows: list[dict], partition: object) -> None:
    width = max(8, *(len(r["tensor"]) for r in rows))
    head = f"{'tensor':<{width}}  {'shape':>12}  {'blocks':>8}  {'BDM (bits)':>14}  "
    head += f"{'NBDM':>7}  {'entropy':>8}  {'missing':>7}"
    print(f"{res.table}, {res.layout} layout, {res.mapping} mapping, partition {partition!r}")
    print(head)
    for r in rows:
        line = f"{r['tensor']:<{width}}  {r['shape']:>12}  {_fmt(r['blocks'], '>8')}  "
        line += f"{_fmt(r['bdm_bits'], '>14.3f')}  {_fmt(r['nbdm'], '>7.4f')}  "
        line += f"{_fmt(r['entropy_bits'], '>8.4f')}  {_fmt(r['missing_fraction'], '>7.2%')}"
        if r["note"]:
            line += f"  ({r['note']})"
        print(line)
    n_all = sum(r["blocks"] or 0 for r in rows)
    line = f"{'K_BDM':<{width}}  {'(total)':>12}  {n_all:>8}  {res.total_bdm:>14.3f}  "
    line += f"{_fmt(res.total_nbdm, '>7.4f')}  {res.pooled_entropy:>8.4f}"
    print(line + ("" if res.total_nbdm_note is None else f"  ({res.total_nbdm_note})"))


def _cmd_measure(args: argparse.Namespace) -> int:
    tensors, skip, left_out = _load(args)
    nsym = _nsymbols(args)
    try:
        res = k_bdm(
            tensors,
            mapping=args.map,
            layout=args.layout,
            nsymbols=nsym,
            side=args.block,
            partition=args.partition,
            skip=skip,
        )
    except InputError as exc:
        if not str(exc).startswith("tensor"):  # table and option errors name their own subject
            raise
        raise InputError(f"{args.file}: {exc}") from None
    rows = _measure_rows(res)
    _print_measure_table(res, rows, args.partition)
    _note_left_out(args, len(tensors), left_out)
    out: Path = args.out
    write_json(
        out / "bdm_measure.json",
        {
            "metadata": run_metadata("bdm measure", _config(args)),
            "table": res.table,
            "k_bdm_bits": res.total_bdm,
            "total_nbdm": res.total_nbdm,
            "total_nbdm_note": res.total_nbdm_note,
            "pooled_entropy_bits": res.pooled_entropy,
            "tensors": rows,
        },
    )
    write_csv(out / "bdm_measure.csv", rows)
    save_figure(measure_figure(rows, res.table), out / "bdm_measure")
    print(f"wrote {out / 'bdm_measure.json'}, .csv, .png, .svg")
    return 0


def measure_figure(rows: list[dict], table: str) -> Figure:
    """BDM per block of each measured tensor, NBDM annotated (``bdm_measure.png``)."""
    import matplotlib.pyplot as plt

    done = [r for r in rows if r["bdm_bits"] is not None]
    fig, ax = plt.subplots(figsize=(max(5, 0.5 * len(done) + 2), 4))
    per_block = [r["bdm_bits"] / r["blocks"] for r in done]
    ax.bar(range(len(done)), per_block, color="tab:blue")
    ax.set_xticks(range(len(done)), [r["tensor"] for r in done], rotation=45, ha="right")
    ax.set_ylabel("BDM per block (bits)")
    ax.set_title(f"BDM per tensor ({table})")
    for i, r in enumerate(done):
        if r["nbdm"] is not None:
            ax.annotate(
                f"NBDM {r['nbdm']:.2f}", (i, per_block[i]), ha="center", va="bottom", fontsize=7
            )
    ax.grid(axis="y", alpha=0.3)
    return fig


def _block_grid(group: BlockGroup, values: np.ndarray, matrix_shape: tuple[int, int], layout: str):
    """Per-block values on a 2-D grid of block origins (1-D layouts wrap at the row length)."""
    if layout == "2d":
        steps = [np.diff(np.unique(group.origins[:, a]))[:1] for a in range(2)]
        step = [int(s[0]) if s.size else 1 for s in steps]
        gi = group.origins[:, 0] // step[0]
        gj = group.origins[:, 1] // step[1]
        grid = np.full((gi.max() + 1, gj.max() + 1), np.nan)
        grid[gi, gj] = values
        return grid
    width = max(1, matrix_shape[1] // group.shape[0])
    pad = (-values.size) % width
    return np.concatenate([values, np.full(pad, np.nan)]).reshape(-1, width)


def blocks_figure(grid: np.ndarray, name: str, block: str, table: str, layout: str) -> Figure:
    """Heatmap of each block's CTM on the grid of block origins (``blocks_<tensor>.png``)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    im = ax.imshow(grid, cmap="magma", interpolation="nearest", aspect="auto")
    fig.colorbar(im, ax=ax, label="CTM of block (bits)")
    ax.set_title(f"{name}: per-block CTM, {block} blocks ({table})")
    ax.set_xlabel("block column" if layout == "2d" else "block index within row")
    ax.set_ylabel("block row")
    return fig


def _pick(tensors: dict[str, np.ndarray], wanted: list[str], file: Path) -> dict[str, np.ndarray]:
    """``--tensor`` names, plain or with a checkpoint's ``param.`` prefix."""
    picked = {}
    for n in wanted:
        key = n if n in tensors else n.removeprefix("param.")
        if key not in tensors:
            raise InputError(
                f"--tensor: {n!r} is not a tensor of {file}; available: {', '.join(tensors)}"
            )
        picked[key] = tensors[key]
    return picked


def _cmd_blocks(args: argparse.Namespace) -> int:
    tensors, skip, left_out = _load(args)
    if args.tensor:
        tensors = _pick(tensors, args.tensor, args.file)
    nsym = _nsymbols(args)
    bdm = bdm_for(nsym, args.layout, args.block, args.partition)
    summary = []
    written = 0
    for name, t in tensors.items():
        t = np.asarray(t)
        if name in skip or t.size == 0:
            summary.append({"tensor": name, "skipped": skip.get(name, "empty tensor")})
            continue
        try:
            mat = as_matrix(to_symbols(t, args.map, nsym, name), name)
        except InputError as exc:
            raise InputError(f"{args.file}: {exc}") from None
        data = mat.ravel() if args.layout == "1d" else mat
        try:
            groups = bdm.decompose(data, with_origins=True)
        except InputError as exc:
            summary.append({"tensor": name, "skipped": str(exc)})
            continue
        g = max(groups, key=lambda gr: math.prod(gr.shape))
        ctm, found = bdm.table.lookup_raw(g.shape, g.codes)
        grid = _block_grid(g, ctm, mat.shape, args.layout)
        block = "x".join(map(str, g.shape))
        stem = args.out / f"blocks_{re.sub(r'[^A-Za-z0-9_-]+', '_', name)}"
        save_figure(blocks_figure(grid, name, block, bdm.table.name, args.layout), stem)
        written += 1
        summary.append(
            {
                "tensor": name,
                "figure": str(stem.with_suffix(".png")),
                "block_shape": block,
                "n_blocks": int(g.codes.size),
                "ctm_mean": float(ctm.mean()),
                "ctm_min": float(ctm.min()),
                "ctm_max": float(ctm.max()),
                "missing_blocks": int((~found).sum()),
            }
        )
        print(
            f"{name}: {g.codes.size} blocks of {block}, CTM {ctm.min():.2f}..{ctm.max():.2f} bits"
        )
    if not written:
        raise InputError(
            f"FILE: no tensor of {args.file} is large enough for one block; try --layout 1d"
        )
    _note_left_out(args, len(tensors), left_out)
    write_json(
        args.out / "bdm_blocks.json",
        {"metadata": run_metadata("bdm blocks", _config(args)), "tensors": summary},
    )
    print(f"wrote {written} heatmap(s) (PNG+SVG) and bdm_blocks.json to {args.out}")
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, metavar="FILE", help=".npy, .npz or .safetensors")
    p.add_argument(
        "--map",
        choices=("quartile", "median", "none"),
        default="quartile",
        help="weights to symbols: per-tensor quartiles (4 symbols, default), median (2), "
        "or none (FILE already holds integer symbols; give --nsymbols)",
    )
    p.add_argument(
        "--layout",
        choices=("2d", "1d"),
        default="2d",
        help="2d: 4x4 blocks (4 symbols via the bit-plane table); 1d: rows flattened, length 12",
    )
    p.add_argument("--nsymbols", type=_nsym, default=None, help="alphabet size with --map none")
    p.add_argument("--block", type=_side, default=None, help="block side (default: largest tabled)")
    p.add_argument(
        "--partition",
        type=_partition,
        default=parse_partition("ignore"),
        help="ignore (default), recursive[:MIN_LENGTH] or correlated[:SHIFT]",
    )
    p.add_argument(
        "--include-state",
        action="store_true",
        help="of a training checkpoint, measure the optimizer state too (default: parameters only)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = OccamArgumentParser(
        prog="python -m bdm",
        description="Block Decomposition Method over the published CTM tables (definitions §3).",
    )
    sub = parser.add_subparsers(dest="command", parser_class=OccamArgumentParser)
    m = sub.add_parser("measure", help="per-tensor and total BDM, NBDM and block entropy")
    _common(m)
    add_out_argument(m, "runs/bdm-measure")
    m.set_defaults(func=_cmd_measure)
    b = sub.add_parser("blocks", help="per-block complexity heatmaps (PNG and SVG)")
    _common(b)
    b.add_argument("--tensor", action="append", help="tensor name (repeatable; default: all)")
    add_out_argument(b, "runs/bdm-blocks")
    b.set_defaults(func=_cmd_blocks)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(build_parser, argv)
