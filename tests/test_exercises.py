"""Every lesson's exercises: two to five graded ones at the end, after a lesson's core exercises (the pieces it then
runs); each with a hint and a model answer; each checker passes the model answer, says "Not yet" and the hint to a
stub, and names the mistake in at least one wrong answer.

The wrong answers live beside each lesson's other checker tests, as ``WRONG_ANSWERS = {name: [(answer, phrase), …]}``
in ``tests/test_check_*.py``; this file makes sure every checked exercise has some.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import json
import math
import re
from pathlib import Path

import pytest
import torch

import nstlib as nst
from nstlib.course.check._core import LEVELS, model_answer

ROOT = Path(__file__).resolve().parent.parent
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ALL = nst.check.exercises()
CHECKED = [ex for ex in ALL if ex.checked]
HEADING = re.compile(r"^### Exercise (\d+) — (.+) \(([^()]+)\)$", re.M)


def _solutions(lesson: int):
    spec = importlib.util.spec_from_file_location(
        f"lesson{lesson:02d}_model", ROOT / "solutions" / f"lesson{lesson:02d}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _wrong_answers() -> dict[str, list]:
    table: dict[str, list] = {}
    for path in sorted((ROOT / "tests").glob("test_check_*.py")):
        module = _load_test_module(path)
        for name, answers in getattr(module, "WRONG_ANSWERS", {}).items():
            table.setdefault(name, []).extend(answers)
    return table


def _load_test_module(path: Path):
    spec = importlib.util.spec_from_file_location(f"_wrong_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _stubs(answer: object) -> list[object]:
    """What a learner's untouched cell hands to the checker: the stub function (or class), or a placeholder value."""
    if inspect.isfunction(answer):

        def stub(*args, **kwargs):
            raise NotImplementedError  # your code here

        return [stub]
    if inspect.isclass(answer):

        class Stub(answer.__mro__[-2] if len(answer.__mro__) > 1 else object):  # the learner's class, body not written
            def __init__(self, *args, **kwargs):
                raise NotImplementedError

        return [Stub]
    return [..., None, ""]


def _notebook(lesson: int) -> list[dict]:
    (path,) = [p for p in LESSONS if int(p.name[:2]) == lesson]
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _core_numbers(lesson: int) -> list[int]:
    """The numbers of the lesson's core exercises: those whose heading comes before its "## Exercises" section.

    A core exercise is a central piece the learner writes inside the lesson (a loss, the optimiser's closure, a
    DeepDream step), which the lesson then runs; the exercises at the end practise and extend."""
    cells = _notebook(lesson)
    texts = ["".join(c["source"]) for c in cells]
    section = [i for i, t in enumerate(texts) if cells[i]["cell_type"] == "markdown" and t.startswith("## Exercises")]
    assert len(section) == 1, f"lesson {lesson} should have one '## Exercises' section"
    return [
        int(m[1])
        for i, t in enumerate(texts[: section[0]])
        if cells[i]["cell_type"] == "markdown"
        for m in HEADING.finditer(t)
    ]


@pytest.mark.parametrize("lesson", range(1, 12))
def test_each_lesson_has_two_to_five_graded_exercises_after_its_core_ones(lesson: int) -> None:
    found = nst.check.exercises(lesson)
    assert [ex.number for ex in found] == list(range(1, len(found) + 1))
    core = _core_numbers(lesson)
    assert core == list(range(1, len(core) + 1)), f"the core exercises {core} come first, numbered from 1"
    inside, end = found[: len(core)], found[len(core) :]
    assert len(found) >= 3, [repr(ex) for ex in found]
    assert 2 <= len(end) <= 5, [repr(ex) for ex in end]  # LESSONS.md: two to five exercises at the end
    ranks = [LEVELS.index(ex.level) for ex in end]
    assert ranks == sorted(ranks), "the exercises at the end go from one line to an experiment"
    assert ranks[0] <= LEVELS.index("a function") and end[-1].level == "design an experiment", ranks
    code = "\n".join("".join(c["source"]) for c in _notebook(lesson) if c["cell_type"] == "code")
    for ex in inside:  # a piece of the algorithm, which the lesson runs once it passes
        assert LEVELS.index(ex.level) <= LEVELS.index("a function"), repr(ex)
        assert ex.checked and f"nst.check.{ex.name}.works(" in code, f"the lesson never runs {ex.name} (.works)"
    assert sum(not ex.checked for ex in found) <= 1, "at most one exercise per lesson without an automatic check"


