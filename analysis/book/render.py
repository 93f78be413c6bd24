"""Rendering the Quarto book: `quarto render` when `quarto` is on the PATH, else a thin fallback.

The fallback renders the same .qmd files, in the order of the book's _quarto.yml (reports/ for a service's
book, reports/pooled/ for the pooled services' book), and leaves the work to pandoc:
1. each chapter is split into Markdown and ```{python} cells (Quarto's syntax; `#|` lines are options);
2. the cells run in one Jupyter kernel (nbclient), its names cleared before each chapter, with the
   parameters injected after the cell tagged `parameters`, as Quarto does; then the inline expressions
   `{python} expr` are evaluated;
3. a cell's displayed Markdown (a table) and images become Markdown; a cell labelled `fig-...`/`tbl-...`
   becomes a figure or table with its caption (`fig-cap`/`tbl-cap`), as Quarto makes it;
4. pandoc (pypandoc-binary) turns the whole book into one HTML page per chapter (its chunked HTML writer,
   with the template in reports/_fallback/: the chapter list beside every page, images inside the page)
   and into Typst, which the `typst` package compiles to one PDF; the Lua filter in reports/_fallback/
   does what Quarto would (profiles, numbered figures and tables, cross-references), and citeproc the
   references.
Code is folded in the HTML and left out of the PDF, as `code-fold: true` and `echo: false` do for Quarto.
Any cell that raises stops the render with its error.
"""
from __future__ import annotations

import html
import re
import shutil
from datetime import datetime, timezone
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from analysis.core.files import write_folder_atomically

REPORTS_DIR = Path(__file__).resolve().parents[2] / "reports"
POOLED_BOOK = REPORTS_DIR / "pooled"  # the "Pooled services" book of `ips-analysis pool`: its own _quarto.yml
CELL = re.compile(r"^```\{python\}[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.S)
HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)


EPOCH = "1970-01-01"  # the PDF's date when the results have no end of follow-up (a published site table)


class RenderError(RuntimeError):
    pass


@dataclass
class Chunk:
    kind: str  # "markdown" or "code"
    text: str
    options: dict = field(default_factory=dict)


def parse_qmd(text: str) -> list[Chunk]:
    """A chapter as Markdown and code chunks (front matter, if any, left out: a chapter's title is its heading).

    HTML comments in the prose are dropped, as they are invisible in Quarto's pages and PDF: pandoc reads the
    prose without raw HTML (see _pandoc), so any other tag in it is shown as text; HTML for the pages goes in a
    ```{=html} block."""
    match = FRONT_MATTER.match(text)
    body = text[match.end():] if match else text
    chunks, position = [], 0
    prose = lambda text: Chunk("markdown", HTML_COMMENT.sub("", text))  # noqa: E731
    for cell in CELL.finditer(body):
        chunks.append(prose(body[position:cell.start()]))
        lines = cell.group(1).splitlines()
        option_lines = [line[3:] for line in lines if line.startswith("#| ")]
        code = "\n".join(line for line in lines if not line.startswith("#| "))
        chunks.append(Chunk("code", code, yaml.safe_load("\n".join(option_lines)) or {}))
        position = cell.end()
    chunks.append(prose(body[position:]))
    return chunks


@dataclass
class Output:
    kind: str  # "markdown" (a Markdown display or asis print), "text" (other printed text) or "png"
    data: str | bytes


