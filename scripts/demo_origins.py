"""Create example CloudFront origins in the emulator for the audit part of `make demo`.

In the demo's VPC: an ALB carrying the whole cloudfront_g set (https), behind a distribution that connects over
HTTPS only, with TLSv1.2 and a secret header (every check passes); and an ALB carrying 3 of the set's 5 groups
plus a group open to the world on 443, behind a header-less distribution (the audit fails it, naming the
missing groups and the open rule).
"""
import sys

import boto3

endpoint = sys.argv[1]
kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
ec2, elb, cloudfront = boto3.client("ec2", **kw), boto3.client("elbv2", **kw), boto3.client("cloudfront", **kw)

global_groups = sorted(
    (g["GroupId"], g["VpcId"])
    for g in ec2.describe_security_groups(Filters=[{"Name": "tag:Name", "Values": ["cloudfront_g"]}])["SecurityGroups"]
)
vpc = global_groups[0][1]
ids = [g for g, v in global_groups if v == vpc]
subnets = [
    ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"]
    for cidr, zone in [("10.0.2.0/24", "us-east-1a"), ("10.0.3.0/24", "us-east-1b")]
]
open_group = ec2.create_security_group(GroupName="legacy-web-open", Description="legacy", VpcId=vpc)["GroupId"]
ec2.authorize_security_group_ingress(
    GroupId=open_group,
    IpPermissions=[{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
)


def alb(name, groups):
    out = elb.create_load_balancer(Name=name, Subnets=subnets, SecurityGroups=groups, Type="application")
    return out["LoadBalancers"][0]["DNSName"]


def distribution(reference, domain, headers):
    origin = {
        "Id": "web", "DomainName": domain,
        "CustomHeaders": {"Quantity": len(headers), "Items": headers},
        "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "https-only",
                               "OriginSslProtocols": {"Quantity": 1, "Items": ["TLSv1.2"]}},
    }
    config = {
        "CallerReference": reference, "Comment": reference, "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [origin]},
        "DefaultCacheBehavior": {"TargetOriginId": "web", "ViewerProtocolPolicy": "redirect-to-https",
                                 "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6"},
    }
    return cloudfront.create_distribution(DistributionConfig=config)["Distribution"]["Id"]


secret = [{"HeaderName": "X-Origin-Verify", "HeaderValue": "9f86d081884c7d659a2feaa0c55ad015"}]
good = distribution("demo-web", alb("demo-web", ids), secret)
legacy = distribution("demo-legacy", alb("demo-legacy", ids[:3] + [open_group]), [])
print(f"created distribution {good} -> ALB demo-web (the whole cloudfront_g set) and distribution {legacy} -> "
      f"ALB demo-legacy (3 of the 5 cloudfront_g groups, and {open_group} open to 0.0.0.0/0 on 443)")
