"""``python -m nstlib.bench``: run the benchmarks (``--help`` lists the flags; the code is in nstlib.bench.run)."""

from nstlib.bench.run import main

if __name__ == "__main__":
    main()