class Kernel:
    """One Jupyter kernel for the whole book (nbclient), started once, and one client talking to it: each
    chapter runs in it after its user's names are removed (as `%reset -f` removes them) and the working
    directory is set, so a chapter sees only its own names, as in Quarto's kernel per chapter, without
    paying a kernel's start and the imports fifteen times (about 1 s a chapter). Imported modules stay
    loaded between chapters; the book's code keeps no state in them. The kernel's input history is kept in
    memory, not written to the user's IPython history file."""

    def __enter__(self) -> "Kernel":
        import nbformat
        from jupyter_client.manager import KernelManager
        from nbclient import NotebookClient

        self._sockets = tempfile.TemporaryDirectory()
        # A local (IPC) kernel connection: nothing listens on a network port while a report renders.
        self.manager = KernelManager(kernel_name="python3", transport="ipc", ip=str(Path(self._sockets.name) / "kernel"))
        self.manager.start_kernel(extra_arguments=["--log-level=ERROR", "--HistoryManager.hist_file=:memory:"])
        # One client for every chapter: a new one per chapter waited for the kernel to answer and its output
        # channel to fall quiet (about 0.4 s a chapter) before running a cell.
        self._client = NotebookClient(nbformat.v4.new_notebook(), km=self.manager, timeout=600)
        return self

    def __exit__(self, *exc) -> None:
        if self._client.kc is not None:  # connected by the first chapter that had cells
            self._client.kc.stop_channels()
        self.manager.shutdown_kernel(now=True)
        self._sockets.cleanup()

    def run(self, cells: list[str], cwd: Path, name: str) -> list:
        """Run the cells after the reset; return each cell's outputs."""
        import nbformat
        from nbclient.exceptions import CellExecutionError

        # The user's names and the cached outputs (Out, _, __, ___) go as `%reset -f` removes them, without
        # its garbage collection and history reset (0.2 s a chapter once pandas and matplotlib are loaded).
        reset = ("def _reset(shell=get_ipython()):\n"
                 "    names = shell.user_ns\n"
                 "    for name in [n for n in names if n not in ('__builtin__', '__builtins__', '__name__')]:\n"
                 "        del names[name]\n"
                 "    shell.user_ns_hidden.clear()\n"
                 "    shell.history_manager.output_hist.clear()\n"
                 "    shell.displayhook._ = shell.displayhook.__ = shell.displayhook.___ = ''\n"
                 "    shell.init_user_ns()\n"
                 "    names.update({'_': '', '__': '', '___': ''})\n"
                 "_reset()\n"
                 "import os as _os, sys as _sys\n"
                 f"_os.chdir({str(cwd)!r})\n"
                 "if 'matplotlib.pyplot' in _sys.modules: _sys.modules['matplotlib.pyplot'].close('all')\n"
                 "del _os, _sys")
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in [reset, *cells]])
        client = self._client
        client.nb, client.resources = notebook, {"metadata": {"path": str(cwd)}}
        try:
            client.execute()
        except CellExecutionError as err:
            raise RenderError(f"{name}: a cell failed:\n{err}") from None
        return [cell.outputs for cell in notebook.cells[1:]]


def _execute(chunks: list[Chunk], params: dict, cwd: Path, name: str, kernel: Kernel) -> list[list[Output]]:
    """Run the code chunks in the book's kernel, as Quarto does per chapter; return each chunk's outputs."""
    import base64

    code = [c for c in chunks if c.kind == "code"]
    if not code:  # a chapter of prose only (the references) needs no kernel
        return []
    cells = []
    for chunk in code:
        cells.append(chunk.text)
        if "parameters" in (chunk.options.get("tags") or []):
            cells.append("\n".join(f"{k} = {v!r}" for k, v in params.items()))
    results = kernel.run(cells, cwd, name)
    outputs, index = [], 0
    for chunk in code:
        cell_outputs = results[index]
        index += 2 if "parameters" in (chunk.options.get("tags") or []) else 1
        found = []
        for out in cell_outputs:
            if out.output_type == "stream" and out.name == "stdout":
                found.append(Output("markdown" if chunk.options.get("output") == "asis" else "text", out.text))
            elif out.output_type == "stream":
                raise RenderError(f"{name}: a cell wrote to stderr (warnings are not allowed in reports):\n{out.text}")
            elif out.output_type in ("display_data", "execute_result"):
                if "image/png" in out.data:
                    found.append(Output("png", base64.b64decode(out.data["image/png"])))
                elif "text/markdown" in out.data:
                    found.append(Output("markdown", out.data["text/markdown"]))
                elif "text/plain" in out.data:
                    found.append(Output("text", out.data["text/plain"]))
        outputs.append(found)
    return outputs


