"""The book's pages (tools/build_book.py): lessons rendered by nbconvert with MathML formulas, the landing page,
the search index and the checks a finished site must pass.
"""

from __future__ import annotations

import copy
import functools
import re
import shutil
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import markupsafe
import nbformat
from bs4 import BeautifulSoup
from latex2mathml.converter import convert
from nbconvert import HTMLExporter
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from PIL import Image
from traitlets.config import Config

ASSETS = Path(__file__).with_name("book")
TEMPLATES = ASSETS / "templates"
WIDGET = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = (
    '<div class="book-widget">An interactive widget runs here in JupyterLab (<code>make lab</code>); '
    "the book shows the lesson as it ran, without it.</div>"
)
# TeX a renderer left in the text: $$…$$, or $…$ holding a command, or an environment
RAW_TEX = re.compile(r"\$\$|\$[^$\n]*\\[A-Za-z]+[^$\n]*\$|\\begin\{")


def jupyterlab_css(site: Path) -> None:
    """JupyterLab's light theme and layout, from nbconvert's own "lab" template, as one shared style sheet."""
    from jupyter_core.paths import jupyter_path

    for folder in map(Path, jupyter_path("nbconvert", "templates", "lab", "static")):
        if (folder / "index.css").exists() and (folder / "theme-light.css").exists():
            css = (folder / "index.css").read_text(encoding="utf-8") + (folder / "theme-light.css").read_text(
                encoding="utf-8"
            )
            (site / "static" / "jupyterlab.css").write_text(css, encoding="utf-8")
            return
    raise SystemExit(
        "nbconvert's lab template is not installed (its static/index.css is missing): pip install nbconvert"
    )


def mathml(tex: str, display: str) -> str:
    """One formula as MathML, which browsers draw without a script; a formula it cannot read stops the build."""
    try:
        return str(convert(tex.strip(), display=display))
    except Exception as error:  # latex2mathml raises many kinds; each means the same: this TeX is not supported
        raise SystemExit(f"the formula {tex!r} cannot be converted to MathML ({error}); rewrite it") from None


class MathMLRenderer(IPythonRenderer):
    """nbconvert's Markdown renderer, with $…$ and $$…$$ turned into MathML instead of left for MathJax."""

    def block_math(self, body: str) -> str:
        return f'<div class="book-math">{mathml(body, "block")}</div>'

    def latex_environment(self, name: str, body: str) -> str:
        tex = "\\begin{" + name + "}" + body + "\\end{" + name + "}"
        return f'<div class="book-math">{mathml(tex, "block")}</div>'

    def inline_math(self, body: str) -> str:
        return mathml(body, "inline")


def markdown_html(source: str, **options: Any) -> str:
    """Markdown to HTML with MathML formulas; ``options`` go to nbconvert's renderer (anchors, attachments)."""
    renderer = MathMLRenderer(escape=False, **options)
    return str(MarkdownWithMath(renderer=renderer).render(source))


class BookExporter(HTMLExporter):
    """JupyterLab's HTML template (tools/book/templates/nstbook extends it), formulas as MathML."""

    @jinja2.pass_context
    def markdown2html(self, context: Any, source: str) -> str:
        return markdown_html(
            source,
            attachments=context.get("cell", {}).get("attachments", {}),
            anchor_link_text=self.anchor_link_text,
            exclude_anchor_links=self.exclude_anchor_links,
        )


@functools.cache
def exporter() -> BookExporter:
    """One exporter for every page: its templates are loaded once."""
    config = Config()
    config.ExtractOutputPreprocessor.enabled = True  # figures as files beside the page, not base64 in it
    return BookExporter(
        config=config,
        template_name="nstbook",
        extra_template_basedirs=[str(TEMPLATES)],
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )


