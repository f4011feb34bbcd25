"""Exercise checkers for the lessons, Kaggle Learn's way: ``nst.check.<exercise>(your_answer)`` checks and gives
kind, specific feedback; ``nst.check.<exercise>.hint()`` nudges; ``nst.check.<exercise>.solution()`` shows the
model answer. ``nst.check.exercises(lesson)`` lists a lesson's exercises.

Each checker is tested with a right, a wrong and a stub answer in ``tests/test_check_*.py`` and
``tests/test_exercises.py``. Model answers for instructors live in ``solutions/lessonNN.py`` (not in the notebooks).
"""

from nstlib.course.check import (
    ablation,
    basics,
    beyond,
    content,
    dream,
    feedforward,
    statistics,
    style,
    transfer,
    vgg,
    video,
)
from nstlib.course.check._core import CheckResult, Exercise, exercises
from nstlib.course.check.ablation import *  # noqa: F401,F403  lesson 06
from nstlib.course.check.basics import *  # noqa: F401,F403  lesson 01
from nstlib.course.check.beyond import *  # noqa: F401,F403  lesson 08
from nstlib.course.check.content import *  # noqa: F401,F403  lesson 03
from nstlib.course.check.dream import *  # noqa: F401,F403  lesson 07
from nstlib.course.check.feedforward import *  # noqa: F401,F403  lesson 10
from nstlib.course.check.statistics import *  # noqa: F401,F403  lesson 09
from nstlib.course.check.style import *  # noqa: F401,F403  lesson 04
from nstlib.course.check.transfer import *  # noqa: F401,F403  lesson 05
from nstlib.course.check.vgg import *  # noqa: F401,F403  lesson 02
from nstlib.course.check.video import *  # noqa: F401,F403  lesson 11

__all__ = [
    "CheckResult",
    "Exercise",
    "exercises",
    *basics.__all__,
    *vgg.__all__,
    *content.__all__,
    *style.__all__,
    *transfer.__all__,
    *ablation.__all__,
    *dream.__all__,
    *beyond.__all__,
    *statistics.__all__,
    *feedforward.__all__,
    *video.__all__,
]
