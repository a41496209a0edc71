"""The measure registry: every complexity measure by name, with its options (definitions §4.3).

A measure is a :class:`MeasureSpec`: its name, its own frozen options dataclass (which validates
itself in ``__post_init__``), the defaults the measure uses when given none, and a factory
``options -> MeasureFn``. Every measure is called the same way, ``fn(model, dataset) -> dict``.

Adding a measure is one module plus one line here:

1. write ``transformer_check/measures/<name>.py`` with a frozen ``<Name>Options`` dataclass and a
   factory ``<name>_measure(**fields) -> MeasureFn`` whose keyword arguments are those fields;
2. add ``MeasureSpec("<name>", <Name>Options, keywords(<name>_measure))`` to ``_SPECS`` below
   (``progress=True`` for an opt-in one; the name tuples are read off ``_SPECS``).

A measure that needs the weight matrices' SVDs or the forward pass over all inputs takes them from
:class:`~transformer_check.measures.shared.SharedWork` (its spec's ``uses``; its factory's
``shared`` keyword), so :func:`build_measures` computes each once per step for all of them.

Its options are then settable everywhere by name: ``build_measures(names, {"<name>": {...}})``
in code and ``--measure-option <name>.<field>=VALUE`` on the command line.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from theory.base.configs import field_types
from theory.base.errors import InputError, check_finite, check_int
from transformer_check.measures.bdm_measure import BDMOptions, bdm_measures
from transformer_check.measures.circuit import CircuitOptions, circuit_measure
from transformer_check.measures.compression import CompressionOptions, compression_measure
from transformer_check.measures.fourier import FourierOptions, fourier_measures
from transformer_check.measures.llc import LLC_MEASURE_CONFIG, SGLDConfig, llc_measure
from transformer_check.measures.lmn import LMNOptions, lmn_measure
from transformer_check.measures.mediation import MediationOptions, mediation_measure
from transformer_check.measures.nanda import NandaOptions, nanda_measure
from transformer_check.measures.ring import RingOptions, ring_measure
from transformer_check.measures.shared import SharedWork
from transformer_check.measures.sparsity import SparsityOptions, sparsity_measure
from transformer_check.measures.spectral import SpectralOptions, spectral_measure
from transformer_check.measures.weight_entropy import WeightEntropyOptions, weight_entropy_measure

__all__ = [
    "MeasureFn",
    "MeasureSpec",
    "keywords",
    "fixed",
    "MEASURES",
    "BUILTIN_MEASURES",
    "PROGRESS_MEASURES",
    "ALL_MEASURES",
    "build_measure",
    "build_measures",
    "parse_measure_option",
    "get_measure",
]

# ``fn(model, dataset) -> {key: value}``; values are floats except a few descriptive strings
# (``fourier_key_freqs``, ``nanda_key_freqs``).
MeasureFn = Callable[[Any, Any], dict[str, Any]]


@dataclass(frozen=True)
class MeasureSpec:
    """One registered measure (definitions §4.3).

    Parameters
    ----------
    name : str
        The name used by :func:`build_measure` and ``--measure-option``.
    options : type
        The measure's frozen options dataclass (it validates itself).
    factory : callable
        ``options -> MeasureFn``; see :func:`keywords` and :func:`fixed`.
    defaults : object, optional
        An ``options`` instance used when none is given; default ``options()``.
    progress : bool, default False
        One of the opt-in progress measures rather than a default training one.
    uses : callable, optional
        ``options -> names``: the work of :class:`~transformer_check.measures.shared.SharedWork`
        (``"svd"``, ``"forward"``) the measure takes; :func:`build_measures` then passes the
        factory one shared instance as its second argument.

    Examples
    --------
    >>> from transformer_check.measures import MEASURES
    >>> spec = MEASURES["compression"]
    >>> spec.field_names(), spec.default_options()
    (('eps', 'budget'), CompressionOptions(eps=0.1, budget=24))
    """

    name: str
    options: type
    factory: Callable[[Any], MeasureFn]
    defaults: Any = None
    progress: bool = False
    uses: Callable[[Any], tuple[str, ...]] | None = None

    def default_options(self) -> Any:
        """The options the measure uses when given none."""
        return self.defaults if self.defaults is not None else self.options()

    def field_names(self) -> tuple[str, ...]:
        """Names of the options dataclass' fields, in order."""
        return tuple(f.name for f in dataclasses.fields(self.options))


