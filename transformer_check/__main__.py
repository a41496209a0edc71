import sys

try:
    from transformer_check.cli import main
except ModuleNotFoundError as exc:
    # torch is the one dependency a user installs separately (README, Install): one line, exit 2
    if (exc.name or "").partition(".")[0] != "torch":
        raise
    sys.stderr.write(
        "python -m transformer_check: error: torch is not installed; install it first "
        "(README.md, Install: the PyTorch CPU index, or your own GPU build)\n"
    )
    raise SystemExit(2) from None

raise SystemExit(main())
