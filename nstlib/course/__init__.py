"""What the lessons stand on (layer 8, the top): set-up, pictures, live views, widgets, checkers and the gallery.

* :mod:`nstlib.course.lesson` — :func:`~nstlib.course.lesson.lesson_setup`: device, weights and quick mode.
* :mod:`nstlib.course.plotting` — image grids, feature maps and loss curves.
* :mod:`nstlib.course.live` — watching a run as it goes, and recording it (:class:`~nstlib.course.live.Trace`).
* :mod:`nstlib.course.widgets` and :mod:`nstlib.course.browser` — the interactive explorers (ipywidgets).
* :mod:`nstlib.course.files` — where the course's files are (solutions/, images/, notebooks/).
* :mod:`nstlib.course.check` — the exercise checkers, ``nst.check.<exercise>(answer)``.
* :mod:`nstlib.course.claims` — :func:`~nstlib.course.claims.claim`: a lesson's claims, checked in one ✓ or ✗ line.
* :mod:`nstlib.course.gallery` — the paper's figures and DeepDream, rendered to ``gallery/``.
"""
