"""``python -m theory check``: run the claim catalogues and write the report (docs/claims.md)."""

from __future__ import annotations

import argparse
import json
import sys

from theory.base.cli import add_out_argument, arg_type
from theory.base.errors import InputError, check_int, check_positive
from theory.base.io import save_figure, to_jsonable, write_json
from theory.base.provenance import run_metadata
from theory.claims import Budget, Claim, check_claim, discover_claims, plot_results

__all__ = ["add_check_parser", "list_claims_main"]

_pos = arg_type(check_positive)


def _config(args: argparse.Namespace) -> dict:
    return {k: v for k, v in vars(args).items() if k != "func"}


def _jsonable_or_repr(x: object) -> object:
    try:
        out = to_jsonable(x)
        json.dumps(out, allow_nan=False)
        return out
    except (TypeError, ValueError):
        return repr(x)


def _selected_claims(names: list[str], errors: list[str]) -> list[Claim]:
    claims = discover_claims(errors)
    if not names:
        return claims
    by_name = {c.name: c for c in claims}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise InputError(
            f"CLAIM: unknown {', '.join(unknown)}; known claims: {', '.join(by_name) or 'none'}"
        )
    return [by_name[n] for n in dict.fromkeys(names)]


def _cmd_check(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    errors: list[str] = []
    claims = _selected_claims(args.claims, errors)
    for line in errors:
        print(line, file=sys.stderr)
    db = args.out / "hypothesis-db"  # kept with the run: --resume replays its falsifications
    db.mkdir(exist_ok=True)
    results, records = [], []
    for c in claims:
        budget = Budget(
            examples=args.examples or c.budget.examples, seconds=args.seconds or c.budget.seconds
        )
        bar = tqdm(
            total=budget.examples, desc=c.name, file=sys.stderr, disable=args.quiet, leave=False
        )
        last = [0]

        def tick(n: int, bar=bar, last=last) -> None:
            bar.update(n - last[0])
            last[0] = n

        res = check_claim(c, budget, database=db, seed=args.seed, progress=tick)
        bar.close()
        results.append(res)
        print(f"{c.name} [{c.kind}]: {res.summary()}")
        if not res.held:
            print(f"  counterexample (shrunk): {res.counterexample!r}")
            if res.values:
                shown = ", ".join(f"{k} = {v!r}" for k, v in res.values.items())
                print(f"  values: {shown}")
            if res.replay:
                print(f"  replay: {res.replay}")
        records.append(
            {
                "name": c.name,
                "kind": c.kind,
                "statement": c.statement,
                "domain": c.domain,
                "source": c.source,
                "budget": {"examples": budget.examples, "seconds": budget.seconds},
                "held": res.held,
                "n_cases": res.n_cases,
                "seconds": res.seconds,
                "counterexample": None if res.held else repr(res.counterexample),
                "counterexample_data": None if res.held else _jsonable_or_repr(res.counterexample),
                "values": _jsonable_or_repr(res.values),
                "message": res.message,
                "replay": res.replay,
                "cases": [
                    {
                        "case": _jsonable_or_repr(r["case"]),
                        "values": _jsonable_or_repr(r["values"]),
                        "held": r["held"],
                    }
                    for r in res.cases
                ],
            }
        )
    bugs = [r.name for r in results if r.is_bug]
    write_json(
        args.out / "check.json",
        {
            "metadata": run_metadata("theory check", _config(args), seed=args.seed),
            "results": records,
            "falsified_identities": bugs,
            "falsified_laws": [r.name for r in results if not r.held and not r.is_bug],
            "catalogue_errors": errors,
        },
    )
    if results:
        save_figure(plot_results(results, {c.name: c for c in claims}), args.out / "check")
    held = sum(r.held for r in results)
    print(f"{held}/{len(results)} claims held; wrote {args.out / 'check.json'} and check.png/.svg")
    if bugs:
        print(f"identity falsified (a bug): {', '.join(bugs)}", file=sys.stderr)
        return 1
    return 0


def _cmd_check_list(args: argparse.Namespace) -> int:
    errors: list[str] = []
    for c in _selected_claims(args.claims, errors):
        b = c.budget
        print(f"{c.name} [{c.kind}] ({b.examples} cases, {b.seconds:g} s): {c.statement}")
    for line in errors:
        print(line, file=sys.stderr)
    return 0


def list_claims_main(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    """``check --list``: print the claims (one line each) and write nothing."""
    try:
        return _cmd_check_list(parser.parse_args(argv))
    except InputError as exc:
        sys.stderr.write(f"{parser.prog}: error: {exc}\n")
        return 2


def add_check_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``check`` subcommand on ``python -m theory``'s subparsers."""
    k = sub.add_parser(
        "check",
        help="search for counterexamples to the theory's (and the SFM's) claims with Hypothesis",
        description="Run every claim of the occam.claims catalogues (or those named): each is "
        "reported held on N generated cases, or FALSIFIED with its shrunk counterexample "
        "(docs/claims.md). Exit 1 only if an identity is falsified.",
    )
    k.add_argument("claims", nargs="*", metavar="CLAIM", help="claim names (default: all)")
    k.add_argument(
        "--examples",
        type=arg_type(check_int, 1),
        default=None,
        help="cases per claim (default: its own budget)",
    )
    k.add_argument(
        "--seconds", type=_pos, default=None, help="generation seconds per claim (default: its own)"
    )
    k.add_argument("--seed", type=arg_type(check_int), default=None, help="reproducible generation")
    k.add_argument("--list", action="store_true", help="list the claims and exit (writes nothing)")
    k.add_argument("--quiet", action="store_true", help="no progress bar")
    add_out_argument(k, "runs/theory-check", resumable=True)
    k.set_defaults(func=_cmd_check)
