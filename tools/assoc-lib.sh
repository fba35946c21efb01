# Shared by tools/assoc-table.sh and tools/assoc-dev.sh (sourced): scenario
# families, scenarios generated once and kept, analyze + eval jobs run two
# at a time (the machine has 2 cores). xargs runs its jobs as
# `sh tools/assoc-lib.sh gen|run ARGS...`.

assoc_lib=tools/assoc-lib.sh
assoc_jobs=2

# family_flags FAMILY: the genscenario flags of a scenario family.
family_flags() {
	case $1 in
	sparse) echo "-hosts 800 -duration 12h -density 1" ;;
	dense) echo "-hosts 4000 -duration 4h -density 1" ;;
	very-dense) echo "-hosts 6000 -duration 2h -density 2" ;;
	*) echo "unknown family $1" >&2 && return 1 ;;
	esac
}

# gen_one GENSCENARIO DIR FLAGS...: generates DIR unless it is there. It is
# written aside and renamed, so a DIR that exists is complete.
gen_one() {
	g=$1 d=$2
	shift 2
	[ -d "$d" ] && return 0
	rm -rf "$d.tmp"
	if "$g" "$@" -out "$d.tmp" >/dev/null 2>"$d.log"; then
		mv "$d.tmp" "$d" && rm -f "$d.log"
	else
		echo "genscenario $*: $(tail -n 1 "$d.log")" >&2
		rm -rf "$d.tmp"
	fi
}

# run_one MXSENSOR DIR OUT ANALYZE-FLAGS...: analyzes DIR's capture into OUT
# and scores it into OUT/eval.json, which only a run that succeeded leaves.
run_one() {
	b=$1 d=$2 o=$3
	shift 3
	rm -rf "$o"
	if "$b" analyze --pcap "$d/syns.pcap" --reject-log "$d/mail.log" --tz UTC --out "$o" --no-report "$@" 2>"$o.log" &&
		"$b" eval --truth "$d/truth.jsonl" --associations "$o/associations.jsonl" --json >"$o/eval.tmp" 2>>"$o.log"; then
		mv "$o/eval.tmp" "$o/eval.json" && rm -f "$o.log"
	else
		echo "analyze $d $*: failed, see $o.log" >&2
	fi
}

# in_parallel gen|run: runs the jobs read from stdin, one a line (its
# arguments, no blanks inside them), two at a time. A failed job is
# reported and leaves no output; the others go on. (xargs -L joins a line
# that ends in a blank to the next: hence the sed.)
in_parallel() {
	sed 's/[[:blank:]]*$//' | xargs -P "$assoc_jobs" -L 1 sh "$assoc_lib" "$1" || true
}

# mix_ok GENSCENARIO MIX: whether genscenario knows the mix (asked with a
# tiny scenario); notes on stderr that its rows are skipped if not.
mix_ok() {
	t=$(mktemp -d)
	if "$1" -mix "$2" -hosts 20 -duration 1m -out "$t/s" >/dev/null 2>"$t/err"; then
		rm -rf "$t"
		return 0
	fi
	echo "note: genscenario rejects -mix $2 ($(tail -n 1 "$t/err")): its scenarios are skipped" >&2
	rm -rf "$t"
	return 1
}

# eval_fields FILE KEY...: the top-level numbers KEY... of an eval.json,
# 4 decimals, blank-separated (awk: a python3 per row is slow to start).
eval_fields() {
	f=$1
	shift
	tr ',{}[]' '\n\n\n\n\n' <"$f" | awk -F: -v keys="$*" '
		{ gsub(/"/, "", $1); if (!($1 in v)) v[$1] = $2 }
		END { n = split(keys, k, " "); for (i = 1; i <= n; i++) printf "%s%.4f", (i > 1 ? " " : ""), v[k[i]]; print "" }'
}

case $0 in
*assoc-lib.sh)
	job=$1
	shift
	case $job in
	gen) gen_one "$@" ;;
	run) run_one "$@" ;;
	esac
	;;
esac