def without_widgets(nb: Any) -> Any:
    """A copy whose widget outputs (the explorers) are a note: a static page cannot run them."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for output in cell.outputs:
            if WIDGET in output.get("data", {}):
                outputs.append(nbformat.v4.new_output("display_data", data={"text/html": WIDGET_NOTE}))
            else:
                outputs.append(output)
        cell.outputs = outputs
    return nb


def objectives(nb: Any) -> str:
    """The lesson's learning objectives (the list after "objectives" in its opening cells) as HTML."""
    for cell in nb.cells[:4]:
        text = cell.source if cell.cell_type == "markdown" else ""
        at = text.lower().find("objectives")
        if at < 0:
            continue
        lines = text[at:].splitlines()[1:]
        items = [i for i, line in enumerate(lines) if re.match(r"\s*(\d+\.|[*-])\s", line)]
        if not items:
            continue
        end = items[0]
        while end + 1 < len(lines) and (
            lines[end + 1].strip() == "" or re.match(r"\s*(\d+\.|[*-])\s|\s+\S", lines[end + 1])
        ):
            end += 1
        return markdown_html("\n".join(lines[items[0] : end + 1]), exclude_anchor_links=True)
    return ""


@dataclass
class LessonPage:
    source: Path
    nb: Any
    info: dict[str, Any]
    number: str
    title: str
    objectives: str
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def filename(self) -> str:
        return f"{self.source.stem}.html"

    @property
    def download(self) -> str:
        return f"notebooks/{self.source.name}"

    def render(self, pages: list[LessonPage], index: int) -> str:
        """The page in the book's frame: the list of lessons, previous and next, how it was executed."""

        book = {
            "lessons": [dict(nav_link(p), current=p is self) for p in pages],
            "prev": nav_link(pages[index - 1]) if index > 0 else None,
            "next": nav_link(pages[index + 1]) if index + 1 < len(pages) else None,
            "download": self.download,
            "info": self.info,
        }
        resources = {"book": book, "output_files_dir": f"{self.source.stem}_files"}
        html, out = exporter().from_notebook_node(without_widgets(self.nb), resources=resources)
        self.files = dict(out.get("outputs", {}))
        return str(html)


def nav_link(page: LessonPage) -> dict[str, Any]:
    """How the frame (the lesson list, previous/next) names a lesson."""
    return {"href": page.filename, "number": page.number, "title": page.title}


def lesson_page(source: Path, nb: Any, info: dict[str, Any]) -> LessonPage:
    heading = nb.cells[0].source.splitlines()[0].lstrip("# ").strip()
    match = re.match(r"Lesson (\d+)\s*[—–-]\s*(.+)", heading)
    number, title = (match.group(1).zfill(2), match.group(2)) if match else (source.stem[:2], heading)
    return LessonPage(source, nb, info, number, title, objectives(nb))


def gallery(folder: Path, site: Path) -> list[dict[str, str]]:
    """The gallery's figures and captions (gallery/README.md), copied into the site."""
    readme = folder / "README.md"
    if not readme.exists():
        return []
    figures = []
    for section in readme.read_text(encoding="utf-8").split("\n## ")[1:]:
        title, _, rest = section.partition("\n")
        image = re.search(r"!\[[^\]]*\]\(([^)]+)\)", rest)
        if not image or not (folder / image.group(1)).exists():
            continue
        caption = rest[image.end() :].strip().split("\n\n")[0]
        (site / "gallery").mkdir(exist_ok=True)
        shutil.copy(folder / image.group(1), site / "gallery" / image.group(1))
        with Image.open(folder / image.group(1)) as picture:
            shape = "wide" if picture.width > 1.6 * picture.height else "square"  # a strip of images, or a grid
        figures.append({"title": title.strip(), "src": f"gallery/{image.group(1)}", "caption": caption, "shape": shape})
    return sorted(figures, key=lambda f: "Fig. 2" not in f["title"])  # Gatys et al.'s Figure 2 leads, full width


