"""The report suite (test_report.py) once more, with Phoenix on a private PostgreSQL cluster.

The same test functions and module fixtures, imported; only `live_stack` differs (see
on_postgres.py), so each figure is checked against what Phoenix computes on PostgreSQL too.
"""

from __future__ import annotations

from tests.integration.on_postgres import live_stack_on_postgres, test_this_run_is_on_the_private_cluster  # noqa: F401
from tests.integration.test_report import *  # noqa: F403 - the suite itself, run again
from tests.integration.test_report import _the_test_stacks_environment  # noqa: F401 - autouse
