"""The reference pages keep up with the code: every MPICOMM_* variable the code reads is in
docs/reference/environment.md with its default, and every flag of every command is in that
command's section of docs/reference/cli.md. (`make docs` builds the pages themselves,
warnings as errors, and runs their doctest blocks.)"""
import argparse
import re
import sys
from pathlib import Path

import pytest

from mpicomm import cli

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "reference"
CODE = ["mpicomm", "interposer", "slurm", "tests", "benchmarks", "scripts", "examples"]
SUFFIXES = {".py", ".c", ".h", ".sh", ".sbatch"}


def variables_in_code():
    found = {}
    for top in CODE:
        for path in (ROOT / top).rglob("*"):
            if path.suffix in SUFFIXES and path.is_file() and "_build" not in path.parts:
                for name in re.findall(r"\bMPICOMM_[A-Z0-9_]+", path.read_text(errors="replace")):
                    found.setdefault(name, path.relative_to(ROOT))
    return found


def documented_variables():
    rows = re.findall(r"^\| `(MPICOMM[A-Z0-9_]*)` \| ([^|]+) \|",
                      (REFERENCE / "environment.md").read_text(), re.M)
    return {name: default.strip() for name, default in rows}


def test_every_variable_the_code_reads_is_documented_with_its_default():
    documented = documented_variables()
    missing = {n: str(p) for n, p in variables_in_code().items() if n not in documented}
    assert not missing, f"not in docs/reference/environment.md: {missing}"
    assert all(documented.values()), "a variable without a default"
    assert len(documented) >= 19


def commands():
    """(name, its parser) for every command and codegen subcommand."""
    out = []

    def walk(parser, prefix):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    before = len(out)
                    walk(sub, f"{prefix} {name}")
                    if len(out) == before:
                        out.append((f"{prefix} {name}", sub))
    walk(cli.parser(), "mpicomm")
    return out


def sections():
    text = (REFERENCE / "cli.md").read_text()
    parts = re.split(r"^## ", text, flags=re.M)[1:]
    return {p.split("\n", 1)[0].strip(): p for p in parts}


def flags_missing(parser, text):
    """The flags of parser (each as "-o/--output") that text does not name."""
    missing = []
    for action in parser._actions:
        if not action.option_strings or "--help" in action.option_strings:
            continue
        if not any(re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", text)
                   for o in action.option_strings):
            missing.append("/".join(action.option_strings))
    return missing


@pytest.mark.parametrize("name, parser", commands(), ids=[c[0] for c in commands()])
def test_every_flag_is_in_its_commands_section(name, parser):
    section = sections().get(name)
    assert section is not None, f"docs/reference/cli.md has no section '## {name}'"
    assert not flags_missing(parser, section), f"{name}: not documented"


@pytest.mark.parametrize("name, parser", commands(), ids=[c[0] for c in commands()])
def test_every_flag_is_in_the_usage_line(name, parser):
    """`mpicomm CMD --help` starts with a usage line; a hand-written one names every flag."""
    usage = parser.format_usage()
    assert not flags_missing(parser, usage), f"{name}: not in its usage line {usage!r}"


def test_readme_figures_are_the_results():
    """README's table of figures is what docs/tables.py writes from benchmarks/results
    (`python docs/tables.py --readme README.md` after `make bench`), never typed."""
    sys.path.insert(0, str(ROOT / "docs"))
    try:
        import tables
    finally:
        sys.path.pop(0)
    text = (ROOT / "README.md").read_text()
    assert tables.readme_with_table(text) == text
    assert "×" in tables.readme_table() and tables.MISSING not in tables.readme_table()


# Measured figures in prose: a ratio with decimals (1.37×), a cost in nanoseconds, a
# rate. They come from benchmarks/results through {{ substitutions }} (docs/tables.py);
# "1.0×" is the parity the pages name, not a result.
TYPED_FIGURE = re.compile(r"(?<![\w.{])(?!1\.0×)\d+\.\d+ ?×|\b\d+(\.\d+)? ?(ns\b|[GM]B/s\b)")


def typed_figures(text):
    """The typed measured figures of a page, outside code blocks."""
    found, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            found += [(number, m.group(0)) for m in TYPED_FIGURE.finditer(line)]
    return found


def test_doc_pages_type_no_measured_figures():
    pages = sorted((ROOT / "docs").glob("*.md")) + sorted(REFERENCE.glob("*.md"))
    typed = {p.relative_to(ROOT): typed_figures(p.read_text()) for p in pages}
    assert not {p: f for p, f in typed.items() if f}


def test_the_checks_can_fail(tmp_path):
    """An undocumented name is caught (the same pattern the checks use), and so is a
    typed figure."""
    assert typed_figures("packing is 1.37× faster, 7.3 ns per call") == [(1, "1.37×"),
                                                                         (1, "7.3 ns")]
    assert typed_figures("parity is 1.0×; {{ p2p_mpich_auto }}\n```\n2.5×\n```") == []
    assert "MPICOMM_" + "NOT_A_SETTING" not in documented_variables()
    section = sections()["mpicomm run"]
    assert not re.search(r"(?<![\w-])--not-a-flag(?![\w-])", section)
    assert re.search(r"(?<![\w-])--ft(?![\w-])", section)
