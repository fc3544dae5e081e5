"""One source for every notebook: solutions → student skeletons.

``notebooks/solutions/NN_topic.ipynb`` is written by hand. Solution code sits between nbgrader's
markers (``### BEGIN SOLUTION`` / ``### END SOLUTION``), in code cells and in Markdown answer cells.
``python tools/authoring.py`` (``make skeletons``) writes ``notebooks/exercises/NN_topic.ipynb``:

* a code region becomes ``# TODO: your code here`` + ``raise NotImplementedError()``, at the region's
  indentation, so signatures, docstrings and ``# HINT`` comments around it stay;
* a Markdown region becomes ``YOUR ANSWER HERE``;
* outputs and execution counts are cleared;
* every code cell that cannot run before the exercises are done (it raises at top level, or it
  uses a name that an unfinished exercise defines, directly or through another cell) is tagged
  ``raises-exception``, so nbval runs the skeleton and expects exactly those cells to fail.

It refuses to write a skeleton that would show a line of solution code (a whole line, or the
expression it assigns or returns, also when it is quoted in a ``# HINT``, a comment or Markdown), or
a sentence of a written answer: the build stops with an :class:`AuthoringError` naming the notebook,
the cell and the line, and writes nothing for that notebook.

It also keeps the solutions' nbgrader metadata complete (solution cells and check cells), so the
same files work with ``nbgrader generate_assignment``. ``--check`` only reports what is out of date.

This is the instructors' tool: nothing in ``course_utils`` (what students import) depends on it.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

import nbformat

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
CODE_STUB = ["# TODO: your code here", "raise NotImplementedError()"]
TEXT_STUB = "YOUR ANSWER HERE"
RAISES = "raises-exception"
CHECK_CALL = re.compile(r"^\s*check_\w+\(", re.MULTILINE)

MIN_FRAGMENT = 12  # characters (spaces removed): shorter solution fragments ("x + y") are not secrets

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS, EXERCISES = ROOT / "notebooks" / "solutions", ROOT / "notebooks" / "exercises"


class AuthoringError(ValueError):
    """A solution notebook is malformed (e.g. unbalanced solution markers)."""


def split_regions(source: str) -> list[tuple[bool, list[str]]]:
    """Split a cell's lines into ``(is_solution, lines)`` runs; marker lines are dropped."""
    runs: list[tuple[bool, list[str]]] = [(False, [])]
    for number, line in enumerate(source.splitlines(), 1):
        marker = line.strip()
        if marker == BEGIN:
            if runs[-1][0]:
                raise AuthoringError(f"line {number}: {BEGIN} inside a solution region")
            runs.append((True, [line[: len(line) - len(line.lstrip())]]))  # remember the indentation
        elif marker == END:
            if not runs[-1][0]:
                raise AuthoringError(f"line {number}: {END} without {BEGIN}")
            runs.append((False, []))
        else:
            runs[-1][1].append(line)
    if runs[-1][0]:
        raise AuthoringError(f"{BEGIN} without {END}")
    return runs


def has_solution(cell: nbformat.NotebookNode) -> bool:
    return any(line.strip() == BEGIN for line in cell.source.splitlines())


def clear_solution(cell: nbformat.NotebookNode) -> str:
    """The cell's source with every solution region replaced by its stub."""
    out: list[str] = []
    for is_solution, lines in split_regions(cell.source):
        if not is_solution:
            out.extend(lines)
        elif cell.cell_type == "code":
            indent = lines[0]
            out.extend(indent + stub for stub in CODE_STUB)
        else:
            out.append(TEXT_STUB)
    return "\n".join(out)


def solution_lines(cell: nbformat.NotebookNode) -> list[str]:
    """The stripped, non-empty lines inside the cell's solution regions."""
    return [line.strip() for is_solution, lines in split_regions(cell.source) if is_solution
            for line in lines[1:] if line.strip()]


# --- which skeleton cells raise -------------------------------------------------------------------

def _parse(source: str) -> ast.Module:
    """Parse a code cell, turning IPython magics and shell escapes into ``pass``."""
    lines = [re.sub(r"^(\s*)[%!].*$", r"\1pass", line) for line in source.splitlines()]
    return ast.parse("\n".join(lines))


