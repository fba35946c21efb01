#!/bin/sh
# Measures the association engine on generated scenarios and prints the
# markdown tables of docs/association.md:
#  1. naive vs full (without and with enrichment tables) over the seeds,
#     mixes and densities of issue 5 (kept so old figures stay comparable);
#  2. the scenario families of issue 17 (sparse, dense, very dense; mixes
#     default, repeaters and adversarial), mean over development seeds 101-105 and,
#     apart, over held-out seeds 201-205, naive beside full;
#  3. each evidence family switched off in turn.
#   make assoc-table    (or: tools/assoc-table.sh [WORKDIR])
# Scenarios are generated once into WORKDIR and reused by the next run with
# the same WORKDIR (delete it after changing the generator; GENSCENARIO=PATH
# uses another build of it). Analyses run two at a time.
set -eu
cd "$(dirname "$0")/.."
. tools/assoc-lib.sh
work=${1:-$(mktemp -d)}
mkdir -p "$work"
started=$(date +%s)
bin=bin/mxsensor
go build -o "$bin" ./cmd/mxsensor
gen=${GENSCENARIO:-$work/genscenario}
[ -n "${GENSCENARIO:-}" ] || go build -o "$gen" ./tools/genscenario

# Tables 1 and 3: seed, mix, density of 3000 hosts over 1 hour.
old_specs="1 default 1
2 default 1
3 default 1
8 default 2
11 default 2
7 default 3
9 default 3
12 default 3
5 windows-heavy 1
13 windows-heavy 3
6 6to4-heavy 1
14 6to4-heavy 3
4 hard 1
10 hard 2
15 hard 3"
ablation_specs="2 default 1
9 default 3
10 hard 2"
evidence="embedded order stack clock port retrans history asn ptr"
scen() { echo "$work/sc-$1-$2-$3"; } # seed mix density
# analysis DIR MODE EXTRA-FLAGS...: the output directory, then the analyze
# flags, of one run.
analysis() {
	d=$1 mode=$2
	shift 2
	printf '%s ' "$d/out-$mode-$(echo "$*" | tr -c 'a-z0-9\n' '_')"
	case $mode in
	naive) echo --mode naive "$@" ;;
	full) echo --mode full "$@" ;;
	names) echo --mode full --asn-table "$d/asn.txt" --ptr-table "$d/ptr.txt" "$@" ;;
	esac
}
out() { analysis "$@" | cut -d' ' -f1; }
row() { # OUT: the columns of one run
	if [ -f "$1/eval.json" ]; then
		eval_fields "$1/eval.json" Precision Recall AddrPrecision AddrRecall HostPrecision HostRecall HostF1 | sed 's/ / | /g; s/$/ |/'
	else
		echo "failed | | | | | | |"
	fi
}

# Families: scenarios FAMILY-MIX-SEED.
families="sparse dense very-dense"
mixes=
for m in default repeaters adversarial; do
	if mix_ok "$gen" "$m"; then mixes="$mixes $m"; fi
done
dev="101 102 103 104 105"
held="201 202 203 204 205"
fam_dir() { echo "$work/$1-$2-$3"; } # family mix seed

# Generate what is missing.
printf '%s\n%s\n' "$old_specs" "$ablation_specs" | sort -u | while read -r seed mix dens; do
	echo "$gen $(scen "$seed" "$mix" "$dens") -seed $seed -mix $mix -density $dens -hosts 3000 -duration 1h"
done | in_parallel gen
for f in $families; do
	for m in $mixes; do
		for s in $dev $held; do
			echo "$gen $(fam_dir "$f" "$m" "$s") -seed $s -mix $m $(family_flags "$f")"
		done
	done
done | in_parallel gen

# Run every analysis once (table 3's "none" rows are table 1's names rows).
{
	echo "$old_specs" | while read -r seed mix dens; do
		d=$(scen "$seed" "$mix" "$dens")
		for m in naive full names; do echo "$bin $d $(analysis "$d" "$m")"; done
	done
	echo "$ablation_specs" | while read -r seed mix dens; do
		d=$(scen "$seed" "$mix" "$dens")
		echo "$bin $d $(analysis "$d" names --min-score 0.5)"
		for e in $evidence; do echo "$bin $d $(analysis "$d" names --disable-evidence "$e" --min-score 0.5)"; done
	done
	for f in $families; do
		for m in $mixes; do
			for s in $dev $held; do
				d=$(fam_dir "$f" "$m" "$s")
				for mode in naive full; do echo "$bin $d $(analysis "$d" "$mode")"; done
			done
		done
	done
} | sort -u | in_parallel run

echo "| seed | mix | density | mode | P | R | addr P | addr R | host P | host R | host F1 |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
echo "$old_specs" | while read -r seed mix dens; do
	for m in naive full names; do
		printf '| %s | %s | %s | %s | ' "$seed" "$mix" "$dens" "$m"
		row "$(out "$(scen "$seed" "$mix" "$dens")" "$m")"
	done
done

# family_table SEEDS: one row per family and mix, the mean over SEEDS of
# each mode's scores, and the largest calibration error of one seed (seeds
# whose run failed are left out of the mean and the count).
family_table() {
	echo "| family | mix | seeds | naive addr P | naive addr R | naive host F1 | naive Brier | addr P | addr R | host F1 | Brier | max cal. err | worst seed | chance p90 |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
	for f in $families; do
		for m in $mixes; do
			for s in $1; do
				d=$(fam_dir "$f" "$m" "$s")
				n=$(out "$d" naive)/eval.json e=$(out "$d" full)/eval.json
				if [ -f "$n" ] && [ -f "$e" ]; then
					echo "$(eval_fields "$n" AddrPrecision AddrRecall HostF1 Brier) $(eval_fields "$e" AddrPrecision AddrRecall HostF1 Brier MaxCalibrationError CalibrationNoise)"
				fi
			done | awk -v label="$f | $m" '
				{ for (i = 1; i <= NF; i++) sum[i] += $i; if ($9 > worst) worst = $9; n++ }
				END {
					printf "| %s | %d |", label, n
					for (i = 1; i <= 10; i++) {
						if (n) printf " %.4f |", sum[i] / n; else printf " - |"
						if (i == 9) { if (n) printf " %.4f |", worst; else printf " - |" }
					}
					print ""
				}'
		done
	done
}
echo
echo "Development seeds ($dev), mean over the seeds; naive is --mode naive, the others --mode full:"
echo
family_table "$dev"
echo
echo "Held-out seeds ($held), mean over the seeds:"
echo
family_table "$held"

echo
echo "| seed | mix | density | evidence off | P | R | addr P | addr R | host P | host R | host F1 |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
echo "$ablation_specs" | while read -r seed mix dens; do
	d=$(scen "$seed" "$mix" "$dens")
	for e in none $evidence; do
		printf '| %s | %s | %s | %s | ' "$seed" "$mix" "$dens" "$e"
		if [ "$e" = none ]; then row "$(out "$d" names --min-score 0.5)"; else row "$(out "$d" names --disable-evidence "$e" --min-score 0.5)"; fi
	done
done
echo "assoc-table: $(($(date +%s) - started)) s (scenarios in $work)" >&2
