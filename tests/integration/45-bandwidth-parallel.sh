#!/bin/bash
# 64 bandwidth ADDs at once on one network (each its own container netns and veth into the
# throwaway host netns), then 64 DELs at once: every call succeeds, every container gets its
# own ifb and both tbfs with the configured values, and afterwards no qdisc and no ifb is left.
source "$(dirname "$0")/lib-bw.bash"
bw_setup
N=${N_PARALLEL:-64}
NET=bwp$T
X='{"ingressRate":8000000,"ingressBurst":80000,"egressRate":16000000,"egressBurst":160000}'
for i in $(seq 1 $N); do mkpair "pc$i$T" "ph$i$T" >/dev/null || { echo "Bail out! cannot create pair $i"; exit 1; }; done

for i in $(seq 1 $N); do
	bwcall "$BW" ADD "par$i" "pc$i$T" <<<"$(bwconf 1.0.0 "pc$i$T" "ph$i$T" "$X" "$NET")" >"$BWTMP/add.$i" 2>"$BWTMP/add.$i.err" &
done
fails=0
for job in $(jobs -p); do wait "$job" || fails=$((fails + 1)); done
is "$fails" 0 "$N parallel ADDs all succeed"
for i in $(seq 1 $N); do [ -s "$BWTMP/add.$i.err" ] && { diag "ADD $i: $(head -c 300 "$BWTMP/add.$i.err")"; break; }; done
is "$(ifbs | wc -l)" "$N" "$N ifbs"
want=""; for i in $(seq 1 $N); do want+="$(ifbname "$NET" "par$i")"$'\n'; done
is "$(ifbs)" "$(sort <<<"${want%$'\n'}")" "each named after its own container"
bad=0
for i in $(seq 1 $N); do
	[ "$(qd "ph$i$T" | sort | tr '\n' ';')" = "ingress ffff: ffff:fff1 - - -;tbf 1: root 1000000 10000 25000;" ] || bad=$((bad + 1))
	[ "$(redirects "ph$i$T")" = "u32 all 1 1:1 match 0/0 -> mirred:egress:redirect:$(ifbname "$NET" "par$i")" ] || bad=$((bad + 1))
	[ "$(qd "$(ifbname "$NET" "par$i")")" = "tbf 1: root 2000000 20000 25000" ] || bad=$((bad + 1))
done
is "$bad" 0 "every host veth has its tbf and its redirect to its own ifb, every ifb its tbf"
is "$(jq -r '.interfaces[3].name' "$BWTMP"/add.[0-9]* | sort -u | wc -l)" "$N" "$N distinct ifbs in the results"

for i in $(seq 1 $N); do
	bwcall "$BW" DEL "par$i" "pc$i$T" <<<"$(bwconf 1.0.0 "pc$i$T" "ph$i$T" "$X" "$NET")" >/dev/null 2>"$BWTMP/del.$i.err" &
done
fails=0
for job in $(jobs -p); do wait "$job" || fails=$((fails + 1)); done
is "$fails" 0 "$N parallel DELs all succeed"
is "$(ifbs)" "" "no ifb left"
left=0
for i in $(seq 1 $N); do [ -z "$(qd "ph$i$T" | grep -v '^noqueue')" ] || left=$((left + 1)); done
is "$left" 0 "no qdisc left on any host veth"
done_testing
