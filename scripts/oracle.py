"""The expected ranges of every bundled ip-ranges.json, computed apart from the code under test.

For each real snapshot in tests/fixtures/ (the exact bytes AWS served, gzip), per service (CLOUDFRONT and
CLOUDFRONT_ORIGIN_FACING), scope (GLOBAL: region "GLOBAL"; regional: any other) and IP version: the networks as
published (each once) and aggregated, by Python's standard `ipaddress` (`collapse_addresses` is the reference
aggregation). Written to tests/fixtures/expected.json, which the end-to-end tests compare against: never against
what the Rust code under test computes.

    python3 scripts/oracle.py           write tests/fixtures/expected.json (`make oracle`)
    python3 scripts/oracle.py --check   exit 1 when the committed file is not what this script makes
"""
import gzip
import hashlib
import ipaddress
import json
import pathlib
import sys

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures"
EXPECTED = FIXTURES / "expected.json"
SERVICES = ("CLOUDFRONT", "CLOUDFRONT_ORIGIN_FACING")
VERSIONS = (("ipv4", "prefixes", "ip_prefix"), ("ipv6", "ipv6_prefixes", "ipv6_prefix"))


def networks(doc, service, is_global, key, field):
    """The networks of one service, scope and IP version, as published (strict: a prefix with host bits set
    is an error, as it is for the function)."""
    return {
        ipaddress.ip_network(p[field], strict=True)
        for p in doc.get(key, [])
        if p["service"] == service and (p["region"] == "GLOBAL") == is_global
    }


def expected_of(body):
    doc = json.loads(body)
    out = {
        "md5": hashlib.md5(body).hexdigest(),
        "sync_token": int(doc["syncToken"]),
        "create_date": doc.get("createDate"),
    }
    for service in SERVICES:
        for scope, is_global in (("GLOBAL", True), ("regional", False)):
            for version, key, field in VERSIONS:
                nets = networks(doc, service, is_global, key, field)
                out.setdefault(service, {}).setdefault(scope, {})[version] = {
                    "published": [str(n) for n in sorted(nets)],
                    "aggregated": [str(n) for n in sorted(ipaddress.collapse_addresses(nets))],
                }
    return out


def render():
    files = sorted(FIXTURES.glob("ip-ranges-*.json.gz"))
    expected = {f.name.removesuffix(".gz"): expected_of(gzip.open(f).read()) for f in files}
    return json.dumps(expected, indent=1, sort_keys=True) + "\n"


def main():
    text = render()
    if sys.argv[1:] == ["--check"]:
        if EXPECTED.read_text() != text:
            print(f"{EXPECTED} is not what scripts/oracle.py makes: run `make oracle`", file=sys.stderr)
            sys.exit(1)
        return
    EXPECTED.write_text(text)


if __name__ == "__main__":
    main()
