"""Exercise checkers for the lessons: ``nst.check.<exercise>(your_answer)`` gives kind, specific feedback.

Each checker is tested with a right and a wrong answer in ``tests/test_check_*.py``. Solutions live
in ``notebooks/solutions/`` for instructors.
"""
from nstlib.check._core import CheckResult

__all__ = ["CheckResult"]
