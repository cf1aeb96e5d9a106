"""House rules that keep the code easy to carry on, checked on the source itself:
small functions and files, no private names reached across package borders, and no citation
of files that are not in the repository."""
import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "jdl").rglob("*.py"))
MAX_FUNCTION_LINES, MAX_FILE_LINES = 60, 300


def _body_lines(node: ast.AST) -> int:
    """Lines of a function without its docstring."""
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    if not body:
        return 0
    return body[-1].end_lineno - body[0].lineno + 1


def test_no_function_over_60_lines_and_no_file_over_300():
    long = []
    for path in SOURCES:
        text = path.read_text()
        if len(text.splitlines()) > MAX_FILE_LINES:
            long.append(f"{path.relative_to(ROOT)}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                    and _body_lines(node) > MAX_FUNCTION_LINES:
                long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: "
                            f"{_body_lines(node)} lines")
    assert not long, "\n".join(long)


def _package_of(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1]) if parts[-1] != "__init__" else ".".join(parts[:-1])


def _private_imports(path: pathlib.Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module + "." + a.name for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] != "jdl":
                continue
            for i, part in enumerate(parts[1:], start=1):
                if part.startswith("_"):
                    yield node.lineno, ".".join(parts[:i]), ".".join(parts[:i + 1])
                    break


@pytest.mark.parametrize("folder", ["jdl", "experiments"])
def test_private_names_are_imported_only_inside_their_package(folder):
    offences = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        importer = _package_of(path) if folder == "jdl" else None
        for line, owner, name in _private_imports(path):
            if owner != importer:
                offences.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not offences, "\n".join(offences)


# The outside files are upper case (DESIGN.md, CURRICULUM.md); the repository's own pages
# docs/design.md and docs/curriculum.md are lower case and may be cited.
CITATION = re.compile(r"DESIGN\.md|CURRICULUM|(?i:research/|shared/|decks? [0-9])")


def test_nothing_cites_files_outside_the_repository():
    files = [p for folder in ("jdl", "docs", "experiments") for p in (ROOT / folder).rglob("*")
             if p.suffix in (".py", ".md")] + [ROOT / "README.md"]
    hits = [f"{p.relative_to(ROOT)}:{i}: {line.strip()[:80]}"
            for p in sorted(files) for i, line in enumerate(p.read_text().splitlines(), 1)
            if CITATION.search(line)]
    assert not hits, f"{len(hits)} citations:\n" + "\n".join(hits[:40])


def test_no_test_module_defines_a_nose_style_setup():
    """pytest 8.0 (the oldest supported) still calls a module-level `setup`/`teardown` as
    nose-style fixtures, with the module as argument: a helper of that name breaks the file."""
    offences = [f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
                for path in sorted((ROOT / "tests").rglob("test_*.py"))
                for node in ast.parse(path.read_text()).body
                if isinstance(node, ast.FunctionDef) and node.name in ("setup", "teardown")]
    assert not offences, "\n".join(offences)
