#!/usr/bin/env bash
# monitoring_test.sh BROKER SOURCE_DIR
# docs/monitoring as Prometheus and Grafana would take it: the alerting rules checked and
# unit-tested by promtool, a live /metrics scrape of the real broker checked by promtool (naming,
# help texts, types), and every kabar metric the rules and the dashboard query present in it.
set -euo pipefail
broker_bin=$1 source=$2
monitoring=$source/docs/monitoring
work=$(mktemp -d)
broker=
cleanup() {
  [ -n "$broker" ] && kill "$broker" 2>/dev/null && wait "$broker" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

promtool check rules "$monitoring/kabar-alerts.yml"
(cd "$monitoring" && promtool test rules kabar-alerts.test.yml)
/usr/bin/python3 -m json.tool "$monitoring/kabar-dashboard.json" >/dev/null

"$broker_bin" --listen 127.0.0.1:0 --store memory >"$work/broker.log" 2>&1 &
broker=$!
port=
for _ in $(seq 1 100); do
  port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/broker.log")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "the broker did not start:" >&2; cat "$work/broker.log" >&2; exit 1; }
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n' >&3
sed '1,/^\r$/d' <&3 >"$work/metrics"
exec 3<&-
grep -q '^kabar_build_info{' "$work/metrics" || { echo "no kabar_build_info in the scrape" >&2; exit 1; }

# promtool prints each problem it finds and exits 0 on some of them: nothing may be printed.
problems=$(promtool check metrics <"$work/metrics" 2>&1) || true
[ -z "$problems" ] || { echo "promtool check metrics: $problems" >&2; exit 1; }

# A rule or a panel on a metric the broker does not export would never fire or draw.
missing=0
for name in $(grep -ohE 'kabar_[a-z_]+' "$monitoring/kabar-alerts.yml" "$monitoring/kabar-dashboard.json" | sort -u); do
  base=${name%_bucket}
  grep -qE "^# TYPE $base " "$work/metrics" || { echo "not exported: $name" >&2; missing=1; }
done
[ "$missing" = 0 ]
echo "rules checked and tested, the scrape clean, every metric they use exported"