def _cell_markdown(chunk: Chunk, outputs: list[Output], image) -> str:
    """A cell's outputs as Markdown; a cell labelled fig-... or tbl-... becomes a numbered figure or table
    with its caption (fig-cap, tbl-cap), as Quarto makes it. `image(png_bytes)` gives an image's address."""
    label = str(chunk.options.get("label", ""))
    texts = [o.data if o.kind == "markdown" else f"```\n{o.data}\n```" for o in outputs if o.kind != "png"]
    images = [image(o.data) for o in outputs if o.kind == "png"]
    body = "\n\n".join(t.strip("\n") for t in texts)
    if label.startswith("fig-"):
        caption = chunk.options.get("fig-cap", "")
        if images:
            return f"\n![{caption}]({images[0]}){{#{label}}}\n"
        return f"\n::: {{#{label}}}\n{body}\n\n{caption}\n:::\n"  # not drawn: the reason, still numbered
    if label.startswith("tbl-"):
        return f"\n{body}\n\n: {chunk.options.get('tbl-cap', '')} {{#{label}}}\n"
    return "\n" + "\n\n".join([body] + [f"![]({src})" for src in images]) + "\n"


def _markdown(chunks: list[Chunk], outputs: list[list[Output]], with_code: bool, image) -> str:
    parts, outputs = [], iter(outputs)
    for chunk in chunks:
        if chunk.kind == "markdown":
            parts.append(chunk.text)
            continue
        found = next(outputs)
        if with_code and chunk.options.get("echo", True) and "parameters" not in (chunk.options.get("tags") or []):
            parts.append("\n```{=html}\n<details class=\"code-fold\"><summary>Code</summary><pre><code>"
                         + html.escape(chunk.text) + "</code></pre></details>\n```\n")
        if found:
            parts.append(_cell_markdown(chunk, found, image))
    return "".join(parts)


INLINE = re.compile(r"`\{python\}\s+([^`]+)`")
INLINE_SEPARATOR = "\x1e"


def _with_inline_values(chunks: list[Chunk], params: dict, cwd: Path, name: str, kernel: Kernel
                        ) -> tuple[list[Chunk], list]:
    """Run the cells and then Quarto's inline expressions (`{python} expr`), in the same kernel after every
    cell as Quarto does, and put each value's str() into the Markdown."""
    expressions = [e.strip() for c in chunks if c.kind == "markdown" for e in INLINE.findall(c.text)]
    if not expressions:
        return chunks, _execute(chunks, params, cwd, name, kernel)
    values_cell = Chunk("code", "print(" + repr(INLINE_SEPARATOR) + ".join(str(eval(e)) for e in "
                        + repr(expressions) + "), end='')", {"echo": False, "output": "asis"})
    outputs = _execute(chunks + [values_cell], params, cwd, name, kernel)
    values = iter(outputs.pop()[0].data.split(INLINE_SEPARATOR))
    filled = [Chunk(c.kind, INLINE.sub(lambda _: next(values), c.text), c.options) if c.kind == "markdown" else c
              for c in chunks]
    return filled, outputs


@dataclass
class Book:
    """The book as _quarto.yml describes it: title, output file, chapters then appendices, bibliography, the
    HTML style sheet and the PDF header (paths relative to `folder`, as Quarto reads them, so a second book
    such as reports/pooled/ can share reports/styles.css)."""
    folder: Path
    title: str
    output_file: str
    chapters: list[Path]
    first_appendix: Path | None
    bibliography: Path | None
    css: Path
    pdf_header: Path

    @classmethod
    def read(cls, reports_dir: Path = REPORTS_DIR) -> "Book":
        config = yaml.safe_load((reports_dir / "_quarto.yml").read_text())
        book = config["book"]
        appendices = [reports_dir / name for name in book.get("appendices", [])]
        chapters = [reports_dir / name for name in book["chapters"]] + appendices
        bibliography = config.get("bibliography")
        formats = config.get("format", {})
        return cls(reports_dir, book["title"], book.get("output-file", "book"), chapters,
                   appendices[0] if appendices else None, reports_dir / bibliography if bibliography else None,
                   reports_dir / formats["html"]["css"], reports_dir / formats["typst"]["include-in-header"])

    @property
    def fallback(self) -> Path:
        """The fallback's template and Lua filter: one set, reports/_fallback/, for every book."""
        return REPORTS_DIR / "_fallback"


