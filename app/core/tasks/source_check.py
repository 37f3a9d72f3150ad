"""A task's Python checked when it is added, without running it: every module must parse,
and the entry module must define what FedDeck calls. A mistake is refused with its file
and line, not met by every edge at run time."""

from __future__ import annotations

import ast
from pathlib import Path

from app.core.tasks.manifest import TaskManifest
from app.errors import InvalidInput

REQUIRED = ("build_model", "load_data")


def check_sources(folder: Path, manifest: TaskManifest, files: list[Path]) -> None:
    """`files`: the task's files, as its archive holds them."""
    entry_tree = None
    for path in files:
        if path.suffix != ".py":
            continue
        shown = path.relative_to(folder)
        try:
            tree = ast.parse(path.read_bytes(), filename=str(shown))
        except SyntaxError as exc:
            where = f"{shown}:{exc.lineno}" + (f":{exc.offset}" if exc.offset else "")
            raise InvalidInput(f"task {manifest.name}: {where}: {exc.msg}") from None
        except ValueError as exc:  # null bytes
            raise InvalidInput(f"task {manifest.name}: {shown}: {exc}") from None
        if shown == Path(f"{manifest.entry}.py"):
            entry_tree = tree
    if entry_tree is None:  # read_manifest saw the file; it is always among `files`
        raise InvalidInput(f"task {manifest.name}: {manifest.entry}.py is not in the task")
    names, star = _top_level_names(entry_tree)
    missing = [name for name in REQUIRED if name not in names]
    if missing and not star:
        raise InvalidInput(
            f"task {manifest.name}: {manifest.entry}.py defines no {' and no '.join(missing)} "
            "(a task module needs build_model(config) and load_data(data_dir, config))"
        )


def _top_level_names(tree: ast.Module) -> tuple[set[str], bool]:
    """Names the module binds at its top level, and whether it star-imports (then any)."""
    names: set[str] = set()
    star = False
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                star = star or alias.name == "*"
                names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.If | ast.Try):  # `if TORCH: def build_model...`
            inner, inner_star = _top_level_names(ast.Module(body=_branches(node), type_ignores=[]))
            names |= inner
            star = star or inner_star
    return names, star


def _branches(node: ast.If | ast.Try) -> list[ast.stmt]:
    body = list(node.body) + list(node.orelse)
    if isinstance(node, ast.Try):
        body += [stmt for handler in node.handlers for stmt in handler.body]
        body += list(node.finalbody)
    return body
