"""README.md and the documentation pages (docs/*.md) cannot go stale: CI runs the README's
first two lines, and every other example in the README and the pages is run where that is
cheap and safe here, and otherwise parsed by the same code that would run it (the CLI's own
parser, the benchmarks' argument parsers, pyproject's extras, the preset and prompt parsers),
so a renamed option, module or name fails a test. The README is a front page: at most
15,000 characters, and every link from it into docs/ names an existing page (and heading)."""
from __future__ import annotations

import ast
import builtins
import importlib
import json
import re
import shlex
import subprocess
import warnings
from pathlib import Path

import click
import pytest

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib  # type: ignore[no-redef]

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
#: Where the examples are: the front page and the documentation pages.
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
README_MAX_CHARS = 15_000


def _blocks(lang: str, pages: list[Path] = PAGES) -> list[tuple[str, str]]:
    """("file:first line", text) of each fenced block of ``lang`` (indented ones too)."""
    out = []
    for page in pages:
        current, start, indent = None, 0, 0
        for no, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            stripped = line.strip()
            if current is None and stripped == f"```{lang}":
                current, start, indent = [], no + 1, len(line) - len(line.lstrip())
            elif current is not None and stripped == "```":
                out.append((f"{page.relative_to(REPO)}:{start}", "\n".join(current)))
                current = None
            elif current is not None:
                current.append(line[indent:])
    return out


def _shell_commands() -> list[tuple[str, list[str]]]:
    """Every simple command of every bash block, split like the shell splits it."""
    out = []
    for where, text in _blocks("bash"):
        file, start = where.rsplit(":", 1)
        for offset, line in enumerate(text.splitlines()):
            words = shlex.split(line, comments=True)
            command: list[str] = []
            for word in [*words, "&&"]:
                if word == "&&":
                    if command:
                        out.append((f"{file}:{int(start) + offset}", command))
                    command = []
                else:
                    command.append(word)
    return out


def test_examples_are_found() -> None:
    """The checks below see the README's and the pages' examples (a moved page or a renamed
    fence would otherwise leave them checking nothing)."""
    files = {where.rsplit(":", 1)[0] for lang in ("bash", "python", "toml", "json") for where, _ in _blocks(lang)}
    assert "README.md" in files and {"docs/using.md", "docs/redaction.md", "docs/plugins.md"} <= files


def test_ci_runs_the_readme_commands() -> None:
    start, text = _blocks("bash", [REPO / "README.md"])[0]
    install, test = text.splitlines()
    assert install.startswith("./setup.sh && . .venv/bin/activate && trackedit run ")
    assert test == "python -m pytest -q"
    ci = [line for line in (REPO / ".ci" / "run").read_text().splitlines()
          if line and not line.startswith(("#", "set ", "cd "))]
    assert ci == [install, test]


def test_shell_blocks_are_valid_bash() -> None:
    for where, text in _blocks("bash"):
        r = subprocess.run(["bash", "-n"], input=text, text=True, capture_output=True)
        assert r.returncode == 0, f"{where}: {r.stderr}"


def _unparsed(ctx: click.Context) -> list[str]:
    with warnings.catch_warnings():  # Click 8.2 deprecates protected_args; 8.1 needs it
        warnings.simplefilter("ignore", DeprecationWarning)
        return [*ctx.protected_args, *ctx.args]


def _parse_trackedit(args: list[str]) -> None:
    """Parse a command line exactly as `trackedit` would, without running the command."""
    from editor.cli.main import cli

    ctx = cli.make_context("trackedit", list(args))
    group: click.Group = cli
    rest = _unparsed(ctx)
    while rest:
        name, cmd, rest = group.resolve_command(ctx, rest)
        assert cmd is not None, f"unknown command {name!r}"
        ctx = cmd.make_context(name, rest, parent=ctx)
        if not isinstance(cmd, click.Group):
            break
        group, rest = cmd, _unparsed(ctx)


#: Commands that are cheap and harmless here: they are run, not only parsed.
RUNNABLE = {("trackedit", "presets"), ("trackedit", "plugins"), ("trackedit", "--version")}


def _check_command(words: list[str]) -> None:
    from editor.cli.main import main

    head = words[0]
    if head == "trackedit":
        if tuple(words) in RUNNABLE:
            assert main(words[1:]) == 0
        else:
            try:
                _parse_trackedit(words[1:])
            except click.exceptions.Exit as exc:  # --version / --help
                assert exc.exit_code == 0
    elif words[:3] in (["python", "-m", "pytest"],):
        if "-m" in words[3:]:
            expr = words[words.index("-m", 3) + 1]
            declared = {m.split(":")[0] for m in tomllib.loads((REPO / "pyproject.toml").read_text())
                        ["tool"]["pytest"]["ini_options"]["markers"]}
            used = set(re.findall(r"[A-Za-z_]\w*", expr)) - {"not", "and", "or"}
            assert used <= declared, f"unknown pytest markers {used - declared}"
    elif words[:2] == ["python", "-m"] and words[2].split(".")[0] == "benchmarks":
        module = importlib.import_module(words[2] if "." in words[2] else "benchmarks.__main__")
        module.build_parser().parse_args(words[3:])
    elif head in ("pip", ".venv/bin/pip") and words[1] == "install":
        extras_declared = set(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
                              ["optional-dependencies"])
        for word in words[2:]:
            m = re.fullmatch(r"\.\[([\w,-]+)\]", word)
            if m:
                assert set(m[1].split(",")) <= extras_declared, word
    elif head == "./setup.sh":
        assert (REPO / "setup.sh").stat().st_mode & 0o111
    elif words in (["python3", "-m", "venv", ".venv"], [".", ".venv/bin/activate"]):
        pass
    else:
        raise AssertionError(f"the README test does not know how to check {shlex.join(words)!r}: teach it")


