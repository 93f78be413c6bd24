"""Rendering the Quarto reports: with Quarto when `quarto` is on the PATH, else with a small fallback.

The fallback renders the same .qmd files through well-kept libraries:
1. the .qmd is split into Markdown and ```{python} cells (Quarto's own syntax; `#|` lines are cell options);
2. the cells run in a Jupyter kernel (nbformat + nbclient + ipykernel), with the report parameters
   injected after the cell tagged `parameters`, as Quarto and papermill do;
3. each cell's printed output is Markdown (`#| output: asis`), so the executed document is plain Markdown;
4. pandoc (pypandoc-binary) writes self-contained HTML (images, styles inside; no network) and Typst
   source, which the `typst` package compiles to PDF.
Code is folded in the HTML (a <details> block above each cell's output) and left out of the PDF, as
`code-fold: true` and `echo: false` do for Quarto. Any cell that raises stops the render with its error.
"""
from __future__ import annotations

import html
import itertools
import re
from datetime import datetime, timezone
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .files import write_folder_atomically

REPORTS_DIR = Path(__file__).resolve().parent.parent / "reports"
CELL = re.compile(r"^```\{python\}[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.S)


class RenderError(RuntimeError):
    pass


@dataclass
class Chunk:
    kind: str  # "markdown" or "code"
    text: str
    options: dict = field(default_factory=dict)


def documents(reports_dir: Path = REPORTS_DIR) -> list[Path]:
    """The .qmd files in the order _quarto.yml lists them."""
    config = yaml.safe_load((reports_dir / "_quarto.yml").read_text())
    return [reports_dir / name for name in config["project"]["render"]]


def parse_qmd(text: str) -> tuple[dict, list[Chunk]]:
    match = FRONT_MATTER.match(text)
    meta = yaml.safe_load(match.group(1)) if match else {}
    body = text[match.end():] if match else text
    chunks, position = [], 0
    for cell in CELL.finditer(body):
        chunks.append(Chunk("markdown", body[position:cell.start()]))
        lines = cell.group(1).splitlines()
        option_lines = [line[3:] for line in lines if line.startswith("#| ")]
        code = "\n".join(line for line in lines if not line.startswith("#| "))
        chunks.append(Chunk("code", code, yaml.safe_load("\n".join(option_lines)) or {}))
        position = cell.end()
    chunks.append(Chunk("markdown", body[position:]))
    return meta, chunks


def _execute(chunks: list[Chunk], params: dict, cwd: Path, name: str) -> list[str]:
    """Run the code chunks in a fresh kernel; return each chunk's printed output."""
    import nbformat
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    code = [c for c in chunks if c.kind == "code"]
    cells = []
    for chunk in code:
        cells.append(nbformat.v4.new_code_cell(chunk.text))
        if "parameters" in (chunk.options.get("tags") or []):
            cells.append(nbformat.v4.new_code_cell("\n".join(f"{k} = {v!r}" for k, v in params.items())))
    notebook = nbformat.v4.new_notebook(cells=cells)
    with tempfile.TemporaryDirectory() as sockets:
        # A local (IPC) kernel connection: nothing listens on a network port while a report renders.
        manager = KernelManager(kernel_name="python3", transport="ipc", ip=str(Path(sockets) / "kernel"))
        client = NotebookClient(notebook, km=manager, timeout=600, resources={"metadata": {"path": str(cwd)}},
                                extra_arguments=["--log-level=ERROR"])
        try:
            client.execute()
        except CellExecutionError as err:
            raise RenderError(f"{name}: a cell failed:\n{err}") from None
    outputs, index = [], 0
    for chunk in code:
        cell = notebook.cells[index]
        index += 2 if "parameters" in (chunk.options.get("tags") or []) else 1
        texts = []
        for out in cell.outputs:
            if out.output_type == "stream" and out.name == "stdout":
                texts.append(out.text)
            elif out.output_type == "stream":
                raise RenderError(f"{name}: a cell wrote to stderr (warnings are not allowed in reports):\n{out.text}")
            elif out.output_type == "execute_result":
                texts.append(out.data.get("text/plain", ""))
        outputs.append("".join(texts))
    return outputs


def _markdown(chunks: list[Chunk], outputs: list[str], with_code: bool) -> str:
    parts, outputs = [], iter(outputs)
    for chunk in chunks:
        if chunk.kind == "markdown":
            parts.append(chunk.text)
            continue
        printed = next(outputs)
        if with_code and chunk.options.get("echo", True) and "parameters" not in (chunk.options.get("tags") or []):
            parts.append("\n```{=html}\n<details class=\"code-fold\"><summary>Code</summary><pre><code>"
                         + html.escape(chunk.text) + "</code></pre></details>\n```\n")
        if chunk.options.get("output") == "asis":
            parts.append("\n" + printed + "\n")
        elif printed.strip():
            parts.append("\n```\n" + printed + "\n```\n")
    return "".join(parts)


INLINE = re.compile(r"`\{python\}\s+([^`]+)`")
INLINE_SEPARATOR = "\x1e"


def _with_inline_values(chunks: list[Chunk], params: dict, cwd: Path, name: str) -> tuple[list[Chunk], list[str]]:
    """Run the cells and then Quarto's inline expressions (`{python} expr`), in the same kernel after every
    cell as Quarto does, and put each value's str() into the Markdown."""
    expressions = [e.strip() for c in chunks if c.kind == "markdown" for e in INLINE.findall(c.text)]
    if not expressions:
        return chunks, _execute(chunks, params, cwd, name)
    values_cell = Chunk("code", "print(" + repr(INLINE_SEPARATOR) + ".join(str(eval(e)) for e in "
                        + repr(expressions) + "), end='')", {"echo": False, "output": "asis"})
    outputs = _execute(chunks + [values_cell], params, cwd, name)
    values = iter(outputs.pop().split(INLINE_SEPARATOR))
    filled = [Chunk(c.kind, INLINE.sub(lambda _: next(values), c.text), c.options) if c.kind == "markdown" else c
              for c in chunks]
    return filled, outputs


def _title(meta: dict, params: dict, default: str) -> str:
    """A title may name the service ("IPS outcomes: {service_name}"), filled from the report's parameters."""
    return str(meta.get("title", default)).format(**{k: v for k, v in params.items() if isinstance(v, str)})


def _fallback(qmd: Path, out_dir: Path, params: dict, formats: tuple[str, ...]) -> list[Path]:
    import pypandoc
    import typst

    meta, chunks = parse_qmd(qmd.read_text(encoding="utf-8"))
    chunks, outputs = _with_inline_values(chunks, params, qmd.parent, qmd.name)
    title = _title(meta, params, qmd.stem)
    written = []
    common = ["--metadata", f"title={title}", "--resource-path", str(qmd.parent)]
    if meta.get("subtitle"):
        common += ["--metadata", f"subtitle={meta['subtitle']}"]
    if "html" in formats:
        target = out_dir / f"{qmd.stem}.html"
        pypandoc.convert_text(
            _markdown(chunks, outputs, with_code=True), "html5", format="markdown",
            outputfile=str(target),
            extra_args=common + ["--standalone", "--embed-resources", "--toc", "--mathml",
                                 "--css", str(qmd.parent / "styles.css")])
        written.append(target)
    if "pdf" in formats:
        with tempfile.TemporaryDirectory() as tmp:
            text = _markdown(chunks, outputs, with_code=False)
            # Typst may only read files under its root: copy each image beside the .typ file.
            numbers = itertools.count()

            def local(match):
                source = (qmd.parent / match.group(2)).resolve()
                copy = Path(tmp) / f"img{next(numbers)}{source.suffix}"
                shutil.copyfile(source, copy)
                return f"![{match.group(1)}]({copy.name})"
            text = re.sub(r"!\[([^\]]*)\]\(([^)]+)\)", local, text)
            typ = Path(tmp) / f"{qmd.stem}.typ"
            pypandoc.convert_text(text, "typst", format="markdown", outputfile=str(typ),
                                  extra_args=common + ["--standalone", "--toc",
                                                       "--include-in-header", str(qmd.parent / "pdf-header.typ")])
            target = out_dir / f"{qmd.stem}.pdf"
            # Dated by the end of follow-up and with typst's own fonts only, so the same results give the
            # same PDF bytes on any machine.
            stamp = int(datetime.fromisoformat(str(params.get("extract_date", "2024-02-27"))).replace(tzinfo=timezone.utc).timestamp())
            target.write_bytes(typst.compile(str(typ), root=tmp, timestamp=stamp, ignore_system_fonts=True))
            written.append(target)
    return written


def quarto_available() -> bool:
    return shutil.which("quarto") is not None


def render(out_dir: Path, params: dict, reports_dir: Path = REPORTS_DIR, formats: tuple[str, ...] = ("html", "pdf"),
           progress=print) -> tuple[str, list[Path]]:
    """Render every report into out_dir; return (renderer used, files written)."""
    renderer = "quarto" if quarto_available() else "fallback (nbclient + pandoc + typst; quarto is not on the PATH)"

    def fill(folder: Path) -> list[str]:
        names = []
        for qmd in documents(reports_dir):
            progress(f"rendering {qmd.name} with {renderer.split(' ')[0]} ...")
            if renderer == "quarto":
                title = _title(parse_qmd(qmd.read_text(encoding="utf-8"))[0], params, qmd.stem)  # as the fallback's
                for fmt in formats:
                    args = ["quarto", "render", str(qmd), "--to", "html" if fmt == "html" else "typst",
                            "--output-dir", str(folder), "--metadata", f"title:{title}"]
                    for key, value in params.items():
                        args += ["-P", f"{key}:{value}"]
                    if subprocess.run(args).returncode != 0:
                        raise RenderError(f"quarto could not render {qmd.name} to {fmt}")
                    names.append(f"{qmd.stem}.{fmt}")
            else:
                try:
                    names.extend(p.name for p in _fallback(qmd, folder, params, formats))
                except RuntimeError as error:  # pandoc or typst refused the document
                    if isinstance(error, RenderError):
                        raise
                    raise RenderError(f"{qmd.name}: {str(error).splitlines()[0]}") from None
        return names

    return renderer, [Path(out_dir) / name for name in write_folder_atomically(Path(out_dir), fill)]