def _runtime_nodes(tree: ast.AST):
    """Nodes evaluated when the cell runs: everything except the bodies of ``def``s and type annotations
    (naming a class in an annotation does not call it)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        skipped = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            skipped = [*node.body, node.returns]
        elif isinstance(node, (ast.arg, ast.AnnAssign)):
            skipped = [node.annotation]
        stack.extend(child for child in ast.iter_child_nodes(node) if not any(child is s for s in skipped))


def _is_stub_raise(node: ast.AST) -> bool:
    if not isinstance(node, ast.Raise) or node.exc is None:
        return False
    exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
    return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"


_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _comprehension_targets(nodes) -> set[int]:
    """``id()`` of the Name nodes that comprehensions bind: local to the comprehension in Python 3."""
    return {id(name) for node in nodes if isinstance(node, _COMPREHENSIONS) for gen in node.generators
            for name in ast.walk(gen.target) if isinstance(name, ast.Name)}


def _loads(nodes) -> set[str]:
    """Names read from the enclosing scope (not the loop variables of a comprehension reading themselves)."""
    nodes = list(nodes)
    local = {n.id for n in nodes if id(n) in _comprehension_targets(nodes)}
    return {n.id for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id not in local}


def _bound_names(tree: ast.AST) -> set[str]:
    """Names a cell binds at top level (assignments, loops, imports, defs, classes)."""
    names = set()
    nodes = list(_runtime_nodes(tree))
    local = _comprehension_targets(nodes)
    for node in nodes:
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)) and id(node) not in local:
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def cells_expected_to_raise(nb: nbformat.NotebookNode, solution: nbformat.NotebookNode | None = None) -> set[int]:
    """Indices of the skeleton's code cells that raise until the exercises are done.

    Statements are followed in order. One raises if a stub ``raise NotImplementedError`` runs at
    its top level, or if it uses a *tainted* name: one bound by a statement that raised (or by any
    statement after it in that cell), or a function/class whose body holds a stub or uses a
    tainted name. A name rebound by a statement that runs clean is clean again. With the
    ``solution`` notebook, the names its version of a raising cell with a solution region binds are
    tainted too (a cleared solution region never binds them).
    """
    tainted: set[str] = set()
    raising: set[int] = set()
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        statements = _parse(cell.source).body
        for position, statement in enumerate(statements):
            runtime = list(_runtime_nodes(statement))
            if any(_is_stub_raise(n) for n in runtime) or _loads(runtime) & tainted:
                raising.add(index)
                for rest in statements[position:]:
                    tainted |= _bound_names(rest)
                if solution is not None and has_solution(solution.cells[index]):
                    tainted |= _bound_names(_parse(solution.cells[index].source))
                break
            tainted -= _bound_names(statement)
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                inner = list(ast.walk(statement))
                if any(_is_stub_raise(n) for n in inner) or _loads(inner) & tainted:
                    tainted.add(statement.name)
    return raising


# --- building --------------------------------------------------------------------------------------

def _nbgrader_metadata(cell: nbformat.NotebookNode) -> dict | None:
    """The nbgrader metadata a solution-notebook cell should carry (None for ordinary cells)."""
    grade_id = f"{cell.cell_type}-{cell.get('id', '')}"
    if has_solution(cell):
        return {"grade": False, "grade_id": grade_id, "locked": False, "schema_version": 3, "solution": True,
                "task": False}
    if cell.cell_type == "code" and CHECK_CALL.search(cell.source):
        return {"grade": True, "grade_id": grade_id, "locked": True, "points": 1, "schema_version": 3,
                "solution": False, "task": False}
    return None


def normalize_solution(nb: nbformat.NotebookNode) -> bool:
    """Give solution and check cells their nbgrader metadata and drop it from other cells.
    Returns whether anything changed."""
    changed = False
    for cell in nb.cells:
        wanted = _nbgrader_metadata(cell)
        current = cell.metadata.get("nbgrader")
        if wanted is None and current is not None:
            del cell.metadata["nbgrader"]
            changed = True
        elif wanted is not None and current != wanted:
            cell.metadata["nbgrader"] = wanted
            changed = True
    return changed


def build_skeleton(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student version of a solution notebook (a new notebook; the input is not modified)."""
    skeleton = nbformat.from_dict(solution)
    skeleton.metadata.pop("widgets", None)
    for cell in skeleton.cells:
        if has_solution(cell):
            cell.source = clear_solution(cell)
        tags = [t for t in cell.metadata.get("tags", []) if t != RAISES]
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)  # timestamps of the solution's run
        cell.metadata["tags"] = tags
    for index in cells_expected_to_raise(skeleton, solution):
        skeleton.cells[index].metadata["tags"].append(RAISES)
    for cell in skeleton.cells:
        if not cell.metadata["tags"]:
            del cell.metadata["tags"]
    return skeleton


def _squeeze(line: str) -> str:
    """A line without its comment marker and without whitespace (one space is kept between two words),
    for comparing code fragments: ``x = f( a, b )  `` → ``x=f(a,b)``."""
    tokens = re.findall(r"\w+|\S", line.strip().lstrip("#"))
    return "".join(" " + t if i and _word(tokens[i - 1]) and _word(t)
                   else t for i, t in enumerate(tokens))


def _word(token: str) -> bool:
    return bool(re.fullmatch(r"\w+", token))


_ASSIGNED = re.compile(r"^(?:return|yield)\s+(?P<rhs>.+)$|^[\w\s,.()\[\]*]+?(?:[-+*/@]?=)(?!=)\s*(?P<value>.+)$")


_NAMES = re.compile(r"[\w., ]+")  # names, attributes, tuples of them: nothing to give away