@pytest.mark.parametrize("where, words", _shell_commands(), ids=lambda v: v if isinstance(v, str) else None)
def test_shell_command(where: str, words: list[str]) -> None:
    try:
        _check_command(words)
    except (AssertionError, click.ClickException, SystemExit) as exc:
        raise AssertionError(f"{where}: {shlex.join(words)}: {exc}") from exc


def _undefined_names(tree: ast.AST) -> set[str]:
    bound, loaded = set(dir(builtins)), set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
    return loaded - bound


@pytest.mark.parametrize("where, code", _blocks("python"), ids=lambda v: v if isinstance(v, str) and ":" in v else None)
def test_python_example(where: str, code: str) -> None:
    """Each example compiles, uses no name it does not define or import, and imports names
    that exist."""
    tree = ast.parse(code, where)
    assert not _undefined_names(tree), f"{where}: undefined names {_undefined_names(tree)}"
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name), f"{where}: {node.module} has no {alias.name}"


def test_toml_examples() -> None:
    from editor.pipeline.plugin_manager import PluginManager
    from editor.pipeline.presets import parse_preset, validate_preset

    blocks = _blocks("toml")
    assert blocks
    for line, text in blocks:
        data = tomllib.loads(text)
        if "stages" in data:  # a preset: every stage and option must exist
            validate_preset(parse_preset(data, "readme"), PluginManager(external=False))


def test_prompt_contract_example(tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    from editor.api.prompts import parse_prompts

    (where, text), = _blocks("json", [REPO / "docs" / "using.md"])  # the prompt contract's page
    (tmp_path / "masks").mkdir()
    mask = np.zeros((720, 1280), np.uint8)
    mask[60:250, 280:380] = 255
    Image.fromarray(mask).save(tmp_path / "masks" / "bunny_0000.png")  # the file the example names
    prompts = parse_prompts(json.loads(text), tmp_path / "prompts.json")
    prompts.validate_for_video(1280, 720, 132)
    assert [o.name for o in prompts.objects] == ["bunny"] and len(prompts.objects[0].prompts) == 4


def _slug(heading: str) -> str:
    """The anchor Python-Markdown's toc extension gives a heading (its default slugify)."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", lambda m: m[1] or "", heading)
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def _docs_links(text: str) -> list[str]:
    """Every link and image target of a Markdown text that points into docs/ (relative)."""
    targets = re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", text)
    targets += re.findall(r"^\[[^\]]+\]:\s*(\S+)", text, re.M)  # reference-style definitions
    return [t for t in targets if t.startswith(("docs/", "./docs/"))]


def _broken_docs_links(text: str) -> list[str]:
    """The links of ``text`` into docs/ whose file, or whose page's heading, does not exist."""
    broken = []
    for link in _docs_links(text):
        target, _, anchor = link.partition("#")
        path = REPO / target
        if not path.is_file():
            broken.append(link)
        elif anchor:
            headings = re.findall(r"^#{1,6}\s+(.+?)\s*#*$", path.read_text(encoding="utf-8"), re.M)
            if path.suffix != ".md" or anchor not in {_slug(h) for h in headings}:
                broken.append(link)
    return broken


def test_readme_is_a_front_page() -> None:
    """At most 15,000 characters: the manual is the documentation site, not the README."""
    assert len(README) <= README_MAX_CHARS, f"README.md has {len(README)} characters (at most {README_MAX_CHARS})"


def test_readme_links_into_docs_resolve() -> None:
    """Every link from the README into docs/ names a file that exists (and, with an anchor, a
    heading of that page), and the README links to every page of the manual."""
    assert _broken_docs_links(README) == []
    linked = {link.partition("#")[0].removeprefix("./") for link in _docs_links(README)}
    pages = {str(path.relative_to(REPO)) for path in (REPO / "docs").glob("*.md")}
    assert pages - linked == set(), "README.md does not link to these pages"


@pytest.mark.parametrize("text, broken", [
    ("See [the missing page](docs/no-such-page.md).", ["docs/no-such-page.md"]),
    ("See [a heading](docs/using.md#no-such-heading).", ["docs/using.md#no-such-heading"]),
    ("![x](docs/images/none.png) and [y][ref]\n\n[ref]: docs/gone.md", ["docs/images/none.png", "docs/gone.md"]),
    ("[ok](docs/using.md#prompt-contract), [ok](docs/backends.md#refining-weak-masks-sam-xmem), "
     "[elsewhere](https://example.com/docs/x.md)", []),
])
def test_the_link_check_finds_broken_links(text: str, broken: list[str]) -> None:
    """The check above fails on a link to a missing page, heading or picture, not on good ones."""
    assert _broken_docs_links(text) == broken
