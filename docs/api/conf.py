"""Sphinx configuration of the API reference (build: ``sphinx-build -W --keep-going -b html docs/api build/api``).

The packages are imported from the checkout (torch installed, as in CI), so nothing is mocked.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

project = "occam"
# one version source: theory/base/version.py (read as text, so conf.py imports nothing first)
release = version = re.search(
    r'^__version__ = "([^"]+)"', (ROOT / "theory" / "base" / "version.py").read_text(), re.M
).group(1)
author = "occam contributors"
copyright = "2026, occam contributors"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
]

# numpy-style docstrings only; fields of dataclasses become :ivar: entries, so an attribute
# listed in a docstring is never a second description of an autodoc attribute.
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_ivar = True
napoleon_use_rtype = False

# A package page documents exactly its __all__, in __all__'s order.
autodoc_default_options = {
    "members": True,
    "imported-members": True,
    "show-inheritance": True,
}
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
# numpy's ArrayLike is a long Union; the signature shows its name.
autodoc_type_aliases = {"ArrayLike": "numpy.typing.ArrayLike"}
autodoc_preserve_defaults = True

exclude_patterns = ["_build"]
html_theme = "alabaster"
html_title = f"occam {release} API reference"
