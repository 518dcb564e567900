"""The package version, in one place (pyproject.toml reads it; .ci/links.py pins the Colab
install cells to its tag, vX.Y.Z; CITATION.cff and CHANGELOG.md follow it)."""

__version__ = "0.2.0"
