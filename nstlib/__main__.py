import sys

from nstlib.cli import main

sys.exit(main())
