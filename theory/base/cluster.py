"""Connecting a sweep to a running Dask scheduler: refuse a malformed or silent address in one
line, within a timeout, saying how to start a scheduler and its workers (docs/sfm.md)."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Any

from theory.base.errors import InputError

__all__ = ["CONNECT_TIMEOUT", "HOWTO", "check_address", "connect"]

#: Seconds to wait for a scheduler to answer (``sfm sweep --connect-timeout``).
CONNECT_TIMEOUT = 5.0

HOWTO = (
    "start a scheduler with `dask scheduler` (it listens on tcp://HOST:8786) and workers with "
    "`dask worker tcp://HOST:8786` on machines that have occam installed and share the --out "
    "filesystem, or drop --scheduler for a local cluster (docs/sfm.md, 'Running on a cluster')"
)


def check_address(address: str) -> str:
    """``address`` if Dask can parse it as ``[scheme://]host:port``, else :class:`InputError`."""
    from distributed.comm import parse_address, parse_host_port

    try:
        scheme, loc = parse_address(address)
        if scheme in ("tcp", "tls", "ws", "wss", "ucx"):
            _, port = parse_host_port(loc)
            if port is None:
                raise ValueError("no port")
    except (ValueError, TypeError) as exc:
        raise InputError(
            f"--scheduler: {address!r} is not a scheduler address ({exc}); give "
            f"tcp://HOST:PORT, or 'synchronous'; {HOWTO}"
        ) from None
    return address


@contextmanager
def _quiet_dask():
    """Dask logs every failed connection attempt with a traceback; the refusal says it all."""
    loggers = [logging.getLogger(n) for n in ("distributed", "tornado", "asyncio")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for lg, lv in zip(loggers, levels, strict=True):
            lg.setLevel(lv)


def connect(address: str, timeout: float = CONNECT_TIMEOUT) -> Any:
    """A ``dask.distributed.Client`` of the scheduler at ``address``, or :class:`InputError`
    within about ``timeout`` seconds when none answers there."""
    from distributed import Client

    check_address(address)
    with _quiet_dask():
        try:
            return Client(address, timeout=f"{timeout}s")
        except Exception as exc:  # OSError, TimeoutError, CommClosedError, ...: all mean "no"
            kind = type(exc).__name__
            raise InputError(
                f"--scheduler: no Dask scheduler answered at {address} within {timeout:g} s "
                f"({kind}); {HOWTO}"
            ) from None
