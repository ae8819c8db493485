"""Create example CloudFront origins in the emulator for the audit part of `make demo`.

In the demo's VPC, four ALBs carrying the whole cloudfront_g set (https), each behind a distribution that
connects over HTTPS only, with TLSv1.2 and a secret header, and each with an HTTPS listener on 443:
- demo-web: a listener rule forwards only requests carrying the value the distribution sends (every check
  passes);
- demo-waf: the listener forwards everything, and a web ACL lets through only that value (passes);
- demo-unchecked: the listener forwards everything, nothing checks the header (origin-proof warns);
- demo-stale: the rule requires a value the distribution does not send (origin-proof fails: CloudFront itself
  is refused, a rotation left half done).
And an ALB carrying 3 of the set's 5 groups plus a group open to the world on 443, behind a header-less
distribution (the audit fails it, naming the missing groups and the open rule).
"""
import sys

import boto3

endpoint = sys.argv[1]
kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
ec2, elb, cloudfront = boto3.client("ec2", **kw), boto3.client("elbv2", **kw), boto3.client("cloudfront", **kw)
waf = boto3.client("wafv2", **kw)

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


def arn_of(dns):
    return next(lb["LoadBalancerArn"] for lb in elb.describe_load_balancers()["LoadBalancers"] if lb["DNSName"] == dns)


def listener(dns, forward_all, required=None):
    """An HTTPS listener on 443 (an IAM server certificate: moto checks that ACM ones exist): it forwards
    everything, or answers 403 unless a rule finds `required` in X-Origin-Verify."""
    arn = arn_of(dns)
    group = elb.create_target_group(Name=f"tg-{arn[-8:]}", Protocol="HTTP", Port=80, VpcId=vpc)
    forward = {"Type": "forward", "TargetGroupArn": group["TargetGroups"][0]["TargetGroupArn"]}
    refuse = {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "403"}}
    out = elb.create_listener(
        LoadBalancerArn=arn, Protocol="HTTPS", Port=443, DefaultActions=[forward if forward_all else refuse],
        Certificates=[{"CertificateArn": "arn:aws:iam::123456789012:server-certificate/demo"}],
    )
    if required:
        header = {"HttpHeaderName": "X-Origin-Verify", "Values": [required]}
        elb.create_rule(ListenerArn=out["Listeners"][0]["ListenerArn"], Priority=10, Actions=[forward],
                        Conditions=[{"Field": "http-header", "HttpHeaderConfig": header}])


def web_acl(dns, required):
    """A web ACL that blocks by default and allows requests whose X-Origin-Verify is exactly `required`."""
    visibility = lambda name: {"SampledRequestsEnabled": False, "CloudWatchMetricsEnabled": False, "MetricName": name}
    match = {"ByteMatchStatement": {
        "SearchString": required.encode(), "FieldToMatch": {"SingleHeader": {"Name": "x-origin-verify"}},
        "TextTransformations": [{"Priority": 0, "Type": "NONE"}], "PositionalConstraint": "EXACTLY"}}
    rule = {"Name": "origin-verify", "Priority": 0, "Statement": match, "Action": {"Allow": {}},
            "VisibilityConfig": visibility("origin-verify")}
    acl = waf.create_web_acl(Name="demo-origin-verify", Scope="REGIONAL", DefaultAction={"Block": {}},
                             Rules=[rule], VisibilityConfig=visibility("demo"))
    waf.associate_web_acl(WebACLArn=acl["Summary"]["ARN"], ResourceArn=arn_of(dns))


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


# The value a real distribution sends comes from a secret store; this one is the demo's, made up.
sent = "9f86d081884c7d659a2feaa0c55ad015"
secret = [{"HeaderName": "X-Origin-Verify", "HeaderValue": sent}]
made = []
for name, forward_all, required, acl in [
    ("demo-web", False, sent, False),
    ("demo-waf", True, None, True),
    ("demo-unchecked", True, None, False),
    ("demo-stale", False, "0ld-value-0f-a-rotation-left-half", False),
]:
    dns = alb(name, ids)
    listener(dns, forward_all, required)
    if acl:
        web_acl(dns, sent)
    made.append(f"{distribution(name, dns, secret)} -> ALB {name}")
legacy = distribution("demo-legacy", alb("demo-legacy", ids[:3] + [open_group]), [])
print(f"created distributions {', '.join(made)} (each the whole cloudfront_g set) and {legacy} -> "
      f"ALB demo-legacy (3 of the 5 cloudfront_g groups, and {open_group} open to 0.0.0.0/0 on 443)")
