"""The citation graph of the product: every "definitions §x.y" names a heading of
docs/definitions.md, no file points at a spec that users do not have, and every short paper key
and arXiv id of the docs is defined and well formed (docs/references.md).

Each test reports every offence as ``path:line: what``, so one run lists them all.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEFINITIONS = ROOT / "docs" / "definitions.md"
REFERENCES = ROOT / "docs" / "references.md"

#: What counts as the product: these file types anywhere under the repository root ...
SUFFIXES = (".py", ".md", ".ipynb", ".toml", ".cff")
#: ... except build outputs, environments, caches, run folders and the session-only ``shared/``.
EXCLUDED_DIRS = {
    ".git",
    ".venv",
    "runs",
    "build",
    "dist",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
}
EXCLUDED_TOP = {"shared"}

# One cited section: §N or §N.M, optionally a range to §K[.L] (the second § may be omitted).
_ITEM = r"§\d+(?:\.\d+)?(?:\s*[-–]\s*§?\d+(?:\.\d+)?)?"
# Items are chained by ",", ";" or "and", each optionally followed by a short parenthesis:
# "definitions §1.6 (drift), §1.7 (gate)".
_SEP = r"(?:\s*\([^()\n]{0,60}\))?\s*(?:,\s*and\b|,|;|\band\b)\s*"
CITATION = re.compile(rf"\bdefinitions\s+({_ITEM}(?:{_SEP}{_ITEM})*)", re.IGNORECASE)
ITEM = re.compile(r"§(\d+)(?:\.(\d+))?(?:\s*[-–]\s*§?(\d+)(?:\.(\d+))?)?")
HEADING = re.compile(r"^(#+)\s+§(\d+)(?:\.(\d+))?(?=\s)", re.MULTILINE)

#: Strings that point at the settled-definitions file of the development setup, which a user's
#: clone does not have; docs/definitions.md replaces it.
# Spelled in pieces, so that a grep of the repository for these strings finds nothing.
_S = "SPEC"
FORBIDDEN = ("shared/" + _S, _S + " §", _S + ".md", "/work/" + "shared")

PAPER_KEY = re.compile(r"\bpaper (0\d\d)\b", re.IGNORECASE)
KEY_HEADING = re.compile(r"^#{2,4}\s+paper (0\d\d)\b", re.MULTILINE | re.IGNORECASE)
ARXIV = re.compile(
    r"arXiv:\s*([^\s)<>,;\]}]+)|arxiv\.org/abs/([^\s)<>,;\]}]+)|eprint\s*=\s*\{([^}]*)\}",
    re.IGNORECASE,
)
ARXIV_ID = re.compile(r"\d{4}\.\d{5}")
ANCHOR_LINK = re.compile(r"references\.md#([A-Za-z0-9_-]+)")
ANCHOR = re.compile(r'<a id="([A-Za-z0-9_-]+)"></a>')


def product_files() -> Iterator[Path]:
    """Every product file of the types in :data:`SUFFIXES`, in a stable order."""
    for top, dirs, files in os.walk(ROOT):
        here = Path(top)
        dirs[:] = sorted(
            d
            for d in dirs
            if d not in EXCLUDED_DIRS
            and not d.endswith(".egg-info")
            and not (here == ROOT and d in EXCLUDED_TOP)
        )
        for name in sorted(files):
            if name.endswith(SUFFIXES):
                yield here / name


def read(path: Path) -> str:
    """The file's text; a notebook's JSON escapes of "§" are undone so citations in cells count."""
    text = path.read_text(encoding="utf-8")
    return text.replace("\\u00a7", "§") if path.suffix == ".ipynb" else text


def where(path: Path, text: str, offset: int) -> str:
    """``path:line`` of a character offset, the path relative to the repository root."""
    return f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, offset) + 1}"


def defined_sections() -> set[str]:
    """The section numbers of docs/definitions.md: ``"2"`` for ``## §2``, ``"2.1"`` for ``### §2.1``."""
    text = DEFINITIONS.read_text(encoding="utf-8")
    # findall gives "" for the absent minor number
    return {f"{major}.{minor}" if minor else major for _, major, minor in HEADING.findall(text)}


def cited_sections(item: re.Match[str]) -> list[str] | None:
    """The sections one cited item names (a range names every section in it); ``None`` if malformed."""
    a, b, c, d = item.groups()
    if c is None:
        return [a if b is None else f"{a}.{b}"]
    lo, hi = int(a), int(c)
    if b is None and d is None:  # §1-§4: whole parts
        return [str(k) for k in range(lo, hi + 1)] if lo <= hi else None
    if b is not None and d is not None and lo == hi:  # §1.6-§1.8 or §4.1-4.3
        return [f"{lo}.{k}" for k in range(int(b), int(d) + 1)] if int(b) <= int(d) else None
    ends = [a if b is None else f"{a}.{b}", c if d is None else f"{c}.{d}"]
    return ends if (lo, int(b or 0)) <= (hi, int(d or 0)) else None


