"""Create an AWS Organization in the emulator for `make demo`: an OU `workloads` holding the account `shop` and a
nested OU `web` holding `blog` and `old` (closed: moto lists it SUSPENDED), each account with one cloudfront_g
(https) group (moto: credentials from an assumed role act in the role's account). Prints the OU's id last.
"""
import sys

import boto3

endpoint = sys.argv[1]
keys = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
            aws_secret_access_key="testing")
org = boto3.client("organizations", **keys)
org.create_organization(FeatureSet="ALL")
root = org.list_roots()["Roots"][0]["Id"]
workloads = org.create_organizational_unit(ParentId=root, Name="workloads")["OrganizationalUnit"]["Id"]
web = org.create_organizational_unit(ParentId=workloads, Name="web")["OrganizationalUnit"]["Id"]


def account(name, parent):
    status = org.create_account(Email=f"{name}@example.com", AccountName=name)["CreateAccountStatus"]
    org.move_account(AccountId=status["AccountId"], SourceParentId=root, DestinationParentId=parent)
    creds = boto3.client("sts", **keys).assume_role(
        RoleArn=f"arn:aws:iam::{status['AccountId']}:role/demo-setup", RoleSessionName="demo")["Credentials"]
    ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                       aws_session_token=creds["SessionToken"])
    vpc = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    spec = [{"ResourceType": "security-group", "Tags": [
        {"Key": "Name", "Value": "cloudfront_g"}, {"Key": "AutoUpdate", "Value": "true"},
        {"Key": "Protocol", "Value": "https"}]}]
    ec2.create_security_group(GroupName="web", Description="org demo", VpcId=vpc, TagSpecifications=spec)
    return status["AccountId"]


shop = account("shop", workloads)
blog = account("blog", web)
old = account("old", web)
org.close_account(AccountId=old)
print(f"created OU {workloads} (workloads) with account {shop}, and nested OU {web} (web) with {blog} "
      f"and {old} (closed: SUSPENDED); one cloudfront_g group in each", file=sys.stderr)
print(workloads)
