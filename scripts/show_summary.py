"""Print a sync summary (the function's answer) as a short table."""
import json
import sys

summary = json.load(open(sys.argv[1]))
if "sets" not in summary:
    print(json.dumps(summary, indent=2))
    sys.exit(1)
print(f"synctoken {summary['synctoken']} ({summary.get('create_date', '?')}), service {summary['service']}, "
      f"late notification: {summary['late_notification']}, dry run: {summary['dry_run']}, "
      f"{summary['duration_ms']} ms")
print(f"{'set':52} {'groups':>6} {'added':>6} {'removed':>7} {'unchanged':>9}  room left  status")
for s in summary["sets"]:
    name = f"{s['region']}/{s['vpc']}/{s['name']}/{s['protocol']}"
    room = " ".join(f"{k} {v}" for k, v in s["room_left"].items())
    print(f"{name:52} {len(s['groups']):>6} {s['added']:>6} {s['removed']:>7} {s['unchanged']:>9}  {room}  {s['status']}")
