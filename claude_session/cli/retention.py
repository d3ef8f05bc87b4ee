"""`claude-session retention --days N`: Phoenix's own retention policy for the project."""

from __future__ import annotations

import argparse
import math

from claude_session.cli.context import Context, phoenix_target
from claude_session.cli.parser import Parser
from claude_session.phoenix.client import PhoenixClient
from claude_session.phoenix.retention import SCHEDULE, set_max_days


def _days(text: str) -> float:
    try:
        days = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days") from None
    if not math.isfinite(days) or days <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a positive number of days (e.g. 90)")
    return days


def build_parser() -> Parser:
    parser = Parser(
        prog="claude-session retention",
        description="Set how long Phoenix keeps the project's traces: a retention policy of the "
        f"project's own (schedule '{SCHEDULE}': Phoenix deletes older traces every hour). "
        "`claude-session status` shows the policy in force.",
    )
    parser.add_argument("--days", type=_days, required=True, metavar="N", help="keep N days of traces")
    parser.add_argument("--phoenix-url", metavar="URL", help="default: the running stack's Phoenix")
    parser.add_argument("--project", help="default: the running stack's project (claude-code)")
    return parser


def main(argv: list[str], ctx: Context) -> int:
    args = build_parser().parse_args(argv)
    where = phoenix_target(args.phoenix_url, args.project, ctx)
    client = PhoenixClient(where.url, api_key=where.api_key)
    policy = set_max_days(client, where.project, args.days)
    print(f"Phoenix at {where.url}, project {where.project!r}: {policy.describe()}")
    return 0
