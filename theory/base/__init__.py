"""The base layer: infrastructure every occam package shares, importing nothing of the project.

Errors and validators (:mod:`.errors`), the command-line convention and flags generated from
config dataclasses (:mod:`.cli`), configurations as data (:mod:`.configs`), atomic files
(:mod:`.io`) and provenance (:mod:`.provenance`), modular-arithmetic facts (:mod:`.modular`) and
the :class:`~.trajectory.Trajectory` record (docs/architecture.md).
"""

from theory.base.cli import (
    FlagSpec,
    OccamArgumentParser,
    add_config_file_argument,
    add_config_flags,
    add_out_argument,
    arg_type,
    overrides_from_args,
    run_cli,
)
from theory.base.configs import (
    apply_overrides,
    config_from_dict,
    config_to_dict,
    load_config_file,
    replace_path,
)
from theory.base.errors import (
    InputError,
    check_choice,
    check_finite,
    check_int,
    check_odd_prime,
    check_positive,
    check_range,
)
from theory.base.io import (
    atomic_write_bytes,
    atomic_write_text,
    read_json,
    save_figure,
    to_jsonable,
    write_csv,
    write_json,
)
from theory.base.load import RunRecord, load_run
from theory.base.modular import GATE_CONVENTIONS, OPS, is_prime, op_table, primitive_root
from theory.base.provenance import git_hash, run_metadata
from theory.base.trajectory import Trajectory

__all__ = [
    "InputError",
    "check_choice",
    "check_finite",
    "check_int",
    "check_odd_prime",
    "check_positive",
    "check_range",
    "OccamArgumentParser",
    "FlagSpec",
    "add_config_flags",
    "add_config_file_argument",
    "add_out_argument",
    "arg_type",
    "overrides_from_args",
    "run_cli",
    "apply_overrides",
    "config_from_dict",
    "config_to_dict",
    "load_config_file",
    "replace_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "read_json",
    "save_figure",
    "to_jsonable",
    "write_csv",
    "write_json",
    "git_hash",
    "run_metadata",
    "GATE_CONVENTIONS",
    "OPS",
    "op_table",
    "is_prime",
    "primitive_root",
    "Trajectory",
    "RunRecord",
    "load_run",
]
