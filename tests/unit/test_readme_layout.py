"""The README's layout ("How the code is laid out") names every module of the app, and only modules that exist.

The layout is one code block: an entry starts at the line's first column with a path (`web/`, `app.py`) and goes on
over the indented lines below it. A package's entry names each of its modules with its file name (`context.py`); a
name with a slash is from the repository's root (`web/spec.py`).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
# The folders of code, as the layout gives each an entry; `scripts/` also holds programs without a `.py`.
PACKAGES = ("handlers", "web", "services", "models", "schemas", "connectors", "core", "cli", "bench", "scripts")
_PY_NAME = re.compile(r"(?<![\w./-])([\w./-]+\.py)\b")


def layout(readme: str) -> dict[str, str]:
    """Each entry of the layout's code block: its path, and its text (the path's line and the lines under it)."""
    section = readme.split("## How the code is laid out", 1)[1]
    block = section.split("```", 2)[1].split("\n", 1)[1]
    entries: dict[str, str] = {}
    path = ""
    for line in block.splitlines():
        if line and not line[0].isspace():
            path, _, text = line.partition(" ")
            entries[path] = text
        elif path:
            entries[path] += "\n" + line
    return entries


def modules(package: str) -> list[str]:
    """The package's modules by file name (not `__init__.py`); for scripts/, every program in it."""
    folder = ROOT / package
    found = folder.iterdir() if package == "scripts" else folder.glob("*.py")
    return sorted(path.name for path in found if path.is_file() and path.name != "__init__.py")


def names_in(text: str, name: str) -> bool:
    return re.search(rf"(?<![\w./-]){re.escape(name)}(?![\w-])", text) is not None


def unlisted(entries: dict[str, str]) -> list[str]:
    missing = [f"{package}/{name}" for package in PACKAGES for name in modules(package)]
    missing = [path for path in missing if not names_in(entries.get(path.split("/")[0] + "/", ""), path.split("/")[1])]
    return missing + [path.name for path in sorted(ROOT.glob("*.py")) if path.name not in entries]


def absent(entries: dict[str, str]) -> list[str]:
    """Paths the layout names that do not exist: its entries, and every `.py` file its text names."""
    gone = [path for path in entries if not (ROOT / path).exists()]
    for path, text in entries.items():
        folder = ROOT / path if path.endswith("/") else ROOT
        for name in _PY_NAME.findall(text):
            if not (ROOT / name if "/" in name else folder / name).is_file():
                gone.append(f"{name} (under {path})")
    return gone


def test_the_layout_names_every_module() -> None:
    assert unlisted(layout(README.read_text())) == [], "add them to README.md's 'How the code is laid out'"


def test_every_module_the_layout_names_exists() -> None:
    assert absent(layout(README.read_text())) == []


def test_the_checks_see_a_module_left_out_and_one_that_is_gone() -> None:
    entries = layout(README.read_text())
    without_context = {**entries, "web/": entries["web/"].replace("context.py", "context")}
    with_a_ghost = {**entries, "core/": entries["core/"] + " ghost.py"}

    assert "web/context.py" in unlisted(without_context)
    assert "ghost.py (under core/)" in absent(with_a_ghost)
