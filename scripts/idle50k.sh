#!/bin/bash
# 50,000 idle ingest connections with heartbeats: 3 avhost workers share the port with
# SO_REUSEPORT (each stays under the 20,000 open-files hard limit of this machine),
# 3 load processes spread over 127.0.0.1-6.
set -u
BIN=${BIN:-bin/avhost}
PORT=18090
# The host's HTTP connection caps (http.max_conns 4096, 256 per address) guard a real
# deployment; this measures what one connection costs, so they are lifted here.
CFG=$(mktemp --suffix .yaml)
printf 'http:\n  max_conns: -1\n  max_conns_per_addr: -1\n' >"$CFG"
pids=()
for i in 1 2 3; do
  AVHOST_TOKEN=t $BIN serve -config "$CFG" -listen 127.0.0.1:$PORT -reuseport -demo=false -rtsp - -ice-udp - -ice-tcp - -max-conns-per-addr 100000 -ping-interval 5s >/tmp/w$i.log 2>&1 &
  pids+=($!)
done
sleep 2
rss() { local s=0; for p in "${pids[@]}"; do s=$((s + $(awk '/VmRSS/{print $2}' /proc/$p/status))); done; echo $s; }
before=$(rss)
lpids=()
for j in 1 2 3; do
  a=$((2*j-1)); b=$((2*j))
  $BIN loadtest -url ws://127.0.0.1:$PORT/ingest -token t -mode idle -conns 16700 -duration 25s -sources 127.0.0.$a,127.0.0.$b >/tmp/l$j.log 2>&1 &
  lpids+=($!)
done
sleep 20
during=$(rss)
fds=$(for p in "${pids[@]}"; do ls /proc/$p/fd | wc -l; done | awk '{s+=$1} END {print s}')
wait "${lpids[@]}"
cat /tmp/l1.log /tmp/l2.log /tmp/l3.log
echo "workers' fds during the hold: $fds; server RSS before ${before} KiB, during ${during} KiB"
held=$(grep -ho "idle: [0-9]*" /tmp/l?.log | awk '{s+=$2} END {print s}')
awk -v h="$held" -v b="$before" -v d="$during" 'BEGIN {printf "held %d connections with heartbeats; server RSS per connection %.1f KiB\n", h, (d-b)/h}'
kill "${pids[@]}"
rm -f "$CFG"
