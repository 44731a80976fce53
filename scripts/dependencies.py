"""Prints the package's dependencies and its `dev` extra, one requirement a line, for pip.

`make test-latest` installs them with `pip install --upgrade` to test against the newest
releases that pyproject.toml allows; `make test` installs requirements-lock.txt instead.
"""

import tomllib
from pathlib import Path

project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
for requirement in [*project["dependencies"], *project["optional-dependencies"]["dev"]]:
    print(requirement)
