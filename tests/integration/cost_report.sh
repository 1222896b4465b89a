#!/bin/sh
# envctl cost against a ledger written with psql; run under
# tests/harness/with-pg.sh.  The expected figures are computed here, in
# Python, from the rows psql reads back (not from envctl's view).
set -u
LABEL=cost
. "${ENVCTL_SRC:?ENVCTL_SRC not set}/tests/harness/envctl_sh.sh"

run 0 migrate
# Two workspaces; times relative to the database's now (seconds ago).
# web-1 (team-a, on-demand): ran 7200 s, stopped 3600 s (its disk still
# billed), started again 1800 s ago and runs; a failed attempt before it
# ran 20 s (billed 60 s).  spot-1 (team-b, spot at 0.0031 vs 0.0104):
# ran 40 days ago for a day (outside 30d), and runs since 600 s.
sql -c "
INSERT INTO cost_segments (cluster_id, env_id, env_name, workspace,
  instance_id, kind, market, instance_type, usd_per_hour, od_usd_per_hour,
  started_at, ended_at)
SELECT 'default', e::uuid, n, w, i, k, m, 't3.micro', u, o,
  now() - make_interval(secs => s), CASE WHEN t IS NULL THEN NULL
  ELSE now() - make_interval(secs => t) END
FROM (VALUES
 ('00000000-0000-0000-0000-0000000000a1', 'web-1', 'team-a', 'i-fail', 'compute', 'on-demand', 0.0104, 0.0104, 20000, 19980),
 ('00000000-0000-0000-0000-0000000000a1', 'web-1', 'team-a', 'i-fail', 'storage', 'on-demand', 0.002, 0.002, 20000, 19980),
 ('00000000-0000-0000-0000-0000000000a2', 'web-1', 'team-a', 'i-web', 'compute', 'on-demand', 0.0104, 0.0104, 12600, 5400),
 ('00000000-0000-0000-0000-0000000000a2', 'web-1', 'team-a', 'i-web', 'storage', 'on-demand', 0.002, 0.002, 12600, NULL),
 ('00000000-0000-0000-0000-0000000000a2', 'web-1', 'team-a', 'i-web', 'compute', 'on-demand', 0.0104, 0.0104, 1800, NULL),
 ('00000000-0000-0000-0000-0000000000b1', 'spot-1', 'team-b', 'i-old', 'compute', 'spot', 0.0031, 0.0104, 3456000, 3369600),
 ('00000000-0000-0000-0000-0000000000b2', 'spot-1', 'team-b', 'i-spot', 'compute', 'spot', 0.0031, 0.0104, 600, NULL)
) AS v(e, n, w, i, k, m, u, o, s, t);" >/dev/null || fail "insert segments"

# expect.py SINCE_SECONDS KEY: the figures from psql's rows, same rule
# as documented (per second, 60 s minimum per compute segment).
sql -F ' ' -c "SELECT env_name, workspace, kind, usd_per_hour,
  od_usd_per_hour, extract(epoch FROM now() - started_at)::bigint,
  coalesce(extract(epoch FROM now() - ended_at)::bigint, -1)
  FROM cost_segments" >"$tmp/rows" || fail "read segments"
expect() {
	python3 - "$tmp/rows" "$1" "$2" <<'PY'
import sys, json
rows, since, key = sys.argv[1], int(sys.argv[2]), sys.argv[3]
g = {}
for l in open(rows):
    env, ws, kind, u, o, s, t = l.split()
    u, o, s, t = float(u), float(o), int(s), int(t)
    a, b = -s, (-t if t >= 0 else 0)   # seconds relative to now
    if kind == 'compute' and b - a < 60:
        b = a + 60
    a = max(a, -since)
    secs = max(0, b - a)
    k = env if key == 'environment' else ws
    x = g.setdefault(k, [0.0, 0.0, 0.0])
    x[0] += secs / 3600 * u
    x[1] += u if t < 0 else 0
    x[2] += secs / 3600 * (o - u)
print(json.dumps(g))
PY
}
# compare.py EXPECTED_JSON KEY: envctl's -o json within 1 % (and 1e-6 $)
compare() {
	python3 - "$tmp/out" "$1" "$2" <<'PY' || fail "envctl cost differs from psql's rows"
import sys, json
got = json.load(open(sys.argv[1]))
want = json.loads(sys.argv[2])
key = sys.argv[3]
gg = {x[key]: x for x in got['groups']}
assert set(gg) == set(want), (sorted(gg), sorted(want))
tot = [0.0, 0.0, 0.0]
def close(a, b):
    return abs(a - b) <= max(1e-6, 0.01 * abs(b))
for k, (usd, rate, saved) in want.items():
    x = gg[k]
    for f, w in (('booked_usd', usd), ('usd_per_hour', rate), ('spot_saving_usd', saved)):
        assert close(x[f], w), (k, f, x[f], w)
    tot = [tot[0] + usd, tot[1] + rate, tot[2] + saved]
for f, w in zip(('booked_usd', 'usd_per_hour', 'spot_saving_usd'), tot):
    assert close(got['total'][f], w), ('total', f, got['total'][f], w)
print('compared', json.dumps(got['total']))
PY
}

run 0 cost -o json
compare "$(expect 2592000 workspace)" workspace
ok "cost by workspace (30d default) matches psql's rows"

run 0 cost --by environment --since 1h -o json
compare "$(expect 3600 environment)" environment
grep -q '"environment": "web-1"' "$tmp/out" || fail "no web-1 group"
ok "cost by environment since 1h matches psql's rows"

run 0 cost --since 100d -o json
compare "$(expect 8640000 workspace)" workspace
ok "cost since 100d counts the old spot day"

run 0 cost
grep -q '^TOTAL ' "$tmp/out" || fail "no TOTAL line"
grep -q '^team-a ' "$tmp/out" || fail "no team-a line"
ok "cost as text"

run 1 cost --by region
grep -q 'workspace or environment' "$tmp/err" || fail "--by region message"
run 1 cost --since yesterday
ok "bad flags refused"
echo "1..$n"
