#!/bin/sh
# Measures the association engine on generated scenarios and prints the
# markdown tables of docs/association.md: naive vs full (without and with
# enrichment tables) over seeds, mixes and densities, then each evidence
# family switched off in turn.
#   make assoc-table    (or: tools/assoc-table.sh [WORKDIR])
set -eu
cd "$(dirname "$0")/.."
work=${1:-$(mktemp -d)}
bin=bin/mxsensor
go build -o "$bin" ./cmd/mxsensor
row() { # seed mix density mode extra-flags...
	d=$work/sc-$1-$2-$3
	[ -f "$d/truth.jsonl" ] || go run ./tools/genscenario -seed "$1" -mix "$2" -density "$3" -hosts 3000 -duration 1h -out "$d" >/dev/null 2>&1
	shift 3; mode=$1; shift
	o=$d/out-$mode-$(echo "$*" | tr -c 'a-z0-9\n' '_')
	case $mode in
	naive) set -- --mode naive "$@" ;;
	full) set -- --mode full "$@" ;;
	names) set -- --mode full --asn-table "$d/asn.txt" --ptr-table "$d/ptr.txt" "$@" ;;
	esac
	"$bin" analyze --pcap "$d/syns.pcap" --reject-log "$d/mail.log" --tz UTC --out "$o" "$@" 2>/dev/null
	"$bin" eval --truth "$d/truth.jsonl" --associations "$o/associations.jsonl" --json
}
fmt() { python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print("%.4f | %.4f | %.4f | %.4f | %.4f | %.4f | %.4f |" % (r["Precision"], r["Recall"], r["AddrPrecision"], r["AddrRecall"], r["HostPrecision"], r["HostRecall"], r["HostF1"]))'; }
echo "| seed | mix | density | mode | P | R | addr P | addr R | host P | host R | host F1 |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for spec in "1 default 1" "2 default 1" "3 default 1" "8 default 2" "11 default 2" "7 default 3" "9 default 3" "12 default 3" \
	"5 windows-heavy 1" "13 windows-heavy 3" "6 6to4-heavy 1" "14 6to4-heavy 3" "4 hard 1" "10 hard 2" "15 hard 3"; do
	set -- $spec
	for m in naive full names; do
		printf '| %s | %s | %s | %s | ' "$1" "$2" "$3" "$m"
		row "$1" "$2" "$3" "$m" | fmt
	done
done
echo
echo "| seed | mix | density | evidence off | P | R | addr P | addr R | host P | host R | host F1 |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for spec in "2 default 1" "9 default 3" "10 hard 2"; do
	set -- $spec
	for f in none embedded order stack clock port retrans history asn ptr; do
		printf '| %s | %s | %s | %s | ' "$1" "$2" "$3" "$f"
		if [ "$f" = none ]; then row "$1" "$2" "$3" names | fmt; else row "$1" "$2" "$3" names --disable-evidence "$f" | fmt; fi
	done
done