def _pandoc(markdown: str, to: str, output: Path, book: Book, metadata: dict, extra: list[str]) -> None:
    """pandoc with the Quarto-subset filter and citeproc: the one conversion both outputs go through."""
    import pypandoc

    # Without raw_html: the book's HTML comes in ```{=html} blocks only, and pandoc's search for a tag after
    # every "<" (p < 0.001) took half the conversion; a "<" in a trust's site name also stays text, never HTML.
    args = [pypandoc.get_pandoc_path(), "--from", "markdown-raw_html", "--to", to, "--output", str(output),
            "--lua-filter", str(book.fallback / "quarto-subset.lua"), "--number-sections", "--toc"]
    if book.bibliography:
        args += ["--citeproc", "--bibliography", str(book.bibliography), "--metadata", "link-citations=true"]
    for key, value in metadata.items():
        args += ["--metadata", f"{key}={value}"]
    done = subprocess.run(args + extra, input=markdown.encode("utf-8"), capture_output=True)
    if done.returncode != 0:
        raise RenderError(f"pandoc could not write the book as {to}:\n{done.stderr.decode()[-2000:]}")


def _html_book(markdown: str, out_dir: Path, book: Book, metadata: dict, with_pdf: bool) -> list[str]:
    """One self-contained page per chapter (pandoc's chunked HTML), each with the chapter list beside it (and
    a link to the PDF when one is rendered beside the pages)."""
    with tempfile.TemporaryDirectory() as tmp:
        style = Path(tmp) / "style.html"
        style.write_text("<style>\n" + book.css.read_text(encoding="utf-8") + "</style>\n",
                         encoding="utf-8")
        site = Path(tmp) / "site"
        _pandoc(markdown, "chunkedhtml", site, book, metadata,
                ["--template", str(book.fallback / "book.html"), "--split-level=1", "--toc-depth=1",
                 "--chunk-template=%i.html", "--include-in-header", str(style),
                 "--variable", f"book-title={metadata['title']}", "--variable", f"book-subtitle={metadata['subtitle']}",
                 *(["--variable", f"book-pdf={book.output_file}.pdf"] if with_pdf else [])])
        # pandoc's top page (a bare contents list) gives way to the first chapter, as in a Quarto book.
        (site / "index.html").unlink()
        (site / "overview.html").rename(site / "index.html")
        names = []
        for page in sorted(site.glob("*.html")):
            text = page.read_text(encoding="utf-8").replace('href="overview.html', 'href="index.html')
            if page.name == "index.html":  # the first page has nothing before it
                text = re.sub(r'<a class="previous"[^>]*>.*?</a>', "", text, flags=re.S)
            (out_dir / page.name).write_text(text, encoding="utf-8")
            names.append(page.name)
        return names


def _pdf_book(markdown: str, out_dir: Path, book: Book, metadata: dict, images: dict[str, bytes],
              extract_date: str) -> str:
    import typst

    with tempfile.TemporaryDirectory() as tmp:
        for name, data in images.items():  # typst may only read files under its root
            (Path(tmp) / name).write_bytes(data)
        typ = Path(tmp) / "book.typ"
        _pandoc(markdown, "typst", typ, book, metadata,
                ["--standalone", "--toc-depth=2", "--include-in-header", str(book.pdf_header),
                 "--include-in-header", str(book.fallback / "book-header.typ")])
        # Dated by the end of follow-up and with typst's own fonts only, so the same results give the same
        # PDF bytes on any machine.
        stamp = int(datetime.fromisoformat(extract_date).replace(tzinfo=timezone.utc).timestamp())
        name = f"{book.output_file}.pdf"
        (out_dir / name).write_bytes(typst.compile(str(typ), root=tmp, timestamp=stamp, ignore_system_fonts=True))
        return name