def minutes(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def render_landing(pages: list[LessonPage], reference: dict[str, Any], mode: str, gallery_dir: Path, site: Path) -> str:
    """The landing page: the gallery, the course map with objectives and times, how to run the lessons."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES / "nstbook"), autoescape=True)
    laptop, gpu = reference.get("laptop") or {}, reference.get("gpu") or {}
    rows = []
    for page in pages:
        stem = page.source.stem
        rows.append(
            {
                **nav_link(page),
                "objectives": markupsafe.Markup(page.objectives),
                "this_build": minutes(page.info.get("seconds")),
                "laptop": minutes((laptop.get("seconds") or {}).get(stem)),
                "gpu": minutes((gpu.get("seconds") or {}).get(stem)),
            }
        )
    info = pages[0].info if pages else {}
    return env.get_template("landing.html.j2").render(
        book={
            "lessons": [dict(nav_link(p), current=False) for p in pages],
            "prev": None,
            "next": nav_link(pages[0]) if pages else None,
        },
        rows=rows,
        figures=gallery(gallery_dir, site),
        mode=mode,
        machine=info.get("machine", ""),
        date=info.get("date", ""),
        laptop=laptop,
        gpu=gpu,
        total=minutes(sum(p.info.get("seconds", 0) for p in pages)),
    )


def search_entries(filename: str, title: str, html: str) -> list[dict[str, str]]:
    """One entry per section of a lesson (a heading and the prose under it) for the search box."""
    soup = BeautifulSoup(html, "html.parser")
    entries: list[dict[str, str]] = []
    for cell in soup.select("div.jp-MarkdownCell"):
        for anchor in cell.select("a.anchor-link"):
            anchor.decompose()
        for heading in cell.find_all(["h1", "h2", "h3"]):
            if heading.get("id"):
                entries.append(
                    {
                        "page": filename,
                        "anchor": str(heading["id"]),
                        "lesson": title,
                        "heading": heading.get_text(" ", strip=True),
                        "text": "",
                    }
                )
            heading.decompose()  # the heading is the entry's title, not its text
        if entries:
            words = entries[-1]["text"] + " " + cell.get_text(" ", strip=True)
            entries[-1]["text"] = re.sub(r"\s+", " ", words).strip()[:1500]
    return entries


def check_site(site: Path) -> list[str]:
    """What is broken: links, anchors or images that do not resolve, anything fetched from a network, raw TeX."""
    problems: list[str] = []
    ids: dict[Path, set[str]] = {}
    soups = {}
    for page in sorted(site.rglob("*.html")):
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        soups[page] = soup
        ids[page] = {str(tag["id"]) for tag in soup.find_all(id=True)}
    for page, soup in soups.items():
        name = page.relative_to(site)
        for tag, attr in (("img", "src"), ("script", "src"), ("link", "href"), ("a", "href"), ("source", "src")):
            for element in soup.find_all(tag):
                url = element.get(attr)
                if not url:
                    continue
                parsed = urllib.parse.urlparse(str(url))
                if parsed.scheme in ("http", "https", "mailto") or str(url).startswith("//"):
                    if tag != "a":
                        problems.append(f"{name}: <{tag}> loads {url} from the network")
                    continue
                if parsed.scheme == "data":
                    continue
                target = (page.parent / urllib.parse.unquote(parsed.path)).resolve() if parsed.path else page
                if not target.exists():
                    problems.append(f"{name}: <{tag}> points at {url}, which is not in the site")
                elif parsed.fragment and target.suffix == ".html":
                    names = {parsed.fragment, urllib.parse.unquote(parsed.fragment)}  # as browsers try it
                    if not names & ids.get(target, set()):
                        problems.append(f"{name}: {url} names an anchor that {target.name} does not have")
        for element in soup.find_all(string=RAW_TEX):
            if element.find_parent(["code", "pre", "script", "style", "math"]) is None:
                problems.append(f"{name}: TeX left unrendered: {element.strip()[:80]!r}")
    return problems
