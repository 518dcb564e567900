"""The badges and Colab install cells agree with the one publishing setting (.ci/links.py)."""

import importlib.util
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("links", ROOT / ".ci" / "links.py")
links = importlib.util.module_from_spec(spec)
spec.loader.exec_module(links)


def test_the_book_agrees_with_its_setting():
    assert links.problems(ROOT) == []


def test_a_moved_repository_is_caught_and_rewritten(tmp_path):
    (tmp_path / "chapters").mkdir()
    (tmp_path / "gaputils").mkdir()
    for name in ("pyproject.toml", "README.md", "chapters/00_getting_started.py",
                 "gaputils/_version.py"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "README.md").write_text(  # README lists one chapter here
        "\n".join(line for line in (ROOT / "README.md").read_text().splitlines()
                  if "| 0" not in line or "| 00 |" in line))
    toml = tmp_path / "pyproject.toml"
    toml.write_text(toml.read_text().replace("generalization-gap/book", "someone/fork"))
    found = links.problems(tmp_path)
    assert any("disagree" in p for p in found) and any("no colab link" in p for p in found)
    assert links.main([str(tmp_path)]) == 0  # rewrites, then finds nothing
    chapter = (tmp_path / "chapters/00_getting_started.py").read_text()
    assert "someone/fork" in chapter and "generalization-gap" not in chapter
    assert "mybinder.org/v2/gh/someone/fork/main?labpath" in (tmp_path / "README.md").read_text()


def test_colab_cells_pin_the_packages_version_and_citation_and_changelog_follow_it():
    import gaputils

    tag = f"v{gaputils.__version__}"
    for chapter in sorted((ROOT / "chapters").glob("[0-9][0-9]_*.py")):
        assert f'"{tag}"' in chapter.read_text(), chapter.name
    assert f'version: "{gaputils.__version__}"' in (ROOT / "CITATION.cff").read_text()
    assert f"## {gaputils.__version__}" in (ROOT / "CHANGELOG.md").read_text()
