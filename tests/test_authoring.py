import pathlib

import nbformat
import pytest

from tools import authoring
from tools.authoring import (AuthoringError, build_all, build_one, build_skeleton, cells_expected_to_raise,
                             clear_solution, leaked_lines, normalize_solution, split_regions)

SOLUTIONS = authoring.solution_notebooks()


def notebook(*cells):
    nb = nbformat.v4.new_notebook()
    for i, (kind, source) in enumerate(cells):
        cell = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
        cell.id = f"t{i}"
        nb.cells.append(cell)
    return nb


def test_code_region_becomes_a_todo_at_its_indentation():
    cell = nbformat.v4.new_code_cell(
        "def f(x):\n    \"\"\"Doc.\"\"\"\n    # HINT: square it\n    ### BEGIN SOLUTION\n    return x * x\n"
        "    ### END SOLUTION\n")
    assert clear_solution(cell) == ("def f(x):\n    \"\"\"Doc.\"\"\"\n    # HINT: square it\n"
                                    "    # TODO: your code here\n    raise NotImplementedError()")


def test_markdown_region_becomes_your_answer_here():
    cell = nbformat.v4.new_markdown_cell("**Q.** Why?\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION")
    assert clear_solution(cell) == "**Q.** Why?\nYOUR ANSWER HERE"


@pytest.mark.parametrize("source", [
    "### BEGIN SOLUTION\nx = 1\n",
    "x = 1\n### END SOLUTION\n",
    "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n",
])
def test_unbalanced_markers_are_errors(source):
    with pytest.raises(AuthoringError):
        split_regions(source)


def test_cells_that_depend_on_exercises_are_found():
    solution = notebook(
        ("code", "import math\nA = 1"),                                        # 0 clean
        ("code", "def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION"),  # 1 defines a stub
        ("code", "check(f)"),                                                  # 2 raises: uses f
        ("code", "y = f(2)\nz = 3"),                                           # 3 raises: y and z tainted
        ("code", "print(A, math.pi)"),                                         # 4 clean
        ("code", "print(z)"),                                                  # 5 raises: z never assigned
        ("code", "z = 5\nprint(z)"),                                           # 6 clean: z rebound first
        ("code", "def g():\n    return f(1)"),                                 # 7 clean, but g is tainted
        ("code", "g()"),                                                       # 8 raises
        ("code", "h = lambda: y\nh()"),                                        # 9 raises (lambda uses y)
        ("code", "%matplotlib inline\nprint(A)"),                              # 10 clean, magic ignored
        ("code", "### BEGIN SOLUTION\nw = 1\n### END SOLUTION"),                # 11 raises at top level
        ("code", "print(w)"),                                                  # 12 raises
        ("code", "class M:\n    def __init__(self):\n        ### BEGIN SOLUTION\n        pass\n"
                 "        ### END SOLUTION"),                                  # 13 clean, M tainted
        ("code", "m = M()"),                                                   # 14 raises
        ("code", "def use(m: M) -> M:\n    return m\nx: M = None"),               # 15 clean: annotations only
        ("code", "r = [f(i) for i in range(3)]"),                              # 16 raises: i is local to it
        ("code", "s = [i * 2 for i in range(3)]\nprint({k: v for k, v in {}.items()})"),  # 17 clean: i not tainted
        ("code", "def k():\n    return 1\nq = f(1)"),                          # 18 raises after defining k
        ("code", "k()"),                                                       # 19 clean: k was defined
    )
    nb = build_skeleton(solution)
    assert cells_expected_to_raise(nb, solution) == {2, 3, 5, 8, 9, 11, 12, 14, 16, 18}
    tagged = {i for i, c in enumerate(nb.cells) if "raises-exception" in c.metadata.get("tags", [])}
    assert tagged == {2, 3, 5, 8, 9, 11, 12, 14, 16, 18}


def test_skeleton_has_no_outputs_and_keeps_other_tags():
    nb = notebook(("code", "print(1)"))
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="1\n")]
    nb.cells[0].execution_count = 1
    nb.cells[0].metadata["tags"] = ["nbval-check-output", "raises-exception"]
    skeleton = build_skeleton(nb)
    assert skeleton.cells[0].outputs == [] and skeleton.cells[0].execution_count is None
    assert skeleton.cells[0].metadata["tags"] == ["nbval-check-output"]
    assert nb.cells[0].outputs  # the solution is untouched


def test_nbgrader_metadata_is_added_for_solution_and_check_cells():
    nb = notebook(("code", "### BEGIN SOLUTION\nx = 1\n### END SOLUTION"), ("code", "check_x(x)"), ("code", "y = 2"))
    assert normalize_solution(nb) is True
    assert nb.cells[0].metadata["nbgrader"]["solution"] is True
    assert nb.cells[1].metadata["nbgrader"]["grade"] is True and nb.cells[1].metadata["nbgrader"]["points"] == 1
    assert "nbgrader" not in nb.cells[2].metadata
    assert normalize_solution(nb) is False


def test_leaks_are_detected():
    solution = notebook(("code", "def f():\n    ### BEGIN SOLUTION\n    return secret_formula()\n    ### END SOLUTION"))
    leaky = notebook(("code", "return secret_formula()"))
    assert leaked_lines(solution, leaky) == ["return secret_formula()"]
    assert leaked_lines(solution, build_skeleton(solution)) == []


def cell_with_solution(line: str) -> tuple[str, str]:
    return ("code", f"def f(mu, logvar):\n    ### BEGIN SOLUTION\n    {line}\n    ### END SOLUTION")