@pytest.mark.parametrize("ex", ALL, ids=lambda ex: ex.name)
def test_every_exercise_has_a_hint_and_a_model_answer(ex) -> None:
    assert len(str(ex.hint())) > 40, ex.hint()
    source = model_answer(ex.lesson, ex.name)
    assert source is not None, f"no model answer named {ex.name} in solutions/lesson{ex.lesson:02d}.py"
    assert ex.solution().code and source in str(ex.solution())
    if not ex.checked:  # an open question's model answer is an argument in words, with the experiment's code
        assert len(source) > 400, source
        assert not ex(...).ok and "solution()" in str(ex(...))


@pytest.mark.parametrize("ex", CHECKED, ids=lambda ex: ex.name)
def test_model_answer_passes(ex) -> None:
    result = ex(getattr(_solutions(ex.lesson), ex.name))
    assert result.ok, str(result)
    assert str(result).startswith("✅")


@pytest.mark.parametrize("ex", CHECKED, ids=lambda ex: ex.name)
def test_stub_gets_not_yet_and_the_hint(ex) -> None:
    for stub in _stubs(getattr(_solutions(ex.lesson), ex.name)):
        result = ex(stub)
        text = str(result)
        assert not result.ok and text.startswith("❌ Not yet.") and "not answered yet" in text, (stub, text)
        assert ex._hint in text and "NotImplementedError" not in text.replace("raise NotImplementedError", ""), text


@pytest.mark.parametrize("ex", CHECKED, ids=lambda ex: ex.name)
def test_wrong_answers_are_diagnosed(ex) -> None:
    answers = _wrong_answers().get(ex.name, [])
    assert answers, f"tests/test_check_*.py has no WRONG_ANSWERS for {ex.name}"
    for answer, phrase in answers:
        result = ex(answer)
        assert not result.ok, (phrase, str(result))
        assert phrase in str(result), (phrase, str(result))
        assert "not answered yet" not in str(result), "a wrong answer is not a stub"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_notebook_exercises_match_the_registry(path: Path) -> None:
    lesson = int(path.name[:2])
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    texts = ["".join(cell["source"]) for cell in cells]
    headings = [
        (i, m) for i, text in enumerate(texts) if cells[i]["cell_type"] == "markdown" for m in HEADING.finditer(text)
    ]
    found = nst.check.exercises(lesson)
    assert [(int(m[1]), m[2], m[3]) for _, m in headings] == [(ex.number, ex.title, ex.level) for ex in found]
    for (i, _), ex, following in zip(headings, found, [h[0] for h in headings[1:]] + [len(cells)]):
        body = "\n".join(texts[i + 1 : following])
        assert f"nst.check.{ex.name}(" in body, f"exercise {ex.number}'s cells never call nst.check.{ex.name}"
    for i, text in enumerate(texts):
        assert not ("### Exercise" in text and "## Summary" in text), (
            f"cell {i}: an exercise and the summary share a cell"
        )


