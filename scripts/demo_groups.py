"""Create example tagged security groups in the EC2 emulator for `make demo`.

A VPC with a cloudfront_g set (5 groups, https) and a cloudfront_r set (4 groups, http), one hand-made office
rule that the sync must leave alone, one untagged group it must not touch, and a load balancer's network
interface that carries only 4 of the cloudfront_g set's 5 groups (the sync reports it as partly attached), and
a GLOBAL IPv4 prefix list (MaxEntries 150) holding one hand-made entry, beside an untagged list, and a
REGIONAL WAF IP set (GLOBAL, IPv4) holding a stale address, beside an untagged IP set.
Then, for the many-accounts part of the demo, a cloudfront_g set of 5 groups in each of two member accounts
(moto: credentials from an assumed role act in the role's account).
"""
import sys

import boto3

endpoint = sys.argv[1]
ec2 = boto3.client(
    "ec2",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id="testing",
    aws_secret_access_key="testing",
)
vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]


def group(name, tags):
    spec = [{"ResourceType": "security-group", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
    return ec2.create_security_group(
        GroupName=name, Description=name, VpcId=vpc, TagSpecifications=spec
    )["GroupId"]


# At 30 rules per IP version (moto counts both versions against 60): 5 groups hold the 118 GLOBAL IPv4 ranges
# with headroom, 4 the 93 regional ones.
for i in range(5):
    group(f"cloudfront-global-{i}", {"Name": "cloudfront_g", "AutoUpdate": "true", "Protocol": "https"})
for i in range(4):
    group(f"cloudfront-regional-{i}", {"Name": "cloudfront_r", "AutoUpdate": "true", "Protocol": "http"})
# A near miss: AutoUpdate must be exactly "true". Left alone, and named in every run's summary.
group("cloudfront-near-miss", {"Name": "cloudfront_r", "AutoUpdate": "True", "Protocol": "http"})
first = ec2.describe_security_groups(
    Filters=[{"Name": "tag:Name", "Values": ["cloudfront_g"]}]
)["SecurityGroups"][0]["GroupId"]
ec2.authorize_security_group_ingress(
    GroupId=first,
    IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                    "IpRanges": [{"CidrIp": "203.0.113.0/24", "Description": "office ssh"}]}],
)
group("app-untagged", {"Team": "web"})
global_groups = sorted(
    g["GroupId"]
    for g in ec2.describe_security_groups(Filters=[{"Name": "tag:Name", "Values": ["cloudfront_g"]}])["SecurityGroups"]
)
subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
eni = ec2.create_network_interface(
    SubnetId=subnet, Groups=global_groups[:4], Description="ELB app/demo-web/50dc6c495c0c9188"
)["NetworkInterface"]["NetworkInterfaceId"]
print(f"created {vpc}: 5 cloudfront_g (https) + 4 cloudfront_r (http) groups, 1 untagged; office rule on {first}; "
      f"load balancer interface {eni} without {global_groups[4]}")


def prefix_list(name, tags, entries):
    spec = [{"ResourceType": "prefix-list", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
    return ec2.create_managed_prefix_list(
        PrefixListName=name, AddressFamily="IPv4", MaxEntries=150, Entries=entries, TagSpecifications=spec
    )["PrefixList"]["PrefixListId"]


tagged_list = prefix_list(
    "cloudfront-global-ipv4", {"Name": "cloudfront_g", "AutoUpdate": "true"},
    [{"Cidr": "198.51.100.0/24", "Description": "office"}],
)
prefix_list("office-only", {"Name": "office"}, [{"Cidr": "192.0.2.0/24", "Description": "office"}])
print(f"created prefix list {tagged_list} (cloudfront_g, IPv4, hand-made 198.51.100.0/24) and an untagged one")

waf = boto3.client(
    "wafv2", endpoint_url=endpoint, region_name="us-east-1",
    aws_access_key_id="testing", aws_secret_access_key="testing",
)
for name, tags, addresses in [
    ("cloudfront-global-ipv4", {"Name": "cloudfront_g", "AutoUpdate": "true"}, ["203.0.113.0/24"]),
    ("office-only", {"Name": "office"}, ["192.0.2.0/24"]),
]:
    waf.create_ip_set(
        Name=name, Scope="REGIONAL", IPAddressVersion="IPV4", Addresses=addresses,
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )
print("created WAF IP set cloudfront-global-ipv4 (REGIONAL, cloudfront_g, IPv4, stale 203.0.113.0/24) "
      "and an untagged one")


for account in ("111111111111", "222222222222"):
    creds = boto3.client(
        "sts", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    ).assume_role(RoleArn=f"arn:aws:iam::{account}:role/demo-setup", RoleSessionName="demo")["Credentials"]
    member = boto3.client(
        "ec2", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    member_vpc = member.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    for i in range(5):
        spec = [{"ResourceType": "security-group", "Tags": [
            {"Key": "Name", "Value": "cloudfront_g"}, {"Key": "AutoUpdate", "Value": "true"},
            {"Key": "Protocol", "Value": "https"}]}]
        member.create_security_group(
            GroupName=f"cloudfront-global-{i}", Description="member set", VpcId=member_vpc, TagSpecifications=spec
        )
    print(f"created in member account {account}: {member_vpc} with 5 cloudfront_g (https) groups")
