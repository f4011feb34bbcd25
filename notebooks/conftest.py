"""pytest's set-up for the lessons (``pytest notebooks --nbval-lax``, as ``make test`` runs them).

Each lesson checks its claims with ``nst.claim``, which prints a ✓ or ✗ line and carries on, so that a learner
whose own images give other numbers is never stopped. Under pytest a ✗ must fail the run: strict mode is switched
on here, before nbval starts the kernels (they inherit this environment), and a claim that does not hold raises
``nst.ClaimError`` in its cell.
"""

import os

os.environ["NSTLIB_STRICT_CLAIMS"] = "1"
