"""The templates' facts RELIABILITY.md states, read from the templates themselves (cfn-lint's loader, which keeps
CloudFormation's intrinsic functions): one `ok: <fact>` line per fact that holds; exit 1 at the first that does
not. Run by tests/templates.rs.

    .venv/bin/python scripts/template_facts.py
"""
import pathlib
import sys

from cfnlint.decode import cfn_yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
OPTED_IN = {"StringEquals": {"aws:ResourceTag/AutoUpdate": "true",
                             "aws:ResourceTag/Name": ["cloudfront_g", "cloudfront_r"]}}


def fact(name, holds):
    if not holds:
        print(f"FAILED: {name}")
        sys.exit(1)
    print(f"ok: {name}")


def statements(policies):
    """Every statement of a function's policies, through `Fn::If` (both branches)."""
    stack = list(policies)
    while stack:
        item = stack.pop()
        if isinstance(item, dict) and "Fn::If" in item:
            stack.extend(item["Fn::If"][1:])
        elif isinstance(item, dict) and "Statement" in item:
            stack.extend(item["Statement"])
        elif isinstance(item, dict) and "Effect" in item:
            yield item


def main():
    template = cfn_yaml.load(str(ROOT / "template.yaml"))
    member = cfn_yaml.load(str(ROOT / "templates/member-role.yaml"))
    params, resources = template["Parameters"], template["Resources"]
    by_sid = {s.get("Sid"): s for s in statements(resources["SyncFunction"]["Properties"]["Policies"])}

    fact("ReservedConcurrency defaults to -1 (none reserved)", params["ReservedConcurrency"]["Default"] == -1)
    fact("Regions refuses empty items", params["Regions"]["AllowedPattern"] == "^([a-z0-9-]+(,[a-z0-9-]+)*)?$")
    for sid in ("ChangeOnlyGroupsOptedIn", "ChangeOnlyListsOptedIn", "ChangeOnlyIpSetsOptedIn"):
        fact(f"{sid} needs AutoUpdate=true and Name cloudfront_g|cloudfront_r", by_sid[sid]["Condition"] == OPTED_IN)
    tag_keys = by_sid["RecordAppliedSyncToken"]["Condition"]["ForAllValues:StringEquals"]["aws:TagKeys"]
    fact("CreateTags only for the key cloudfront-sg-sync:synctoken", tag_keys == ["cloudfront-sg-sync:synctoken"])
    assume = by_sid["AssumeMemberRoles"]["Condition"]["Fn::If"]
    fact("OrganizationId adds aws:ResourceOrgID to sts:AssumeRole",
         assume[0] == "OrganizationGiven" and assume[1] == {"StringEquals": {"aws:ResourceOrgID": {"Ref": "OrganizationId"}}})
    fact("AssumeRoleExternalId is NoEcho", params["AssumeRoleExternalId"].get("NoEcho") is True)
    fact("the member role's ExternalId is NoEcho", member["Parameters"]["ExternalId"].get("NoEcho") is True)
    fact("PermissionsBoundary on both templates",
         "PermissionsBoundary" in params and "PermissionsBoundary" in member["Parameters"])
    regions = template["Rules"]["DefaultRegionOnly"]["Assertions"][0]["Assert"]["Fn::Contains"][0]
    fact("the stack's region must be one of the 17 default regions", len(regions) == 17 and "us-east-1" in regions)
    heartbeat = resources["HeartbeatAlarm"]["Properties"]
    fact("HeartbeatAlarm: successful invocations per hour <= 0 for 26 hours, missing data breaching",
         heartbeat["Metrics"][0]["Expression"] == "FILL(invocations, 0) - FILL(errors, 0)"
         and heartbeat["EvaluationPeriods"] == 26 and heartbeat["Threshold"] == 0
         and heartbeat["ComparisonOperator"] == "LessThanOrEqualToThreshold"
         and heartbeat["TreatMissingData"] == "breaching")
    failed = resources["FailedInvocationsAlarm"]["Properties"]
    fact("FailedInvocationsAlarm: the queue's visible messages >= 1",
         failed["MetricName"] == "ApproximateNumberOfMessagesVisible" and failed["Threshold"] == 1
         and failed["ComparisonOperator"] == "GreaterThanOrEqualToThreshold")


if __name__ == "__main__":
    main()
