#!/usr/bin/env bash
# monitoring_test.sh BROKER SOURCE_DIR
# docs/monitoring as Prometheus and Grafana would take it: the alerting rules checked and
# unit-tested by promtool, a live /metrics scrape of the real broker checked by promtool (naming,
# help texts, types), and every kabar metric the rules and the dashboard query present in it.
set -euo pipefail
broker_bin=$1 source=$2
monitoring=$source/docs/monitoring
work=$(mktemp -d)
source "$source/scripts/lib/broker.sh"
trap 'stop_broker; rm -rf "$work"' EXIT

promtool check rules "$monitoring/kabar-alerts.yml"
(cd "$monitoring" && promtool test rules kabar-alerts.test.yml)
/usr/bin/python3 -m json.tool "$monitoring/kabar-dashboard.json" >/dev/null

start_broker "$broker_bin" --store memory
http_get /metrics >"$work/metrics"
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
