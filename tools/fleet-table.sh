#!/bin/sh
# Measures a network of sensors on generated scenarios with ground truth
# and prints the markdown table of docs/fleet.md: for each scenario, the
# union of the sensors' own IPv6 lists beside the collector's fleet list
# (precision, recall, F1 of `mxsensor eval --list`), scored twice: against
# every listed spammer host, and against those some domain's reject log
# rejected (`--reject-log`: what the fleet can know). Seeds 35 and 36 are
# held out: never looked at while the labelling rule was made.
#   make fleet-table    (or: tools/fleet-table.sh [WORKDIR])
set -eu
cd "$(dirname "$0")/.."
work=${1:-$(mktemp -d)}
bin=bin/mxsensor
go build -o "$bin" ./cmd/mxsensor
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
# waitport PORT: until something accepts connections on 127.0.0.1:PORT (30 s at most).
waitport() {
	python3 -c 'import socket,sys,time
for _ in range(300):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.5).close(); sys.exit(0)
    except OSError: time.sleep(0.1)
sys.exit("nothing listens on port " + sys.argv[1])' "$1"
}
fmt() { python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print("%d | %.4f | %.4f | %.4f" % (r["Listed"], r["Precision"], r["Recall"], r["F1"]), end="")'; }
fmtk() { python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print(" | %.4f | %.4f | %.4f |" % (r["Precision"], r["Recall"], r["F1"]))'; }
echo "| seed | set | mix | sensors | list | prefixes | precision | recall | F1 | precision (rejected) | recall (rejected) | F1 (rejected) |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for spec in "31 default 3 dev" "32 default 3 dev" "33 hard 3 dev" "34 default 5 dev" "35 default 3 held-out" "36 hard 3 held-out"; do
	set -- $spec
	seed=$1 mix=$2 n=$3 set=$4
	d=$work/fleet-$seed-$mix-$n
	rm -rf "$d"
	go run ./tools/genscenario -seed "$seed" -mix "$mix" -hosts 3000 -duration 2h -sensors "$n" -out "$d" >/dev/null 2>&1
	p=$(port)
	"$bin" collect --db "$d/C.db" --embedded-nats "127.0.0.1:$p" --nats-store "$d/nats" --exit-idle 10s \
		--metrics-listen "" --log-level warn &
	cpid=$!
	waitport "$p"
	: >"$d/union.txt"
	logs=""
	k=1
	while [ "$k" -le "$n" ]; do
		s=$d/s$k
		"$bin" analyze --pcap "$s/syns.pcap" --reject-log "$s/mail.log" --tz UTC --out "$s/out" --no-report --min-score 0.5 \
			--sensor-id "s$k" --publish "nats://127.0.0.1:$p" --log-level warn
		"$bin" blocklist --in "$s/out" --format plain --log-level warn >>"$d/union.txt"
		logs="$logs${logs:+,}$s/mail.log"
		k=$((k + 1))
	done
	wait "$cpid"
	sort -u "$d/union.txt" | grep -v '^#' >"$d/union.sorted" || true
	"$bin" blocklist --db "$d/C.db" --format plain --log-level warn >"$d/fleet.txt"
	for l in union fleet; do
		case $l in
		union) f=$d/union.sorted name="union of the sensors' lists" ;;
		fleet) f=$d/fleet.txt name="fleet list" ;;
		esac
		printf '| %s | %s | %s | %s | %s | ' "$seed" "$set" "$mix" "$n" "$name"
		"$bin" eval --truth "$d/truth.jsonl" --list "$f" --json | fmt
		"$bin" eval --truth "$d/truth.jsonl" --list "$f" --reject-log "$logs" --json | fmtk
	done
done
