#!/usr/bin/env bash
# The Lambda function against a local EC2 emulator, on a bundled real ip-ranges.json, with no AWS account.
#
# Starts moto_server and a file server on 127.0.0.1, creates example tagged groups, runs the Lambda binary
# under `cargo lambda watch` (its local Lambda runtime), invokes it with events/sns-notification.json, prints
# the summary, invokes it again (nothing to do), then with an older real file (every target keeps the newer
# one), then after a forged mark on one group (not trusted: overwritten and reported), shows the CLI's plan, then its plan over two member accounts, then a run over an OU of an organization,
# then the CLI's audit of five CloudFront distributions and their load balancers (the secret header judged at each
# ALB), the rotation of the origin secret over two of them and their audit, an uninstall (`remove --apply`) and
# the audit of the sets it emptied, then stops everything. With DIST=1 (`make demo DIST=1`) it runs the binaries of
# dist/ (`make release`): the sync zip's bootstrap and the tarball's CLI, checked against dist/SHA256SUMS.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PY="$VENV/bin/python"
TARGET=${CARGO_TARGET_DIR:-target}
WORK=.demo
SNAPSHOT=tests/fixtures/ip-ranges-2026-08-22-15-17-05.json.gz

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

wait_port() { # host port what
  for _ in $(seq 1 300); do
    if (echo >"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "demo: $3 did not start on $1:$2" >&2
  exit 1
}

rm -rf "$WORK" && mkdir -p "$WORK/www"
gunzip -c "$SNAPSHOT" >"$WORK/www/ip-ranges.json" # exact bytes: the MD5 in events/ matches

if [ -n "${DIST:-}" ]; then
  # The release as a user downloads it: the sync zip's bootstrap and the CLI of the tarball, checked first.
  VERSION=$("$PY" scripts/release.py version)
  echo "== the binaries of dist/ ($VERSION, x86_64), checked against dist/SHA256SUMS"
  (cd dist && sha256sum --check --strict --quiet SHA256SUMS)
  mkdir -p "$WORK/dist"
  "$PY" -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' \
    "dist/cloudfront-sg-sync-$VERSION-sync-x86_64.zip" "$WORK/dist"
  chmod +x "$WORK/dist/bootstrap"
  tar -xzf "dist/cloudfront-sg-sync-$VERSION-cli-x86_64-linux.tar.gz" -C "$WORK/dist" --strip-components 1
  LAMBDA="$WORK/dist/bootstrap"
  CLI="$WORK/dist/cloudfront-sg-sync"
else
  echo "== building"
  cargo build --locked --quiet --all-targets
  LAMBDA="$TARGET/debug/cloudfront-sg-sync-lambda"
  CLI="$TARGET/debug/cloudfront-sg-sync"
fi

MOTO_PORT=$("$PY" scripts/free_port.py)
WWW_PORT=$("$PY" scripts/free_port.py)
RT_PORT=$("$PY" scripts/free_port.py)

echo "== starting the EC2 emulator (moto) on 127.0.0.1:$MOTO_PORT"
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$WORK/moto.log" 2>&1 &
pids+=($!)
echo "== serving $SNAPSHOT on 127.0.0.1:$WWW_PORT"
"$PY" -m http.server --bind 127.0.0.1 --directory "$WORK/www" "$WWW_PORT" >"$WORK/www.log" 2>&1 &
pids+=($!)
wait_port 127.0.0.1 "$MOTO_PORT" moto_server
wait_port 127.0.0.1 "$WWW_PORT" "the file server"

echo "== creating example security groups"
"$PY" scripts/demo_groups.py "http://127.0.0.1:$MOTO_PORT"

echo "== an SNS topic for the change notifications, with an SQS queue subscribed (as a relay to chat would be)"
read -r TOPIC QUEUE < <("$PY" scripts/demo_notify.py setup "http://127.0.0.1:$MOTO_PORT")
echo "   $TOPIC -> $QUEUE"

echo "== starting the local Lambda runtime (cargo lambda watch) on 127.0.0.1:$RT_PORT"
"$VENV/bin/cargo-lambda" lambda watch --only-lambda-apis --invoke-address 127.0.0.1 --invoke-port "$RT_PORT" \
  --timeout 300 >"$WORK/runtime.log" 2>&1 &
pids+=($!)
wait_port 127.0.0.1 "$RT_PORT" "cargo lambda watch"

# The function's settings. moto counts IPv4 and IPv6 rules together against 60, so 30 per version here.
env AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$RT_PORT/.rt" AWS_LAMBDA_FUNCTION_NAME=_ AWS_LAMBDA_FUNCTION_VERSION=1 \
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 AWS_LAMBDA_LOG_FORMAT=JSON \
  AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
  AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" IP_RANGES_URL="http://127.0.0.1:$WWW_PORT/ip-ranges.json" \
  MAX_RULES_PER_GROUP=30 NOTIFY_TOPIC_ARN="$TOPIC" \
  "$LAMBDA" >"$WORK/function.log" 2>&1 &
FUNCTION=$!
pids+=($FUNCTION)
sleep 0.5
if ! kill -0 "$FUNCTION" 2>/dev/null; then
  echo "demo: the function exited at start:" >&2
  cat "$WORK/function.log" >&2
  exit 1
fi

invoke() {
  "$VENV/bin/cargo-lambda" lambda invoke --invoke-address 127.0.0.1 --invoke-port "$RT_PORT" \
    --data-file "$1" --output-format json
}

echo "== invoking with events/sns-notification.json (first sync)"
invoke events/sns-notification.json >"$WORK/first.json"
"$PY" scripts/show_summary.py "$WORK/first.json"
echo "   the message it published (NOTIFY_TOPIC_ARN), read from the queue:"
"$PY" scripts/demo_notify.py show "http://127.0.0.1:$MOTO_PORT" "$QUEUE"

echo "== invoking again with the same notification (nothing to do)"
invoke events/sns-notification.json >"$WORK/second.json"
"$PY" scripts/show_summary.py "$WORK/second.json"
"$PY" scripts/demo_notify.py show "http://127.0.0.1:$MOTO_PORT" "$QUEUE"

echo "== aggregation (AGGREGATE, on by default): the sets above hold the fewest CIDRs covering the same addresses"
"$PY" - "$WORK/www/ip-ranges.json" <<'PYEOF'
import ipaddress, json, sys
doc = json.load(open(sys.argv[1]))
for scope, is_global in (("cloudfront_g", True), ("cloudfront_r", False)):
    for key, field in (("prefixes", "ip_prefix"), ("ipv6_prefixes", "ipv6_prefix")):
        nets = {ipaddress.ip_network(p[field]) for p in doc[key]
                if p["service"] == "CLOUDFRONT" and (p["region"] == "GLOBAL") == is_global}
        if nets:
            merged = len(list(ipaddress.collapse_addresses(nets)))
            print(f"  {scope} {'IPv4' if key == 'prefixes' else 'IPv6'}: {len(nets)} ranges as published, {merged} rules aggregated")
PYEOF
echo "   what switching it off (--aggregate false) would change, per set: the published ranges in, the merged ones out"
AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
  AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" MAX_RULES_PER_GROUP=30 \
  "$CLI" plan --ip-ranges-file "$WORK/www/ip-ranges.json" --aggregate false --summary

echo "== an older real file served after it (a stale copy, a late or replayed event): every target keeps the newer one"
OLDER=tests/fixtures/ip-ranges-2026-08-22-11-57-05.json.gz
gunzip -c "$OLDER" >"$WORK/www/ip-ranges.json"
"$PY" - "$WORK/www/ip-ranges.json" events/sns-notification.json >"$WORK/older-event.json" <<'PYEOF'
import hashlib, json, sys
body = open(sys.argv[1], "rb").read()
event = json.load(open(sys.argv[2]))
message = json.loads(event["Records"][0]["Sns"]["Message"])
doc = json.loads(body)
message.update({"synctoken": doc["syncToken"], "create-time": doc["createDate"], "md5": hashlib.md5(body).hexdigest()})
event["Records"][0]["Sns"]["Message"] = json.dumps(message)
print(json.dumps(event))
PYEOF
invoke "$WORK/older-event.json" >"$WORK/older.json"
"$PY" scripts/show_summary.py "$WORK/older.json"
gunzip -c "$SNAPSHOT" >"$WORK/www/ip-ranges.json"

echo "== a forged mark: one cloudfront_g group tagged cloudfront-sg-sync:synctoken=9999999999 (anyone with ec2:CreateTags)"
FORGED=$("$PY" - "http://127.0.0.1:$MOTO_PORT" <<'PYEOF'
import sys, boto3
ec2 = boto3.client("ec2", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
groups = ec2.describe_security_groups(Filters=[{"Name": "tag:Name", "Values": ["cloudfront_g"]},
                                               {"Name": "tag:AutoUpdate", "Values": ["true"]}])["SecurityGroups"]
group = sorted(g["GroupId"] for g in groups)[0]
ec2.create_tags(Resources=[group], Tags=[{"Key": "cloudfront-sg-sync:synctoken", "Value": "9999999999 ipv4 ipv6"}])
print(group)
PYEOF
)
echo "   tagged $FORGED; before, every real file after it was \"older\" and the set froze. Invoking again:"
invoke events/sns-notification.json >"$WORK/forged.json"
"$PY" scripts/show_summary.py "$WORK/forged.json" | tee "$WORK/forged.txt"
grep -q "warning: forged mark on $FORGED" "$WORK/forged.txt" ||
  { echo "demo: the forged mark should be reported" >&2; exit 1; }
"$PY" - "http://127.0.0.1:$MOTO_PORT" "$FORGED" <<'PYEOF'
import sys, boto3
ec2 = boto3.client("ec2", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
tags = {t["Key"]: t["Value"] for t in ec2.describe_security_groups(GroupIds=[sys.argv[2]])["SecurityGroups"][0]["Tags"]}
mark = tags.get("cloudfront-sg-sync:synctoken")
print(f"   its mark now: {mark!r} (the file applied)")
sys.exit(0 if mark and not mark.startswith("9999999999") else 1)
PYEOF
echo "   the message it published (a forged mark is always told):"
"$PY" scripts/demo_notify.py show "http://127.0.0.1:$MOTO_PORT" "$QUEUE"

echo "== a hand-made event that lacks what Lambda sends (only Records[0].Sns.Message): refused, naming the field"
echo '{"Records": [{"Sns": {"Message": "{}"}}]}' >"$WORK/bare-event.json"
if invoke "$WORK/bare-event.json" >"$WORK/bare.out" 2>&1; then
  echo "   the bare event was accepted: it should not be" >&2
  exit 1
fi
# cargo lambda prints the errorType, then the errorMessage wrapped in a box: unwrapped here.
refused="$(sed -n 's/^Error: //p' "$WORK/bare.out"): $(sed -n 's/^ *[×│] *//p' "$WORK/bare.out" | tr '\n' ' ' | tr -s ' ')"
echo "   $refused"
case "$refused" in
  *"the record has no Sns.Type"*) ;;
  *) echo "   the error does not name the missing field" >&2; exit 1 ;;
esac

echo "== the CLI's plan against the same emulator"
AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
  AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" MAX_RULES_PER_GROUP=30 \
  "$CLI" plan --ip-ranges-file "$WORK/www/ip-ranges.json"

echo "== the CLI's plan over two member accounts (ACCOUNTS), each through its role (one STS AssumeRole each)"
AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
  AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" MAX_RULES_PER_GROUP=30 IP_VERSIONS=ipv4 \
  "$CLI" plan --ip-ranges-file "$WORK/www/ip-ranges.json" --accounts 111111111111,222222222222 | grep -v '^  '

echo "== a run over an organizational unit (ACCOUNTS=ou-…): every ACTIVE account under it, nested OUs included"
OU=$("$PY" scripts/demo_org.py "http://127.0.0.1:$MOTO_PORT")
AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
  AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" IP_VERSIONS=ipv6 ACCOUNTS="$OU" \
  "$CLI" apply --ip-ranges-file "$WORK/www/ip-ranges.json" --summary | tee "$WORK/ou.txt"
grep -q "accounts: 2 synced, 0 failed, 1 skipped" "$WORK/ou.txt" ||
  { echo "demo: the run over the OU should sync 2 accounts and skip the closed one" >&2; exit 1; }

echo "== the CLI's audit of the CloudFront origins (read-only): the secret header judged at each ALB (a listener"
echo "   rule requires it, a web ACL requires it, nobody checks it, a rule requires a value CloudFront does not send),"
echo "   and a legacy distribution that fails"
"$PY" scripts/demo_origins.py "http://127.0.0.1:$MOTO_PORT"
audit_status=0
AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
  AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" "$CLI" audit --ip-ranges-file "$WORK/www/ip-ranges.json" | tee "$WORK/audit.txt" || audit_status=$?
echo "== audit exit code $audit_status (0: nothing fails, 1: something fails, 2: the audit could not finish)"
[ "$audit_status" -eq 1 ] || { echo "demo: the audit should have failed the legacy distribution" >&2; exit 1; }
for says in "required at load balancer demo-web: listener HTTPS:443 rule 10" \
  "required at load balancer demo-waf: web ACL demo-origin-verify" \
  "not required at load balancer demo-unchecked" "none of them the one CloudFront sends"; do
  tr -s ' \n' ' ' < "$WORK/audit.txt" | grep -q "$says" ||
    { echo "demo: the audit should say: $says" >&2; exit 1; }
done
! grep -q "9f86d081884c7d659a2feaa0c55ad015" "$WORK/audit.txt" || { echo "demo: a secret was shown" >&2; exit 1; }

echo "== the origin secret rotated over the two distributions that send it (demo-web: a listener rule requires it;"
echo "   demo-waf: a web ACL), the four steps at once; then the audit: both still pass origin-proof, at the new value"
"$PY" scripts/demo_secret.py "http://127.0.0.1:$MOTO_PORT"
AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
  AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" ORIGIN_SECRET_PROPAGATION_SECONDS=0 \
  "$CLI" rotate-origin-secret --secret demo-origin-secret
AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
  AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" ORIGIN_SECRET_PROPAGATION_SECONDS=0 \
  "$CLI" rotate-origin-secret --secret demo-origin-secret --apply | tee "$WORK/rotated.txt"
grep -q "^finishSecret: the new value is current; 1 rule(s) and 1 web ACL(s) accept only it" "$WORK/rotated.txt" ||
  { echo "demo: the rotation should end with one rule and one web ACL accepting only the new value" >&2; exit 1; }
AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
  AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" "$CLI" audit --ip-ranges-file "$WORK/www/ip-ranges.json" \
  > "$WORK/rotated-audit.txt" || true
grep "origin-proof" "$WORK/rotated-audit.txt" | head -2
for says in "required at load balancer demo-web: listener HTTPS:443 rule 10" \
  "required at load balancer demo-waf: web ACL demo-origin-verify"; do
  tr -s ' \n' ' ' < "$WORK/rotated-audit.txt" | grep -q "$says" ||
    { echo "demo: after the rotation the audit should still say: $says" >&2; exit 1; }
done

echo "== an uninstall (remove --apply) takes back every rule of ours; the audit then fails the sets it emptied"
AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
  AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" "$CLI" remove --apply | tail -3
AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
  AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" "$CLI" audit --ip-ranges-file "$WORK/www/ip-ranges.json" | tee "$WORK/emptied.txt" | grep -A1 "synced-set" | head -4 || true
grep -q "holds none of CloudFront" "$WORK/emptied.txt" ||
  grep -q "hold none of CloudFront" "$WORK/emptied.txt" ||
  { echo "demo: the audit should fail the emptied set" >&2; exit 1; }

echo "== done: function logs in $WORK/function.log, full summaries in $WORK/first.json and $WORK/second.json"