def keywords(factory: Callable[..., MeasureFn]) -> Callable[[Any], MeasureFn]:
    """``(options, shared=None) -> factory(**fields of options[, shared=shared])``: adapts a
    keyword factory to the registry."""

    def build(options: Any, shared: SharedWork | None = None) -> MeasureFn:
        kw = {f.name: getattr(options, f.name) for f in dataclasses.fields(options)}
        return factory(**kw) if shared is None else factory(**kw, shared=shared)

    build.__wrapped__ = factory  # type: ignore[attr-defined]
    return build


def fixed(fn: MeasureFn) -> Callable[[Any], MeasureFn]:
    """The factory of a measure without knobs: always ``fn``."""
    return lambda _options: fn


def _uses_svd(_options: Any) -> tuple[str, ...]:
    return ("svd",)


def _uses_forward(_options: Any) -> tuple[str, ...]:
    return ("forward",)


_SPECS = (
    # Logged by default during training (cheap, definitions §4.3 first group).
    MeasureSpec("spectral", SpectralOptions, keywords(spectral_measure), uses=_uses_svd),
    MeasureSpec("compression", CompressionOptions, keywords(compression_measure), uses=_uses_svd),
    MeasureSpec("fourier", FourierOptions, fixed(fourier_measures)),
    MeasureSpec("bdm", BDMOptions, fixed(bdm_measures)),
    # The papers' progress measures (Golechha 2024; Liu, Zhong & Tegmark 2023; Zhang et al. 2026) and the LLC (definitions §2.3): opt-in.
    MeasureSpec(
        "sparsity", SparsityOptions, keywords(sparsity_measure), progress=True, uses=_uses_forward
    ),
    MeasureSpec(
        "weight_entropy", WeightEntropyOptions, keywords(weight_entropy_measure), progress=True
    ),
    MeasureSpec("circuit", CircuitOptions, keywords(circuit_measure), progress=True),
    MeasureSpec("lmn", LMNOptions, keywords(lmn_measure), progress=True),
    MeasureSpec("mediation", MediationOptions, keywords(mediation_measure), progress=True),
    MeasureSpec("llc", SGLDConfig, llc_measure, defaults=LLC_MEASURE_CONFIG, progress=True),
    # Nanda et al. 2023's Fourier progress measures (docs/nanda_measures.md): opt-in.
    MeasureSpec("nanda", NandaOptions, keywords(nanda_measure), progress=True),
    MeasureSpec(
        "ring",
        RingOptions,
        keywords(ring_measure),
        progress=True,
        uses=lambda o: ("forward",) if o.resid else (),
    ),
)
MEASURES: dict[str, MeasureSpec] = {s.name: s for s in _SPECS}
BUILTIN_MEASURES = tuple(s.name for s in _SPECS if not s.progress)
PROGRESS_MEASURES = tuple(s.name for s in _SPECS if s.progress)
ALL_MEASURES = BUILTIN_MEASURES + PROGRESS_MEASURES


def _spec(name: str) -> MeasureSpec:
    if name not in MEASURES:
        raise InputError(f"measures: unknown measure {name!r}; choose from {', '.join(MEASURES)}")
    return MEASURES[name]


