#!/bin/sh
# Measures the association engine on generated scenarios and prints the
# markdown tables of docs/association.md: naive vs full over seeds, mixes and
# densities, then each evidence family switched off in turn.
#   make assoc-table    (or: tools/assoc-table.sh [WORKDIR])
set -eu
cd "$(dirname "$0")/.."
work=${1:-$(mktemp -d)}
bin=bin/mxsensor
go build -o "$bin" ./cmd/mxsensor
row() { # seed mix density mode extra-flags...
	d=$work/sc-$1-$2-$3
	[ -f "$d/truth.jsonl" ] || go run ./tools/genscenario -seed "$1" -mix "$2" -density "$3" -hosts 3000 -duration 1h -out "$d" >/dev/null 2>&1
	o=$d/out-$4
	shift 3; mode=$1; shift
	"$bin" analyze --pcap "$d/syns.pcap" --reject-log "$d/mail.log" --tz UTC --out "$o" --mode "$mode" "$@" 2>/dev/null
	"$bin" eval --truth "$d/truth.jsonl" --associations "$o/associations.jsonl" --json
}
fmt() { python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print("%.4f | %.4f | %.4f | %.4f | %.4f |" % (r["Precision"], r["Recall"], r["HostPrecision"], r["HostRecall"], r["HostF1"]))'; }
echo "| seed | mix | density | mode | P | R | host P | host R | host F1 |"
echo "|---|---|---|---|---|---|---|---|---|"
for spec in "1 default 1" "2 default 1" "3 default 1" "8 default 2" "7 default 3" "9 default 3" "4 hard 1" "10 hard 2" "5 windows-heavy 1" "6 6to4-heavy 1"; do
	set -- $spec
	for m in naive full; do
		printf '| %s | %s | %s | %s | ' "$1" "$2" "$3" "$m"
		row "$1" "$2" "$3" "$m" | fmt
	done
done
echo
echo "| seed | mix | density | evidence off | P | R | host P | host R | host F1 |"
echo "|---|---|---|---|---|---|---|---|---|"
for spec in "2 default 1" "9 default 3"; do
	set -- $spec
	for f in none embedded order stack port retrans history; do
		printf '| %s | %s | %s | %s | ' "$1" "$2" "$3" "$f"
		if [ "$f" = none ]; then row "$1" "$2" "$3" full | fmt; else row "$1" "$2" "$3" full --disable-evidence "$f" | fmt; fi
	done
done
