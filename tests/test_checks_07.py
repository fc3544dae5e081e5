"""The checks of notebook 07 pass on the course's implementations with one fixed line each, and report an
unfinished exercise as such."""

import pytest
import torch

from course_utils.checks import CheckError, check_frechet_distance, check_kid, check_precision_recall
from course_utils.metrics import frechet_distance, polynomial_mmd2, precision_recall


def not_implemented(*args, **kwargs):
    raise NotImplementedError()


def test_checks_pass_on_the_references_with_one_fixed_line(capsys):
    check_frechet_distance(frechet_distance)
    check_precision_recall(precision_recall)
    check_kid(polynomial_mmd2)
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["✓ check_frechet_distance passed (FD = 6.4111 between two samples of 6-D Gaussians)",
                     "✓ check_precision_recall passed (precision 0.853, recall 0.928 with k = 3)",
                     "✓ check_kid passed (unbiased MMD² = 1.61282 with the cubic kernel)"]


@pytest.mark.parametrize("check", [check_frechet_distance, check_precision_recall, check_kid])
def test_unfinished_exercises_are_reported_as_such(check):
    with pytest.raises(CheckError, match="is not implemented yet"):
        check(not_implemented)


@pytest.mark.parametrize("check, wrong, message", [
    (check_frechet_distance, lambda a, b: torch.ones(2), "one number"),
    (check_frechet_distance, lambda a, b: [1.0, 2.0], "should be a number"),
    (check_frechet_distance, lambda a, b: float("nan"), "NaN"),
    (check_precision_recall, lambda real, fake, k: 0.5, "pair"),
    (check_kid, lambda x, y: "0.1", "a number"),
])
def test_wrong_return_types_are_named(check, wrong, message):
    with pytest.raises(CheckError, match=message):
        check(wrong)