def _tuples(value: Any) -> Any:
    """JSON lists as tuples, so options stay hashable and compare equal to their defaults."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list | tuple) else value


def _options(spec: MeasureSpec, options: Mapping[str, Any] | Any | None) -> Any:
    if options is None:
        return spec.default_options()
    if isinstance(options, spec.options):
        return options
    if not isinstance(options, Mapping):
        raise InputError(
            f"{spec.name}: options must be a mapping or {spec.options.__name__}, "
            f"got {type(options).__name__}"
        )
    unknown = sorted(set(options) - set(spec.field_names()))
    if unknown:
        raise InputError(
            f"{spec.name}: unknown option(s) {', '.join(map(str, unknown))}; "
            f"valid: {', '.join(spec.field_names()) or '(none)'}"
        )
    try:
        return dataclasses.replace(
            spec.default_options(), **{k: _tuples(v) for k, v in options.items()}
        )
    except InputError as exc:
        raise InputError(f"{spec.name}.{exc}") from None
    except TypeError as exc:  # a value a validator could not even compare
        raise InputError(f"{spec.name}: {exc}") from None


def build_measure(name: str, options: Mapping[str, Any] | Any | None = None) -> MeasureFn:
    """The measure ``name`` with ``options`` over its defaults (definitions §4.3).

    Parameters
    ----------
    name : str
        A registered measure, one of :data:`ALL_MEASURES`.
    options : mapping or options dataclass, optional
        Fields that replace the measure's defaults, or a whole options instance.

    Returns
    -------
    MeasureFn
        ``fn(model, dataset) -> dict``.

    Raises
    ------
    InputError
        For an unknown name or field, or an invalid value.

    Examples
    --------
    >>> from transformer_check.measures import build_measure
    >>> fn = build_measure("compression", {"eps": 0.05})
    >>> callable(fn)
    True
    >>> try:
    ...     build_measure("compression", {"size": 1})
    ... except ValueError as exc:
    ...     print(exc)
    compression: unknown option(s) size; valid: eps, budget
    """
    spec = _spec(name)
    return spec.factory(_options(spec, options))


def build_measures(
    names: Sequence[str], options: Mapping[str, Mapping[str, Any] | Any] | None = None
) -> dict[str, MeasureFn]:
    """``{name: fn}`` for ``names`` in order; ``options[name]`` sets that measure's fields.

    Parameters
    ----------
    names : sequence of str
        Registered measures.
    options : mapping, optional
        Measure name -> its options (a field mapping or options dataclass). Options for a
        registered measure that is not in ``names`` are ignored (a caller may pass one options
        block for every run); an unregistered name there is an error like one in ``names``.

    Returns
    -------
    dict of str to MeasureFn
        The measures that take the same work (the weight SVDs; the forward pass over all inputs)
        share one :class:`~transformer_check.measures.shared.SharedWork`: each is computed once
        per step, with the same values as a measure built alone.

    Raises
    ------
    InputError
        For an unknown name, field or invalid value.

    Examples
    --------
    >>> from transformer_check.measures import build_measures
    >>> list(build_measures(["spectral", "fourier"], {"llc": {"n_chains": 2}}))
    ['spectral', 'fourier']
    """
    opts = dict(options or {})
    for name in opts:
        _spec(name)
    built = {name: (_spec(name), _options(_spec(name), opts.get(name))) for name in names}
    uses = {n: spec.uses(o) if spec.uses else () for n, (spec, o) in built.items()}
    work = SharedWork(
        svd_users=sum("svd" in u for u in uses.values()),
        forward_users=sum("forward" in u for u in uses.values()),
    )
    return {
        n: spec.factory(o, work) if uses[n] else spec.factory(o) for n, (spec, o) in built.items()
    }


_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def _convert(tp: Any, text: str, where: str) -> Any:
    """``text`` as a value of the field type ``tp`` (``none`` for an optional field)."""
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args:
        if text.strip().lower() in ("none", "null"):
            return None
        inner = [a for a in args if a is not type(None)]
        tp = inner[0] if len(inner) == 1 else Any
    if tp is bool:
        low = text.strip().lower()
        if low not in _TRUE + _FALSE:
            raise InputError(f"{where}: expected true or false, got {text!r}")
        return low in _TRUE
    if tp is int:
        return check_int(where, text.strip())
    if tp is float:
        return check_finite(where, text.strip())
    if tp is str:
        return text
    try:
        return _tuples(json.loads(text))
    except json.JSONDecodeError:
        raise InputError(f"{where}: expected a JSON value such as [[0, 1]], got {text!r}") from None


def parse_measure_option(text: str) -> tuple[str, str, Any]:
    """Parse one ``--measure-option NAME.FIELD=VALUE``, converted to the field's type and validated.

    Parameters
    ----------
    text : str
        Such as ``"llc.n_chains=4"``; ``none`` for an optional field, JSON for a tuple.

    Returns
    -------
    tuple of (str, str, object)
        The measure, the field and the value.

    Raises
    ------
    InputError
        If the text is malformed, the measure or field unknown, or the value invalid.

    Examples
    --------
    >>> from transformer_check.measures import parse_measure_option
    >>> parse_measure_option("llc.n_chains=4")
    ('llc', 'n_chains', 4)
    """
    target, eq, value = text.partition("=")
    name, dot, fld = target.strip().partition(".")
    if not eq or not dot or not name or not fld:
        raise InputError(
            f"measure option: expected NAME.FIELD=VALUE such as llc.n_chains=4, got {text!r}"
        )
    spec = _spec(name)
    types_ = field_types(spec.options)
    if fld not in types_:
        raise InputError(f"{name}: unknown option {fld!r}; valid: {', '.join(types_) or '(none)'}")
    v = _convert(types_[fld], value, f"{name}.{fld}")
    _options(spec, {fld: v})
    return name, fld, v


def get_measure(name: str, **options: Any) -> MeasureFn:
    """The measure ``name`` with keyword options (``build_measure(name, options)``).

    Parameters
    ----------
    name : str
        A registered measure.
    **options
        Fields of its options dataclass.

    Returns
    -------
    MeasureFn

    Raises
    ------
    InputError
        For an unknown name or field, or an invalid value.

    Examples
    --------
    >>> from transformer_check.measures import get_measure
    >>> callable(get_measure("compression", eps=0.05))
    True
    """
    return build_measure(name, options or None)
