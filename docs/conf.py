"""Sphinx configuration: the pages are Markdown (MyST); the Python API comes from the
docstrings (autodoc); the benchmark plots are drawn from benchmarks/results at each build
(plots.py), and so are the tables of figures the pages include (tables.py); `make docs`
builds with warnings as errors and runs the doctest blocks."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)                 # plots.py

import plots  # noqa: E402
import tables  # noqa: E402

project = "mpicomm"
author = "the mpicomm developers"
copyright = "2026, the mpicomm developers"
extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.doctest"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "_generated"]
myst_heading_anchors = 3
# Figures quoted in the prose ({{ name }}), read from benchmarks/results (tables.py).
myst_enable_extensions = ["substitution"]
myst_substitutions = tables.substitutions()
html_theme = "alabaster"
html_title = "mpicomm"
html_extra_path = []
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True}
# Only the doctest blocks written as such run (the docstrings' `>>>` examples that need
# several ranks or a GPU are illustrations).
doctest_test_doctest_blocks = ""

plots.draw(os.path.join(HERE, "_generated"))
tables.write(os.path.join(HERE, "_generated"))
