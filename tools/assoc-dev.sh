#!/bin/sh
# The quick loop for tuning the association engine: development seeds only
# (101-103), families dense and very dense, mixes default, adversarial and
# repeaters, scored with BIN's analyze (full mode, plus ANALYZE-FLAGS) and
# eval, one line per scenario.
#   tools/assoc-dev.sh BIN [WORKDIR [ANALYZE-FLAGS...]]
# Scenarios are generated once into WORKDIR (default /tmp/assoc-dev) and
# reused by the next run (delete it after changing the generator;
# GENSCENARIO=PATH uses another build of it). Analyses run two at a time.
set -eu
[ $# -ge 1 ] || {
	echo "usage: $0 BIN [WORKDIR [ANALYZE-FLAGS...]]" >&2
	exit 2
}
bin=$(realpath "$1")
work=${2:-/tmp/assoc-dev}
if [ $# -ge 2 ]; then shift 2; else shift; fi
cd "$(dirname "$0")/.."
. tools/assoc-lib.sh
mkdir -p "$work"
work=$(realpath "$work")
started=$(date +%s)
gen=${GENSCENARIO:-$work/genscenario}
[ -n "${GENSCENARIO:-}" ] || go build -o "$gen" ./tools/genscenario

families="dense very-dense"
seeds="101 102 103"
mixes=
for m in default adversarial repeaters; do
	if mix_ok "$gen" "$m"; then mixes="$mixes $m"; fi
done
for f in $families; do
	for m in $mixes; do
		for s in $seeds; do echo "$gen $work/$f-$m-$s -seed $s -mix $m $(family_flags "$f")"; done
	done
done | in_parallel gen
for f in $families; do
	for m in $mixes; do
		for s in $seeds; do echo "$bin $work/$f-$m-$s $work/$f-$m-$s/out-dev --mode full $*"; done
	done
done | in_parallel run

for f in $families; do
	for m in $mixes; do
		for s in $seeds; do
			j=$work/$f-$m-$s/out-dev/eval.json
			printf '%-10s %-11s %s  ' "$f" "$m" "$s"
			if [ -f "$j" ]; then
				eval_fields "$j" AddrPrecision AddrRecall HostF1 Brier MaxCalibrationError NoIPv4Wrong |
					awk '{ printf "addr P %s  R %s  host F1 %s  Brier %s  cal.err %s  noIPv4 wrong %s\n", $1, $2, $3, $4, $5, $6 }'
			else
				echo failed
			fi
		done
	done
done
echo "assoc-dev: $(($(date +%s) - started)) s (scenarios in $work)" >&2
