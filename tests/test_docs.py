"""The docs name the code as it is: docs/architecture.md's package map lists every module
of app/ under its own package, every file a doc names in backticks exists, and every
sample config that ships is valid."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _package_blocks() -> dict[str, str]:
    """docs/architecture.md's package map: each package's path and its text."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    start = text.index("## Packages and the rules between them")
    block = text[text.index("```\n", start) + 4 :]
    block = block[: block.index("```")]
    blocks: dict[str, list[str]] = {}
    stack: list[tuple[int, str]] = []
    current = None
    for line in block.splitlines():
        found = re.match(r"^( *)([a-z_]+)/(?=\s|$)", line)
        if found:
            indent = len(found.group(1))
            while stack and stack[-1][0] >= indent:
                stack.pop()
            path = "/".join([*(name for _, name in stack), found.group(2)])
            stack.append((indent, found.group(2)))
            current = path
            blocks[current] = [line[found.end() :]]
        elif current is not None:
            blocks[current].append(line)
    return {path: "\n".join(lines) for path, lines in blocks.items()}


def _tree() -> dict[str, set[str]]:
    """Every folder of app/ with Python modules, and the modules' names."""
    tree: dict[str, set[str]] = {}
    for module in APP.rglob("*.py"):
        folder = module.parent.relative_to(ROOT).as_posix()
        if "__pycache__" in folder or folder.endswith("migrations/versions"):
            continue
        tree.setdefault(folder, set())
        if module.stem != "__init__":
            tree[folder].add(module.stem)
    return tree


def test_the_package_map_lists_every_package_and_module():
    blocks, tree = _package_blocks(), _tree()
    assert sorted(blocks) == sorted(tree)
    missing = {
        f"{folder}/{name}.py"
        for folder, names in tree.items()
        for name in names
        if not re.search(rf"(?<![\w.]){re.escape(name)}\b", blocks[folder])
    }
    assert not missing, f"docs/architecture.md does not name {sorted(missing)}"


# What a recipe's worked example creates (docs/algorithms.md, docs/contributing.md).
EXAMPLES = {"app/core/algorithms/fedavg_slr.py", "tests/fl/test_fedavg_slr.py"}


def test_every_file_the_docs_name_exists():
    named = re.compile(r"`((?:[\w.-]+/)*[\w.-]+\.(?:py|md|toml|sh|proto|pem))(?:[:`])")
    stale = set()
    for doc in DOCS:
        for path in named.findall(doc.read_text()):
            if (
                "/" not in path
                or path in EXAMPLES
                or "NAME" in path
                or path.startswith(("DIR/", "DATA_DIR/"))
            ):
                continue
            if not any((base / path).exists() for base in (ROOT, APP, ROOT / "docs")):
                stale.add(f"{doc.name}: {path}")
    # and `core/run/server.FLServer`, `ui/dialogs/launch`: a module by its path under app/
    module = re.compile(r"`((?:cli|ui|services|core|backends|storage|wire|bench|tests)/[\w/]+)[.`]")
    for doc in DOCS:
        for path in module.findall(doc.read_text()):
            base = ROOT if path.startswith(("bench/", "tests/")) else APP
            if f"{path}.py" in EXAMPLES or "NAME" in path:
                continue
            if not ((base / f"{path}.py").exists() or (base / path).is_dir()):
                stale.add(f"{doc.name}: {path}")
    assert not stale, sorted(stale)


def test_every_sample_config_is_valid_and_named_as_its_file():
    from app.core.fl_config import config_from_toml

    samples = sorted((ROOT / "resources" / "configs").glob("*.toml"))
    assert samples
    for path in samples:
        assert config_from_toml(path.read_text(), path.name).name == path.stem
