"""The HTML edition: built from every chapter executed in smoke mode, each page checked in
headless Chromium for its title, a loaded figure and typeset formulas (screenshots in
$BOOK_SCREENSHOTS if set)."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from browser import chromium, need

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("build", ROOT / "book" / "build.py")
build = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build)
CHAPTERS = sorted(p.stem for p in (ROOT / "chapters").glob("[0-9][0-9]_*.py"))
REPO = "generalization-gap/book"  # [project.urls] Repository


def title(chapter: str) -> str:
    """The chapter's heading, "0. Getting started"."""
    text = (ROOT / "chapters" / f"{chapter}.py").read_text()
    return re.search(r"^# # (.+)$", text, re.M).group(1)


def test_pages_keep_the_static_figure_and_drop_widget_views():
    nb = nbformat.v4.new_notebook(metadata={"widgets": {"state": {}}})
    png = {"output_type": "display_data", "data": {"image/png": "iVBOR", "text/plain": "<Fig>"},
           "metadata": {}}
    view = {"output_type": "display_data", "metadata": {},
            "data": {build.WIDGET: {"model_id": "x"}, "text/plain": "VBox()"}}
    nb.cells = [nbformat.v4.new_code_cell("explorer()", outputs=[png, view])]
    out = build.static(nb)
    assert "widgets" not in out.metadata and out.cells[0].outputs == [png]


def test_the_readme_states_the_headline_its_figure_shows():
    spec = importlib.util.spec_from_file_location("headline", ROOT / "book" / "headline.py")
    headline = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(headline)
    import gaputils as gu

    readme = (ROOT / "README.md").read_text()
    assert headline.headline(gu.reference.run("01", "paper")) in readme
    assert "](book/_static/headline.png)" in readme and headline.OUT.exists()


def test_badges_are_served_locally():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(
        (ROOT / "chapters" / f"{CHAPTERS[0]}.py").read_text().split("# %%")[1])]
    text = build.static(nb).cells[0].source
    assert "../_static/colab-badge.svg" in text and "../_static/binder-badge.svg" in text
    assert not any(remote in text for remote in build.BADGES)
    assert all((ROOT / "book" / "_static" / local).exists() for local in build.BADGES.values())


def test_the_front_page_lists_every_chapter():
    page = build.index("smoke", CHAPTERS)
    assert "executed in smoke mode" in page and "## Quickstart" not in page
    assert "](_static/headline.png)" in page
    assert all(f"chapters/{c}\n" in page for c in CHAPTERS)
    assert all(f"(chapters/{c}.ipynb)" in page for c in CHAPTERS)  # the README's table


@pytest.fixture(scope="module")
def html(tmp_path_factory):
    need("sphinx and myst-nb", importlib.util.find_spec("myst_nb") is not None)
    out = tmp_path_factory.mktemp("book")
    env = os.environ | {"GAPUTILS_MODE": "smoke", "GAPUTILS_CACHE": str(out / "cache")}
    done = subprocess.run([sys.executable, str(ROOT / "book" / "build.py"), "--mode", "smoke",
                           "--out", str(out)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return out / "html"


def test_every_page_has_its_title_and_a_loaded_figure_and_the_links_work(html):
    shots = os.environ.get("BOOK_SCREENSHOTS")
    with chromium() as page:
        page.goto((html / "index.html").as_uri())
        links = page.eval_on_selector_all("article a[href^='chapters/']",
                                          "els => els.map(e => e.href)")
        for chapter in CHAPTERS:  # the front page's table and contents link to every chapter
            assert any(f"chapters/{chapter}.html" in link for link in links), chapter
        typeset = 0
        for chapter in CHAPTERS:
            page.goto((html / "chapters" / f"{chapter}.html").as_uri())
            page.wait_for_load_state("load")
            shown = page.title().replace("\u2019", "'")  # Sphinx's typographic apostrophes
            assert shown.startswith(title(chapter)), (chapter, page.title())
            sizes = page.eval_on_selector_all(
                "article img[src*='_images/']",
                "els => els.map(e => [e.naturalWidth, e.getBoundingClientRect().height])")
            assert any(w > 0 and h > 0 for w, h in sizes), (chapter, sizes)
            formulas = len(page.query_selector_all("article .math.notranslate"))  # Sphinx's
            page.wait_for_function(  # MathJax, served beside the pages, typesets every formula
                "document.querySelectorAll('article .math.notranslate .MathJax').length"
                f" >= {formulas}", timeout=30_000)
            assert "\\(" not in page.inner_text("article"), chapter
            wide = page.eval_on_selector_all(  # 100-character code and tables fit at 1280 px
                "article div.highlight pre, article div.cell_output pre",
                "els => els.filter(e => e.scrollWidth > e.clientWidth + 1)"
                "          .map(e => e.textContent.split('\\n')[0].slice(0, 60))")
            assert not wide, (chapter, wide)
            typeset += formulas
            hrefs = page.eval_on_selector_all("a", "els => els.map(e => e.href)")
            for url in (f"https://colab.research.google.com/github/{REPO}/blob/main/chapters/"
                        f"{chapter}.ipynb", f"https://mybinder.org/v2/gh/{REPO}/main?urlpath=lab/"
                        f"tree/chapters/{chapter}.ipynb", f"https://github.com/{REPO}"):
                assert url in hrefs, (chapter, url)  # launch buttons, the repository link
            remote = page.eval_on_selector_all(  # nothing is fetched from elsewhere
                "img, script[src], link[href]", "els => els.map(e => e.src || e.href)"
                ".filter(u => u.startsWith('http'))")
            assert not remote, (chapter, remote)
            nxt = page.query_selector("a.right-next")  # the way on to the next chapter
            assert (nxt is not None) == (chapter != CHAPTERS[-1]), chapter
            if shots:
                Path(shots).mkdir(parents=True, exist_ok=True)
                page.screenshot(path=f"{shots}/{chapter}.png", full_page=True)
        assert typeset > 0  # the chapters' formulas were found