def secret_fragments(solution: nbformat.NotebookNode) -> dict[str, str]:
    """What a skeleton must not show, squeezed (no whitespace) → the solution line it comes from.

    Every line of a solution region (comments and written answers included) and, for code, the
    expression it assigns or returns (``z = mu + std * eps`` → ``mu + std * eps``), if at least
    :data:`MIN_FRAGMENT` characters long. A fragment that is a whole line of the solution's *public*
    code (outside the regions, comments aside) is no secret.
    """
    public = set()
    for cell in solution.cells:
        if cell.cell_type != "code":
            continue
        runs = split_regions(cell.source) if has_solution(cell) else [(False, cell.source.splitlines())]
        public.update(_squeeze(line) for is_solution, lines in runs if not is_solution for line in lines
                      if not line.strip().startswith("#"))
    secrets: dict[str, str] = {}
    for cell in solution.cells:
        if not has_solution(cell):
            continue
        for line in solution_lines(cell):
            candidates = [line]
            match = _ASSIGNED.match(line) if cell.cell_type == "code" and not line.startswith("#") else None
            if match:
                candidates.append(match.group("rhs") or match.group("value"))
            for candidate in candidates:
                squeezed = _squeeze(candidate)
                if len(squeezed) >= MIN_FRAGMENT and squeezed not in public \
                        and not (cell.cell_type == "code" and _NAMES.fullmatch(squeezed)):
                    secrets.setdefault(squeezed, line)
    return secrets


def leaks(solution: nbformat.NotebookNode, skeleton: nbformat.NotebookNode) -> list[tuple[int, str, str]]:
    """``(cell index, skeleton line, solution line)`` for every skeleton line that shows solution text:
    a secret fragment (see :func:`secret_fragments`) that appears in it at identifier boundaries."""
    secrets = secret_fragments(solution)
    patterns = {fragment: re.compile((r"(?<![\w.])" if _word(fragment[0]) else "") + re.escape(fragment)
                                     + (r"(?!\w)" if _word(fragment[-1]) else "")) for fragment in secrets}
    found = []
    for index, cell in enumerate(skeleton.cells):
        for line in cell.source.splitlines():
            squeezed = _squeeze(line)
            for fragment, pattern in patterns.items():
                if pattern.search(squeezed):
                    found.append((index, line.strip(), secrets[fragment]))
                    break
    return found


def leaked_lines(solution: nbformat.NotebookNode, skeleton: nbformat.NotebookNode) -> list[str]:
    """The skeleton lines that show solution text (see :func:`leaks`), sorted."""
    return sorted({line for _, line, _ in leaks(solution, skeleton)})


def check_no_leaks(name: str, solution: nbformat.NotebookNode, skeleton: nbformat.NotebookNode) -> None:
    """Raise :class:`AuthoringError` if the skeleton of ``name`` would show solution text."""
    found = leaks(solution, skeleton)
    if found:
        details = "\n".join(f"  cell {index}: {line!r}\n    shows the solution line {source!r}"
                            for index, line, source in found)
        raise AuthoringError(
            f"{name}: the skeleton would show solution code, so it was not written:\n{details}\n"
            "Rewrite that hint, comment or text so that it points to the mathematics and the API to read "
            "instead of the line to type (or move it into a solution region).")


def render(nb: nbformat.NotebookNode) -> str:
    """The exact text a notebook is stored as."""
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def build_one(path: Path, check: bool = False, exercises: Path = EXERCISES) -> list[str]:
    """Regenerate the skeleton of one solution notebook (and the solution's nbgrader metadata); return
    the files that were (with ``check``: that would be) rewritten. Raises :class:`AuthoringError`, and
    writes nothing, if the skeleton would show solution text."""
    stale = []
    solution = nbformat.read(path, as_version=4)
    skeleton = build_skeleton(solution)  # built before the metadata is normalised: that changes no source
    check_no_leaks(path.name, solution, skeleton)
    if normalize_solution(solution):
        stale.append(str(path))
        if not check:
            path.write_text(render(solution), encoding="utf-8")
    target = exercises / path.name
    text = render(build_skeleton(solution))
    if not target.exists() or target.read_text(encoding="utf-8") != text:
        stale.append(str(target))
        if not check:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    return stale


def solution_notebooks(solutions: Path = SOLUTIONS) -> list[Path]:
    """The course's solution notebooks, ``NN_topic.ipynb``, in order."""
    return sorted(solutions.glob("[0-9][0-9]_*.ipynb"))


def build_all(check: bool = False, solutions: Path = SOLUTIONS, exercises: Path = EXERCISES) -> list[str]:
    """Regenerate every skeleton (and the solutions' nbgrader metadata). With ``check``, write
    nothing and return the files that are out of date. A notebook whose skeleton would show solution
    text stops the build with an :class:`AuthoringError` (the notebooks before it are written)."""
    return [name for path in solution_notebooks(solutions) for name in build_one(path, check, exercises)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report out-of-date files (exit 1 if any)")
    args = parser.parse_args(argv)
    try:
        stale = build_all(check=args.check)
    except AuthoringError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for path in stale:
        print(("out of date: " if args.check else "wrote ") + str(Path(path).relative_to(ROOT)))
    if args.check and stale:
        print("run `make skeletons` to regenerate them", file=sys.stderr)
        return 1
    if not stale:
        print("all skeletons are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
