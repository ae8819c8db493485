"""The templates' guards, checked by deploying them into moto's CloudFormation: its own reading of the intrinsic
functions and conditions, not ours. Run by `tests/templates.rs` with a fresh moto_server's endpoint.

  check_templates.py ENDPOINT

- templates/member-role.yaml and templates/organization-role.yaml: `OperatorPrincipals` refuses `*` and any
  wildcard (its AllowedPattern, read by Python's `re`: moto does not enforce patterns); with `OrganizationId`
  the trust policy requires `aws:PrincipalOrgID` (with the external id, for the member role), without it it
  does not.
- template.yaml: the Organizations listing is granted only under the condition `AccountsNameOrganization`,
  which holds exactly when `Accounts` names an OU, a root or `organization` (the condition deployed alone).

Prints one line per check; exits 1 on the first that fails.
"""
import json
import re
import sys
import time

import boto3
import yaml

ENDPOINT = sys.argv[1]
ORG = "o-abcdefghij"
FUNCTION_ROLE = "arn:aws:iam::123456789012:role/cloudfront-sg-sync-SyncFunctionRole-EXAMPLE"
OPERATOR = "arn:aws:iam::123456789012:role/network-operators"


def client(service):
    return boto3.client(service, endpoint_url=ENDPOINT, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def check(what, ok, detail=""):
    print(f"{'ok' if ok else 'FAILED'}: {what}{': ' + str(detail) if not ok and detail else ''}")
    if not ok:
        sys.exit(1)


class Loader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags, read as their long forms (`!Ref X` → {"Ref": "X"})."""


def long_form(loader, suffix, node):
    name = "Ref" if suffix == "Ref" else ("Condition" if suffix == "Condition" else f"Fn::{suffix}")
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        return {name: value.split(".", 1) if suffix == "GetAtt" else value}
    if isinstance(node, yaml.SequenceNode):
        return {name: loader.construct_sequence(node, deep=True)}
    return {name: loader.construct_mapping(node, deep=True)}


Loader.add_multi_constructor("!", long_form)


def read(path):
    text = open(path).read()
    return text, yaml.load(text, Loader=Loader)


def deploy(name, body, parameters):
    """Create stack `name` from `body`; the physical ids of its resources by logical id."""
    cfn = client("cloudformation")
    params = [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()]
    cfn.create_stack(StackName=name, TemplateBody=body, Parameters=params, Capabilities=["CAPABILITY_NAMED_IAM"])
    for _ in range(100):
        status = cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
        if status.endswith("_COMPLETE") or status.endswith("_FAILED"):
            break
        time.sleep(0.1)
    check(f"stack {name} created", status == "CREATE_COMPLETE", status)
    resources = cfn.list_stack_resources(StackName=name)["StackResourceSummaries"]
    return {r["LogicalResourceId"]: r.get("PhysicalResourceId") for r in resources}


def trust_condition(role_name):
    document = client("iam").get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    if isinstance(document, str):
        document = json.loads(document)
    return document["Statement"][0].get("Condition", {})


def role_templates():
    for path, extra in (("templates/member-role.yaml", {"ExternalId": "ext-1"}),
                        ("templates/organization-role.yaml", {})):
        _, template = read(path)
        pattern = template["Parameters"]["OperatorPrincipals"]["AllowedPattern"]
        for value in ("*", "arn:aws:iam::*:role/ops", "arn:aws:iam::123456789012:role/*", "123456789012",
                      "arn:aws:iam::123456789012:root"):
            check(f"{path}: OperatorPrincipals refuses {value!r}", re.fullmatch(pattern, value) is None)
        for value in ("", OPERATOR, "arn:aws-us-gov:iam::123456789012:role/path/ops"):
            check(f"{path}: OperatorPrincipals accepts {value!r}", re.fullmatch(pattern, value) is not None)
        # The role with its trust policy alone: moto fails on a policy list holding `AWS::NoValue`.
        (logical, role), = ((k, r) for k, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Role")
        keep = ("RoleName", "AssumeRolePolicyDocument")
        trust_only = dict(template, Resources={logical: dict(role, Properties={k: role["Properties"][k] for k in keep})})
        body = json.dumps(trust_only)
        stem = path.split("/")[1].split(".")[0]
        base = {"SyncFunctionRoleArn": FUNCTION_ROLE, "OperatorPrincipals": OPERATOR}
        for org in ("", ORG):
            for given in ({}, extra) if extra else ({},):
                name = f"{stem}-{'org' if org else 'any'}-{'ext' if given else 'noext'}"
                params = dict(base, OrganizationId=org, RoleName=name, **given)
                role = next(iter(deploy(name, body, params).values()))
                condition = trust_condition(role).get("StringEquals", {})
                expected = {}
                if given:
                    expected["sts:ExternalId"] = given["ExternalId"]
                if org:
                    expected["aws:PrincipalOrgID"] = org
                check(f"{path} with OrganizationId={org!r}, ExternalId={given.get('ExternalId', '')!r}: the "
                      f"trust policy requires {sorted(expected) or 'nothing more'}", condition == expected, condition)


def statement_condition(policies, sid):
    """The condition of the `Fn::If` of the function's Policies that holds the statement `sid`."""
    for policy in policies:
        if "Fn::If" in policy and sid in json.dumps(policy["Fn::If"][1]):
            return policy["Fn::If"][0]
    return None


def organization_grant():
    _, template = read("template.yaml")
    policies = template["Resources"]["SyncFunction"]["Properties"]["Policies"]
    check("template.yaml: ListOrganizationAccounts is granted under AccountsNameOrganization",
          statement_condition(policies, "ListOrganizationAccounts") == "AccountsNameOrganization")
    alone = {
        "Parameters": {"Accounts": {"Type": "String", "Default": ""}},
        "Conditions": {"AccountsNameOrganization": template["Conditions"]["AccountsNameOrganization"]},
        "Resources": {
            "Granted": {"Type": "AWS::SNS::Topic", "Condition": "AccountsNameOrganization"},
            "Always": {"Type": "AWS::SNS::Topic"},
        },
    }
    cases = {
        "": False,
        "111111111111": False,
        "111111111111,222222222222": False,
        "ou-ab12-cd34ef56": True,
        "111111111111,ou-ab12-cd34ef56": True,
        "r-ab12": True,
        "organization": True,
    }
    for i, (accounts, granted) in enumerate(cases.items()):
        resources = deploy(f"accounts-{i}", json.dumps(alone), {"Accounts": accounts})
        check(f"template.yaml: Accounts={accounts!r} {'is' if granted else 'is not'} granted the listing",
              ("Granted" in resources) == granted, sorted(resources))


role_templates()
organization_grant()
