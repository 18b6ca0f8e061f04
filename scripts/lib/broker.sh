# Sourced by the shell checks that start a real kabar-broker (scripts/check-package,
# tests/package/*.sh). Needs `work`, a scratch directory of the caller's; sets `broker` (its pid)
# and `port`, and stops it on exit.
broker=
port=

stop_broker() {
  if [ -n "$broker" ]; then
    kill "$broker" 2>/dev/null && wait "$broker" 2>/dev/null
    broker=
  fi
  return 0
}

# start_broker BINARY ARGS...: on a free loopback port, logging to $work/broker.log.
start_broker() {
  "$@" --listen 127.0.0.1:0 >"$work/broker.log" 2>&1 &
  broker=$!
  port=
  for _ in $(seq 1 100); do
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/broker.log")
    [ -n "$port" ] && return 0
    sleep 0.1
  done
  echo "$1 did not start:" >&2
  cat "$work/broker.log" >&2
  exit 1
}

# http_get PATH: the body of GET PATH from the broker (bash's /dev/tcp: nothing to install).
http_get() {
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  printf 'GET %s HTTP/1.1\r\nHost: check\r\nConnection: close\r\n\r\n' "$1" >&3
  sed '1,/^\r$/d' <&3
  exec 3<&-
}
