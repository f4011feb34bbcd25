"""Print nstlib's dependencies (and the named extras) from pyproject.toml, one per line.

The Makefile installs these into a shared environment without installing nstlib itself.
"""
import sys
import tomllib
from pathlib import Path

project = tomllib.loads(Path(__file__).resolve().parent.parent.joinpath("pyproject.toml").read_text())["project"]
deps = list(project["dependencies"])
for extra in sys.argv[1:]:
    deps += project["optional-dependencies"][extra]
print("\n".join(sorted(set(deps))))
