"""Make the demo's origin secret in the emulator and tag the two distributions that send it for its rotation.

The secret holds the value demo-web's and demo-waf's distributions send (scripts/demo_origins.py): a listener rule
requires it at demo-web, a web ACL at demo-waf. Each distribution is tagged
cloudfront-sg-sync:origin-secret=demo-origin-secret. Prints what it made, never the value.
"""
import json
import sys

import boto3

endpoint = sys.argv[1]
kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
cloudfront, secrets = boto3.client("cloudfront", **kw), boto3.client("secretsmanager", **kw)

# The value scripts/demo_origins.py gave the distributions (made up for the demo).
sent = "9f86d081884c7d659a2feaa0c55ad015"
secrets.create_secret(Name="demo-origin-secret", SecretString=json.dumps({"header": "X-Origin-Verify", "value": sent}))
tagged = []
for item in cloudfront.list_distributions()["DistributionList"].get("Items", []):
    if item["Comment"] in ("demo-web", "demo-waf"):
        tags = {"Items": [{"Key": "cloudfront-sg-sync:origin-secret", "Value": "demo-origin-secret"}]}
        cloudfront.tag_resource(Resource=item["ARN"], Tags=tags)
        tagged.append(f"{item['Id']} ({item['Comment']})")
print(f"created secret demo-origin-secret and tagged distributions {', '.join(tagged)} for its rotation")
