"""Phoenix's own trace retention for a project (GraphQL, Phoenix 20.26).

Phoenix keeps retention policies as separate objects (a name, a cron schedule, a rule such as
"max days") that projects point at; a project without one uses the default policy (id 0,
infinite unless an admin changed it). `set_max_days` gives the project a policy of its own,
named after it, and edits that one on later calls, so other projects' policies stay as they are.
Phoenix deletes the old traces when the schedule runs (hourly here), not at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from claude_session.phoenix.client import PhoenixClient
from claude_session.phoenix.errors import PhoenixError

SCHEDULE = "0 * * * *"  # every hour, on the hour (Phoenix requires minute 0 and any day/month)

_READ = """
query($id: ID!) { node(id: $id) { ... on Project { traceRetentionPolicy {
  id name cronExpression
  rule { __typename
    ... on TraceRetentionRuleMaxDays { maxDays }
    ... on TraceRetentionRuleMaxCount { maxCount }
    ... on TraceRetentionRuleMaxDaysOrCount { maxDays maxCount } } } } } }"""
_CREATE = """
mutation($input: CreateProjectTraceRetentionPolicyInput!) {
  createProjectTraceRetentionPolicy(input: $input) { node { id } } }"""
_PATCH = """
mutation($input: PatchProjectTraceRetentionPolicyInput!) {
  patchProjectTraceRetentionPolicy(input: $input) { node { id } } }"""


@dataclass(frozen=True)
class Retention:
    policy: str  # the policy's name
    max_days: float | None  # None: no age limit
    max_count: int | None
    schedule: str
    own: bool  # the project's own policy (set by `retention`), not a shared one

    def describe(self) -> str:
        limits = []
        if self.max_days:
            limits.append(f"traces older than {self.max_days:g} days")
        if self.max_count:
            limits.append(f"beyond the newest {self.max_count:,} traces")
        what = "deletes " + " or ".join(limits) if limits else "keeps every trace"
        return f"{what} (policy {self.policy!r}, schedule '{self.schedule}')"


def policy_name(project: str) -> str:
    return f"claude-session: {project}"


def read_retention(client: PhoenixClient, project_id: str, project: str) -> Retention:
    node = client.graphql(_READ, {"id": project_id})["node"]
    policy: dict[str, Any] = node["traceRetentionPolicy"]
    rule = policy.get("rule") or {}
    days = rule.get("maxDays")
    return Retention(
        policy=str(policy["name"]),
        max_days=float(days) if days else None,
        max_count=rule.get("maxCount") or None,
        schedule=str(policy["cronExpression"]),
        own=policy["name"] == policy_name(project),
    )


def set_max_days(client: PhoenixClient, project: str, days: float) -> Retention:
    """Make Phoenix delete the project's traces older than `days` days; the policy as Phoenix now holds it."""
    if not days > 0:
        raise PhoenixError(f"a retention of {days:g} days would delete every trace; give a positive number")
    project_id = client.project_id(project)
    if project_id is None:
        raise PhoenixError(
            f"Phoenix at {client.base_url} has no project {project!r}: no spans were sent to it yet"
        )
    rule = {"maxDays": {"maxDays": days}}
    current = client.graphql(_READ, {"id": project_id})["node"]["traceRetentionPolicy"]
    if current["name"] == policy_name(project):
        client.graphql(_PATCH, {"input": {"id": current["id"], "rule": rule, "cronExpression": SCHEDULE}})
    else:
        new = {
            "name": policy_name(project),
            "cronExpression": SCHEDULE,
            "rule": rule,
            "addProjects": [project_id],
        }
        client.graphql(_CREATE, {"input": new})
    return read_retention(client, project_id, project)
