"""The demo's change notifications: an SNS topic in moto with an SQS queue subscribed, as a relay would have.

  demo_notify.py setup ENDPOINT          create them; prints the topic ARN and the queue URL
  demo_notify.py show ENDPOINT QUEUE     print the messages waiting (subject, attributes, body), or that none is
"""
import json
import sys

import boto3


def client(service, endpoint):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def setup(endpoint):
    sns, sqs = client("sns", endpoint), client("sqs", endpoint)
    topic = sns.create_topic(Name="cloudfront-sg-sync-changes")["TopicArn"]
    queue = sqs.create_queue(QueueName="chat-relay")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    print(topic, queue)


def show(endpoint, queue):
    sqs = client("sqs", endpoint)
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    if not messages:
        print("   (no message: the run changed nothing and nothing failed)")
    for m in messages:
        envelope = json.loads(m["Body"])
        attributes = {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}
        print(f"   Subject: {envelope['Subject']}")
        print(f"   Attributes: {attributes}")
        lines = envelope["Message"].splitlines()
        for line in lines[:12]:
            print(f"   | {line}")
        if len(lines) > 14:
            print(f"   | ... ({len(lines) - 14} more lines)")
        for line in lines[-2:] if len(lines) > 12 else []:
            print(f"   | {line}")
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])


if __name__ == "__main__":
    if sys.argv[1] == "setup":
        setup(sys.argv[2])
    else:
        show(sys.argv[2], sys.argv[3])