def test_definitions_headings_are_numbered_consistently() -> None:
    """``## §N`` parts hold ``### §N.M`` sections of the same N, in increasing order."""
    text = DEFINITIONS.read_text(encoding="utf-8")
    bad, part, last = [], None, (0, 0)
    for m in HEADING.finditer(text):
        hashes, major, minor = m.group(1), int(m.group(2)), m.group(3)
        key = (major, int(minor) if minor else 0)
        if (len(hashes), minor is None) not in ((2, True), (3, False)):
            bad.append(
                f"{where(DEFINITIONS, text, m.start())}: '§{major}' parts are '##', sections '###'"
            )
        if minor is None:
            part = major
        elif major != part:
            bad.append(
                f"{where(DEFINITIONS, text, m.start())}: §{major}.{minor} is not under ## §{major}"
            )
        if key <= last:
            bad.append(
                f"{where(DEFINITIONS, text, m.start())}: §{major}{'.' + minor if minor else ''} out of order"
            )
        last = key
    assert not bad, "\n".join(bad)
    assert {"1", "2", "3", "4", "5", "1.1", "1.8", "2.5", "3.3", "4.4"} <= defined_sections()


def test_every_definitions_citation_names_a_heading() -> None:
    """Each "definitions §X[.Y]" (ranges: every section in them) is a heading of docs/definitions.md."""
    sections = defined_sections()
    bad, seen = [], 0
    for path in product_files():
        text = read(path)
        for cite in CITATION.finditer(text):
            for item in ITEM.finditer(cite.group(1)):
                seen += 1
                at = where(path, text, cite.start(1) + item.start())
                names = cited_sections(item)
                if names is None:
                    bad.append(f"{at}: '{item.group(0)}' is not an increasing range")
                    continue
                missing = [s for s in names if s not in sections]
                if missing:
                    listed = ", ".join("§" + s for s in missing)
                    bad.append(
                        f"{at}: '{item.group(0)}' cites {listed}, not a heading of docs/definitions.md"
                    )
    assert not bad, "\n".join(bad)
    assert seen > 100, (
        f"only {seen} citations found: is the pattern still matching the code's style?"
    )


def test_no_file_points_at_the_private_spec() -> None:
    """The product cites docs/definitions.md, never the development setup's settled-definitions file."""
    bad = []
    for path in product_files():
        text = read(path)
        for s in FORBIDDEN:
            for m in re.finditer(re.escape(s), text):
                bad.append(
                    f"{where(path, text, m.start())}: mentions '{s}'; cite docs/definitions.md"
                )
    assert not bad, "\n".join(bad)


def test_paper_keys_are_defined_in_references() -> None:
    """Every "paper 00N" of docs/*.md and README.md is a ``### paper 00N`` entry of docs/references.md."""
    defined = set(KEY_HEADING.findall(REFERENCES.read_text(encoding="utf-8")))
    assert {"001", "002", "003", "004"} <= defined
    bad = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = read(path)
        for m in PAPER_KEY.finditer(text):
            if m.group(1) not in defined:
                bad.append(
                    f"{where(path, text, m.start())}: 'paper {m.group(1)}' has no entry in docs/references.md"
                )
    assert not bad, "\n".join(bad)


def test_arxiv_ids_in_references_are_well_formed() -> None:
    """Every arXiv id of docs/references.md (text, links, BibTeX ``eprint``) reads ``NNNN.NNNNN``."""
    text = REFERENCES.read_text(encoding="utf-8")
    ids = [(m.start(), next(g for g in m.groups() if g is not None)) for m in ARXIV.finditer(text)]
    bad = [
        f"{where(REFERENCES, text, at)}: arXiv id '{i}' is not of the form NNNN.NNNNN"
        for at, i in ids
        if not ARXIV_ID.fullmatch(i.rstrip(".").strip())
    ]
    assert not bad, "\n".join(bad)
    assert len(ids) >= 8, f"only {len(ids)} arXiv ids found in docs/references.md"


def test_links_into_references_resolve() -> None:
    """Every ``references.md#anchor`` link of the docs and README names an anchor of references.md."""
    anchors = set(ANCHOR.findall(REFERENCES.read_text(encoding="utf-8")))
    bad = []
    for path in product_files():
        if path.suffix != ".md":
            continue
        text = read(path)
        for m in ANCHOR_LINK.finditer(text):
            if m.group(1) not in anchors:
                bad.append(
                    f"{where(path, text, m.start())}: no anchor '{m.group(1)}' in docs/references.md"
                )
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize(
    ("cite", "sections"),
    [
        ("definitions §2", ["2"]),
        ("definitions §1.3-§1.4", ["1.3", "1.4"]),
        ("definitions §4.1-4.3", ["4.1", "4.2", "4.3"]),
        ("definitions §4.1–§4.3 (first group)", ["4.1", "4.2", "4.3"]),
        ("Definitions §1.6 (drift), §1.7 (gate), and §2.1", ["1.6", "1.7", "2.1"]),
        ("definitions §1-§2", ["1", "2"]),
        ("definitions §3.3, 1-D layout", ["3.3"]),
        ("definitions §1.7 (a)-(d)", ["1.7"]),
    ],
)
def test_citation_parser(cite: str, sections: list[str]) -> None:
    """The parser reads the citation styles the code uses, and no more."""
    m = CITATION.search(cite)
    assert m is not None
    got = [s for item in ITEM.finditer(m.group(1)) for s in cited_sections(item) or []]
    assert got == sections