def _fallback(out_dir: Path, params: dict, profile: str, formats: tuple[str, ...], reports_dir: Path,
              progress) -> list[str]:
    import base64

    book = Book.read(reports_dir)
    html_parts, pdf_parts, pdf_images = [], [], {}

    def data_uri(png: bytes) -> str:
        return "data:image/png;base64," + base64.b64encode(png).decode()

    def image_file(png: bytes) -> str:
        name = f"figure{len(pdf_images) + 1}.png"
        pdf_images[name] = png
        return name

    with Kernel() as kernel:
        for qmd in book.chapters:
            if qmd == book.first_appendix:  # the Lua filter letters the chapters after this marker
                html_parts.append("::: {.appendices}\n:::\n")
                pdf_parts.append("::: {.appendices}\n:::\n")
            progress(f"running {qmd.name} ...")
            chunks = parse_qmd(qmd.read_text(encoding="utf-8"))
            chunks, outputs = _with_inline_values(chunks, params, qmd.parent, qmd.name, kernel)
            html_parts.append(_markdown(chunks, outputs, with_code=True, image=data_uri))
            pdf_parts.append(_markdown(chunks, outputs, with_code=False, image=image_file))
    subtitle = params.get("subtitle") or f"Follow-up to {params.get('extract_date', '')}"
    metadata = {"title": _title(book.title, params), "subtitle": subtitle,
                "profile": profile}
    # The two conversions are separate pandoc processes writing separate files: run side by side, the book
    # is ready in the time of the longer (about 6 s of 11 on this project's 2-core machine).
    with ThreadPoolExecutor(max_workers=2) as pool:
        html_job = pdf_job = None
        if "html" in formats:
            progress("writing the HTML book (pandoc) ...")
            html_job = pool.submit(_html_book, "\n\n".join(html_parts), out_dir, book, metadata, "pdf" in formats)
        if "pdf" in formats:
            progress("writing the PDF book (pandoc + typst) ...")
            pdf_job = pool.submit(_pdf_book, "\n\n".join(pdf_parts), out_dir, book, metadata, pdf_images,
                                  str(params.get("extract_date") or EPOCH))
        return (html_job.result() if html_job else []) + ([pdf_job.result()] if pdf_job else [])


def _title(title: str, params: dict) -> str:
    """The book's title names the service ("IPS outcomes: {service_name}")."""
    service = params.get("service_name")
    return f"{title}: {service}" if service else title


def quarto_available() -> bool:
    return shutil.which("quarto") is not None


def render(out_dir: Path, params: dict, profile: str = "synthetic", reports_dir: Path = REPORTS_DIR,
           formats: tuple[str, ...] = ("html", "pdf"), progress=print) -> tuple[str, list[Path]]:
    """Render the book into out_dir: one HTML page per chapter and one PDF of the whole analysis. `profile` is
    "synthetic" (the package's reproduction) or "trust" (a trust's own extract): Quarto's --profile, which
    selects the `.content-visible when-profile=...` passages. Returns (renderer used, files written)."""
    renderer = "quarto" if quarto_available() else "fallback (nbclient + pandoc + typst; quarto is not on the PATH)"

    def fill(folder: Path) -> list[str]:
        if renderer != "quarto":
            try:
                return _fallback(folder, params, profile, formats, reports_dir, progress)
            except RuntimeError as error:  # pandoc or typst refused the document
                if isinstance(error, RenderError):
                    raise
                raise RenderError(f"the book: {str(error).splitlines()[0]}") from None
        progress("rendering the book with quarto ...")
        args = ["quarto", "render", str(reports_dir), "--output-dir", str(folder), "--profile", profile]
        for key, value in params.items():
            args += ["-P", f"{key}:{value}"]
        for fmt in formats:
            if subprocess.run(args + ["--to", "html" if fmt == "html" else "typst"]).returncode != 0:
                raise RenderError(f"quarto could not render the book to {fmt}")
        return sorted(p.name for p in folder.iterdir())

    return renderer, [Path(out_dir) / name for name in write_folder_atomically(Path(out_dir), fill)]
