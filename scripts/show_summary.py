"""Print a sync summary (the function's answer) as a short table, then its warnings."""
import json
import sys

summary = json.load(open(sys.argv[1]))
if "sets" not in summary:
    print(json.dumps(summary, indent=2))
    sys.exit(1)
print(f"sync_token {summary['sync_token']} ({summary.get('create_date', '?')}), service {summary['service']}, "
      f"regions {','.join(summary.get('regions', []))}, "
      f"late notification: {summary['late_notification']}, dry run: {summary['dry_run']}, "
      f"re-plans: {summary['replans']}, {summary['duration_ms']} ms")
print(f"{'set':52} {'groups':>6} {'added':>6} {'removed':>7} {'unchanged':>9}  room left  status")
for s in summary["sets"]:
    name = f"{s['region']}/{s['vpc']}/{s['scope']}/{s['protocol']}"
    room = " ".join(f"{k} {v}" for k, v in s["room_left"].items())
    print(f"{name:52} {len(s['groups']):>6} {s['added']:>6} {s['removed']:>7} {s['unchanged']:>9}  {room}  {s['status']}")
for l in summary.get("prefix_lists", []):
    name = f"{l['region']}/{l['id']} ({l['scope']}, {l['family']})"
    print(f"{'prefix list ' + name:52} {'':>6} {l['added']:>6} {l['removed']:>7} {l['unchanged']:>9}  "
          f"{l['room_left']} of {l.get('grew_to') or l['max_entries']}  {l['status']}")
for w in summary.get("ip_sets", []):
    name = f"{w['region']}/{w['waf_scope']}/{w['name']} ({w['scope']}, {w['family']})"
    print(f"{'WAF IP set ' + name:52} {'':>6} {w['added']:>6} {w['removed']:>7} {w['unchanged']:>9}  "
          f"{'':9}  {w['status']}")
for s in summary["sets"]:
    for p in s.get("partly_attached", []):
        print(f"warning: {p['interface']} ({p['attachment']}) carries part of {s['scope']}/{s['protocol']} "
              f"but not {', '.join(p['missing'])}: the CloudFront ranges held there are blocked")
forged = [m for s in summary["sets"] for m in s.get("forged_marks", [])]
forged += [m for t in summary.get("prefix_lists", []) + summary.get("ip_sets", []) for m in t.get("forged_marks", [])]
for m in forged:
    print(f"warning: forged mark on {m['target']}: {m['value']!r} ({m['reason']}): not trusted, "
          f"the file applied over it and the mark replaced")
for r in summary.get("attachment_unchecked", []):
    print(f"warning: attachment not checked in {r['region']}: {r['error']}")
for n in summary.get("not_synced", []):
    found = f"AutoUpdate={n['auto_update']!r}" if n.get("auto_update") is not None else "no AutoUpdate tag"
    kind = {"security-group-set": "security group", "prefix-list": "prefix list"}.get(n["kind"], "WAF IP set")
    print(f"not synced: {kind} {n['id']} in {n['region']} (Name={n['scope']}): {found}; "
          f"only AutoUpdate='true' syncs it")
