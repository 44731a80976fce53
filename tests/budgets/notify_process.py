"""A second process for the notify tests: spends `n` quarter-dollar calls for tenant acme
against the ledger at argv[1], then prints the events its on_budget got, one JSON per line."""

from __future__ import annotations

import json
import sys

import llmledger
from budgets.test_notify import BUDGET, spend

events = []
llmledger.configure(sys.argv[1], budgets=[BUDGET], on_budget=events.append)
spend(int(sys.argv[2]))
llmledger.shutdown()
for event in events:
    print(json.dumps({"threshold": str(event.threshold), "spent": str(event.spent)}))
