"""Benchmarks, as ratios measured in one run: ``python -m nstlib.bench`` (see BENCHMARKS.md).

1. per-evaluation time of :func:`nstlib.stylize`, in fp32 and bf16, against this machine's limit:
   VGG19's convolution FLOPs to relu5_1 (forward and input-gradient backward) over the best 3x3
   convolution rate measured in the same run in that precision (oneDNN, channels_last); sgemm is
   printed as a reference line, and so is a baseline written as the *Algorithmic Art* lecture slides describe it (loss modules
   inserted as layers into a copied VGG whose weights are not frozen);
2. time to a good picture on trained features (HED's VGG-16, Tübingen x The Scream at 256 and 512
   px): stylize with its defaults against the slides' design with 300 L-BFGS evaluations, judged by
   :mod:`nstlib.bench.quality` (measures the loss does not see);
3. batching: variants optimised as one Adam batch against one after another; the channels_last
   layout against NCHW, and the one-matmul Gram backward against autograd's;
4. memory: the estimate of :mod:`nstlib.optim.memory` against what was measured;
5. the course: every lesson notebook executed as a learner runs it on this machine (laptop sizes on a
   CPU, HED's weights), or in quick mode with ``--notebooks-mode quick``;
6. on a GPU (``--device cuda``): 512 px x 500 steps, precision, channels_last, torch.compile.

Only ratios and seconds are printed; nothing here asserts on time. The modules, one concept each:

* :mod:`nstlib.bench.limits` — the work of one evaluation (FLOPs) and this machine's best rates (1);
* :mod:`nstlib.bench.baseline` — the *Algorithmic Art* slides' baseline and the per-evaluation timings (1);
* :mod:`nstlib.bench.quality` and :mod:`nstlib.bench.time_to_quality` — judging a picture, and the time to a
  good one (2);
* :mod:`nstlib.bench.choices` — batching, channels_last and the Gram backward against their alternatives (3);
* :mod:`nstlib.bench.memory` — measured peak memory (4); :mod:`nstlib.bench.notebooks` — the lessons (5);
  :mod:`nstlib.bench.gpu` — the GPU suite (6);
* :mod:`nstlib.bench.run` — the report and the command line (``python -m nstlib.bench --help``).

The pictures and notebooks come from the course folder (:func:`nstlib.course.files.course_folder`).

    python -m nstlib.bench                   # the full CPU run (about 45 minutes on two cores)
    python -m nstlib.bench --quick           # a short smoke run (tiny sizes, few steps)
    python -m nstlib.bench --sizes 128 256 --skip-notebooks --json bench.json
"""
