#!/usr/bin/env bash
# Makes a NATS server with JetStream reachable for the scale-out tests and prints its URL.
# Uses a server that already answers (on 4222, or ours on 4223); otherwise installs Debian's
# nats-server and starts one with JetStream, its store under the system's temp folder.
set -euo pipefail
has_jetstream() {
    # The server's INFO line, sent on connect, says whether JetStream is on.
    local info
    info=$(timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1; head -n 1 <&3" 2>/dev/null) || true
    [[ "$info" == INFO* && "$info" == *'"jetstream":true'* ]]
}
for port in 4222 4223; do
    if has_jetstream "$port"; then echo "nats://127.0.0.1:$port"; exit 0; fi
done
if ! command -v nats-server >/dev/null 2>&1; then
    apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y nats-server >&2
fi
# 4222 may be held by a server without JetStream: ours goes beside it.
port=4222
if timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/4222" 2>/dev/null; then port=4223; fi
store="${TMPDIR:-/tmp}/ward-test-nats"
mkdir -p "$store"
nohup nats-server -js -a 127.0.0.1 -p "$port" -sd "$store" >"$store/server.log" 2>&1 &
for _ in $(seq 1 50); do
    if has_jetstream "$port"; then echo "nats://127.0.0.1:$port"; exit 0; fi
    sleep 0.2
done
echo "nats-server did not start with JetStream on $port; see $store/server.log" >&2
exit 1