def test_a_stub_is_not_yet_even_inside_a_checkers_own_try(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nstlib.course.check import _core

    def greedy_checker(fn):  # catches everything the learner's code raises, as some checkers must
        try:
            fn(1)
        except Exception as exc:
            return _core.failed(f"raised {type(exc).__name__}")
        return _core.passed("fine")

    ex = _core.Exercise(
        greedy_checker,
        name="demo",
        lesson=99,
        number=1,
        title="demo",
        level="one line",
        hint="add one to x, then return it.",
    )

    def stub(x):
        raise NotImplementedError

    class StubNet:  # a class stub: its method raises, reached through call_safely
        def __call__(self, x):
            raise NotImplementedError

    assert "not answered yet" in str(ex(stub)) and "add one" in str(ex(stub))
    assert "not answered yet" in str(
        _core.Exercise(
            lambda net: _core.call_safely(net, 1)[1],
            name="demo2",
            lesson=99,
            number=2,
            title="t",
            level="one line",
            hint="h" * 50,
        )(StubNet())
    )
    assert "raised ValueError" in str(ex(lambda x: int("x")))  # a real error is still reported as one
    assert ex(lambda x: x + 1).ok
    wrong = _core.Exercise(
        lambda fn: _core.failed("wrong"),
        name="demo3",
        lesson=99,
        number=3,
        title="t",
        level="one line",
        hint="the exercise's own hint",
    )(lambda x: x)
    assert "Hint: the exercise's own hint" in str(wrong)  # a failure without its own hint gets the exercise's


def test_model_answer_shows_the_comments_above_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nstlib.course.check import _core

    (tmp_path / "lesson99.py").write_text(
        "import torch\n\n\n# why: the ½ cancels the 2\n# (eq. 2)\n"
        "def grad(F, P):\n    return F - P\n\n\nanswer = 'relu1_2'  # before pooling\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(_core, "SOLUTIONS", tmp_path)
    assert _core.model_answer(99, "grad") == "# why: the ½ cancels the 2\n# (eq. 2)\ndef grad(F, P):\n    return F - P"
    assert _core.model_answer(99, "answer") == "answer = 'relu1_2'  # before pooling"
    assert _core.model_answer(99, "missing") is None and _core.model_answer(98, "grad") is None
    ex = _core.Exercise(None, name="missing", lesson=98, number=1, title="t", level="design an experiment", hint="h")
    assert "solutions/lesson98.py" in str(ex.solution()) and not ex(...).ok


def test_mismatch_keeps_closes_diagnosis() -> None:
    import torch

    from nstlib.course.check._core import mismatch

    want = torch.ones(2, 3)
    assert "shape (3, 2)" in mismatch(torch.ones(3, 2), want, "the result").message
    assert "2 × the expected" in mismatch(2 * want, want, "the result").message
    assert not mismatch(want + 1e-5, want, "the result").ok  # called only when already known to be wrong


# ----------------------------------------------------------------------------------------------------------------
# Rounding guard: MKL and oneDNN round differently on AMD AVX2, AMD AVX-512 and Intel AMX, so a quantity that is
# mathematically 0, or two results from different kernels, never come out the same on every CPU. A checker must give
# the same verdict and the same diagnosis to an answer that differs from the one the tests feed it by such rounding:
# a relative 1e-12 in float64, 1e-6 in float32, both relative to the scale of what the answer returns (the largest
# magnitude in the tensor, or among the numbers returned together), so a value that should be 0 moves too.
_EPS = {torch.float64: 1e-12, torch.float32: 1e-6}


def _scale(values: list[object]) -> float:
    floats = [abs(v) for v in values if isinstance(v, float) and math.isfinite(v)]
    return max(floats, default=0.0)


def _jitter(value: object, rng: torch.Generator, scale: float = 0.0) -> object:
    """``value`` as another CPU might have computed it; ints, bools, strings and sets are exact and stay as they are."""
    if isinstance(value, torch.Tensor):
        if value.dtype not in _EPS or value.numel() == 0:
            return value
        finite = value.detach()[torch.isfinite(value.detach())]
        size = float(finite.abs().max()) if finite.numel() else 0.0
        noise = (torch.rand(value.shape, generator=rng, dtype=torch.float64) * 2 - 1) * _EPS[value.dtype] * size
        return value + noise.to(value.dtype)
    if isinstance(value, float) and math.isfinite(value):  # a Python float is a float64
        size = max(abs(value), scale)
        return value + (float(torch.rand((), generator=rng, dtype=torch.float64)) * 2 - 1) * 1e-12 * size
    if isinstance(value, (tuple, list)) and not hasattr(value, "_fields"):
        return type(value)(_jitter(v, rng, _scale(list(value))) for v in value)
    if isinstance(value, dict):
        return {k: _jitter(v, rng, _scale(list(value.values()))) for k, v in value.items()}
    return value


def _jittered(answer: object, seed: int) -> object:
    """The answer, with every number it gives perturbed by rounding: a function's results, or the value itself."""
    rng = torch.Generator().manual_seed(seed)
    if inspect.isfunction(answer):

        @functools.wraps(answer)
        def perturbed(*args, **kwargs):
            return _jitter(answer(*args, **kwargs), rng)

        return perturbed
    return _jitter(answer, rng)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("ex", CHECKED, ids=lambda ex: ex.name)
def test_verdicts_survive_rounding(ex, seed: int) -> None:
    right = ex(_jittered(getattr(_solutions(ex.lesson), ex.name), seed))
    assert right.ok, f"the model answer, rounded as another CPU might, fails: {right}"
    for answer, phrase in _wrong_answers().get(ex.name, []):
        result = ex(_jittered(answer, seed))
        assert not result.ok and phrase in str(result), (phrase, str(result))


def test_jitter_moves_a_zero_relative_to_its_neighbours() -> None:
    rng = torch.Generator().manual_seed(0)
    floor, gap = _jitter((0.0, 5.0), rng)
    assert floor != 0.0 and abs(floor) <= 5e-12 and gap != 5.0
    t = torch.tensor([0.0, 1000.0])
    moved = _jitter(t, rng)
    assert moved[0] != 0 and abs(float(moved[0])) <= 1e-3 and moved.dtype == t.dtype
    assert _jitter((3, "relu1_2", True), rng) == (3, "relu1_2", True)
