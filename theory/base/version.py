"""The release number of the occam-grokking distribution: the one place it is written.

pyproject.toml reads it (``[tool.setuptools.dynamic]``), each of the four packages re-exports it
as ``__version__``, and every ``--version`` flag prints it (:mod:`theory.base.cli`).
"""

__all__ = ["DISTRIBUTION", "__version__"]

#: The name on PyPI (``occam`` belongs to another project there).
DISTRIBUTION = "occam-grokking"

__version__ = "0.2.0"