@pytest.mark.parametrize("shown", [
    "# HINT: std = torch.exp(0.5 * logvar)",                       # the line, as a comment
    "    # HINT:   std=torch.exp( 0.5*logvar ); then add the noise",  # other spacing, more text
    "# HINT: compute torch.exp(0.5 * logvar) first",                # the expression it assigns
    "Use `torch.exp(0.5 * logvar)` for the standard deviation.",    # in Markdown
])
def test_solution_code_in_hints_comments_and_text_is_a_leak(shown):
    solution = notebook(cell_with_solution("std = torch.exp(0.5 * logvar)"), ("markdown", "Text."))
    skeleton = build_skeleton(solution)
    skeleton.cells[1].source = shown
    assert leaked_lines(solution, skeleton) == [shown.strip()]


@pytest.mark.parametrize("shown", [
    "# HINT: sigma = exp(logvar / 2); see torch.exp",    # the mathematics and the API
    "my_std = torch.exp(0.5 * logvar_scaled)",           # another identifier that contains the expression
    "return mu, logvar",                                 # short or names only: nothing given away
])
def test_pointers_and_names_are_no_leak(shown):
    solution = notebook(cell_with_solution("std = torch.exp(0.5 * logvar)"), cell_with_solution("return mu, logvar"),
                        ("markdown", "Text."))
    skeleton = build_skeleton(solution)
    skeleton.cells[2].source = shown
    assert leaked_lines(solution, skeleton) == []


def test_a_written_answer_in_the_skeleton_is_a_leak():
    solution = notebook(("markdown", "**Q.** Why?\n### BEGIN SOLUTION\nBecause the KL term pulls codes to the prior."
                                     "\n### END SOLUTION"), ("markdown", "Text."))
    skeleton = build_skeleton(solution)
    skeleton.cells[1].source = "What does the KL term do to the codes?"
    assert leaked_lines(solution, skeleton) == []
    skeleton.cells[1].source = "Because the KL term pulls codes to the prior."
    assert leaked_lines(solution, skeleton) == ["Because the KL term pulls codes to the prior."]


def test_the_generator_refuses_to_write_a_skeleton_that_shows_solution_code(tmp_path):
    solutions, exercises = tmp_path / "solutions", tmp_path / "exercises"
    solutions.mkdir()
    leaky = notebook(("code", "def f(x):\n    # HINT: return x.pow(2).sum(dim=1)\n    ### BEGIN SOLUTION\n"
                              "    return x.pow(2).sum(dim=1)\n    ### END SOLUTION"))
    nbformat.write(leaky, solutions / "01_t.ipynb")
    with pytest.raises(AuthoringError, match=r"(?s)01_t.ipynb: the skeleton would show solution code.*"
                                             r"HINT: return x.pow\(2\)"):
        build_all(solutions=solutions, exercises=exercises)
    assert not exercises.exists()
    assert authoring.main.__module__ == "tools.authoring"


def test_build_all_writes_then_reports_nothing_stale(tmp_path):
    solutions, exercises = tmp_path / "solutions", tmp_path / "exercises"
    solutions.mkdir()
    nbformat.write(notebook(("code", "### BEGIN SOLUTION\nx = 1\n### END SOLUTION")), solutions / "01_t.ipynb")
    assert build_all(check=True, solutions=solutions, exercises=exercises)  # skeleton missing
    build_all(solutions=solutions, exercises=exercises)
    assert build_all(check=True, solutions=solutions, exercises=exercises) == []
    assert "raise NotImplementedError()" in (exercises / "01_t.ipynb").read_text()


# --- the course's own notebooks ------------------------------------------------------------------

def test_there_are_solution_notebooks():
    assert [p.name for p in SOLUTIONS][:1] == ["01_vae_reparameterization.ipynb"]


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_skeletons_are_in_sync_with_solutions(path):
    assert build_one(path, check=True) == [], "run `make skeletons` and commit the result"


def test_students_package_does_not_depend_on_the_authoring_tool():
    import course_utils
    package = pathlib.Path(course_utils.__file__).parent
    assert not (package / "authoring.py").exists()
    assert not [p for p in package.rglob("*.py") if "authoring" in p.read_text(encoding="utf-8")]


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_no_solution_text_leaks_into_the_skeleton(path):
    solution = nbformat.read(path, as_version=4)
    skeleton = nbformat.read(authoring.EXERCISES / path.name, as_version=4)
    assert leaked_lines(solution, skeleton) == []
    assert all(not c.get("outputs") for c in skeleton.cells)


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_every_exercise_is_checked_and_every_check_passed_in_the_stored_solution(path):
    solution = nbformat.read(path, as_version=4)
    check_cells = [c for c in solution.cells if c.cell_type == "code" and authoring.CHECK_CALL.search(c.source)]
    assert check_cells
    for cell in check_cells:
        assert "nbval-check-output" in cell.metadata.get("tags", []), cell.source
        assert cell.execution_count is not None, f"stored solution not executed: {cell.source}"
        text = "".join(o.get("text", "") for o in cell.outputs)
        assert text.startswith("✓ ") and "passed" in text, f"{cell.source} printed {text!r}"
    checked = "\n".join(c.source for c in check_cells)
    for cell in solution.cells:
        if cell.cell_type == "code" and authoring.has_solution(cell):
            defined = [n.name for n in authoring._parse(cell.source).body if hasattr(n, "name")]
            assert defined and all(name in checked for name in defined), f"unchecked exercise: {defined}"


def test_command_line_check_reports_up_to_date(capsys):
    assert authoring.main(["--check"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_make_targets_run_the_tool():
    makefile = (authoring.ROOT / "Makefile").read_text(encoding="utf-8")
    assert "$(BIN)/python tools/authoring.py\n" in makefile and "$(BIN)/python tools/authoring.py --check" in makefile
