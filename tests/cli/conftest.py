"""The `llmledger` command as a user runs it: the installed script, in a folder of its own."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

LLMLEDGER = shutil.which("llmledger", path=os.path.dirname(sys.executable))

Run = Callable[..., subprocess.CompletedProcess]


@pytest.fixture
def llmledger_cmd(tmp_path: Path) -> Run:
    """`llmledger_cmd("report", "--db", "ledger.db")`: runs the command in `tmp_path` with no
    LLMLEDGER_DATABASE_URL unless `env` gives one; text output, 300 s at most."""

    def run(*args: str, env: dict[str, str] | None = None, cwd: Path = tmp_path):
        environment = {k: v for k, v in os.environ.items() if k != "LLMLEDGER_DATABASE_URL"}
        return subprocess.run(
            [LLMLEDGER, *args],
            capture_output=True,
            text=True,
            cwd=cwd,
            env={**environment, **(env or {})},
            timeout=300,
        )

    return run
