"""Exercise checkers for the lessons: ``nst.check.<exercise>(your_answer)`` gives kind, specific feedback.

Each checker is tested with a right and a wrong answer in ``tests/test_check_*.py``. Reference
solutions for instructors live in ``solutions/lessonNN.py`` (not in the notebooks).
"""
from nstlib.check._core import CheckResult
from nstlib.check.basics import *  # noqa: F401,F403  lesson 01
from nstlib.check.vgg import *  # noqa: F401,F403  lesson 02
from nstlib.check.content import *  # noqa: F401,F403  lesson 03
from nstlib.check.style import *  # noqa: F401,F403  lesson 04
from nstlib.check.transfer import *  # noqa: F401,F403  lesson 05
from nstlib.check.ablation import *  # noqa: F401,F403  lesson 06
from nstlib.check.dream import *  # noqa: F401,F403  lesson 07
from nstlib.check.beyond import *  # noqa: F401,F403  lessons 08+
from nstlib.check import ablation, basics, beyond, content, dream, style, transfer, vgg

__all__ = ["CheckResult", *basics.__all__, *vgg.__all__, *content.__all__, *style.__all__, *transfer.__all__,
           *ablation.__all__, *dream.__all__, *beyond.__all__]
