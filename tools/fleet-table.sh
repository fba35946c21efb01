#!/bin/sh
# Measures a network of sensors on generated scenarios with ground truth
# and prints the markdown table of docs/fleet.md: for each scenario, the
# union of the sensors' own IPv6 lists beside the collector's fleet list
# (precision, recall, F1 of `mxsensor eval --list`).
#   make fleet-table    (or: tools/fleet-table.sh [WORKDIR])
set -eu
cd "$(dirname "$0")/.."
work=${1:-$(mktemp -d)}
bin=bin/mxsensor
go build -o "$bin" ./cmd/mxsensor
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
fmt() { python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print("%d | %.4f | %.4f | %.4f |" % (r["Listed"], r["Precision"], r["Recall"], r["F1"]))'; }
echo "| seed | mix | sensors | list | prefixes | precision | recall | F1 |"
echo "|---|---|---|---|---|---|---|---|"
for spec in "31 default 3" "32 default 3" "33 hard 3" "34 default 5"; do
	set -- $spec
	seed=$1 mix=$2 n=$3
	d=$work/fleet-$seed-$mix-$n
	rm -rf "$d"
	go run ./tools/genscenario -seed "$seed" -mix "$mix" -hosts 3000 -duration 2h -sensors "$n" -out "$d" >/dev/null 2>&1
	p=$(port)
	"$bin" collect --db "$d/C.db" --embedded-nats "127.0.0.1:$p" --nats-store "$d/nats" --exit-idle 5s --log-level warn &
	cpid=$!
	: >"$d/union.txt"
	k=1
	while [ "$k" -le "$n" ]; do
		s=$d/s$k
		"$bin" analyze --pcap "$s/syns.pcap" --reject-log "$s/mail.log" --tz UTC --out "$s/out" --no-report \
			--sensor-id "s$k" --publish "nats://127.0.0.1:$p" --log-level warn
		"$bin" blocklist --in "$s/out" --format plain --log-level warn >>"$d/union.txt"
		k=$((k + 1))
	done
	wait "$cpid"
	sort -u "$d/union.txt" | grep -v '^#' >"$d/union.sorted" || true
	"$bin" blocklist --db "$d/C.db" --format plain --log-level warn >"$d/fleet.txt"
	printf '| %s | %s | %s | union of the sensors'"'"' lists | ' "$seed" "$mix" "$n"
	"$bin" eval --truth "$d/truth.jsonl" --list "$d/union.sorted" --json | fmt
	printf '| %s | %s | %s | fleet list | ' "$seed" "$mix" "$n"
	"$bin" eval --truth "$d/truth.jsonl" --list "$d/fleet.txt" --json | fmt
done
