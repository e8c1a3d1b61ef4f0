#!/bin/bash
# Bad input: unknown network, missing plugin, a plugin printing garbage or failing without
# JSON, a plugin's own error, unsupported versions, invalid and duplicate configs.  Each gives
# a clear error naming the file/field or plugin, and leaves no half-attached container.
source "$(dirname "$0")/lib-core.bash"
core_setup

# mkbad NAME SHELL-FOR-ADD: a plugin that answers VERSION and does SHELL-FOR-ADD on ADD.
mkbad() {
	cat >"$D/plugins/$1" <<SH
#!/bin/bash
cat >/dev/null
case "\$CNI_COMMAND" in
VERSION) echo '{"cniVersion":"1.0.0","supportedVersions":["0.3.1","0.4.0","1.0.0"]}' ;;
ADD) $2 ;;
esac
exit 0
SH
	chmod +x "$D/plugins/$1"
}
mkbad garbage 'echo "this is not json"'
mkbad failtext 'echo boom >&2; exit 3'
mkbad failjson 'echo "{\"code\":7,\"msg\":\"bad thing\",\"details\":\"more\"}"; exit 1'
mkbad badresult 'echo "{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"nonsense\"}]}"'
mkbad failcode 'echo "{\"code\":11}"; exit 1'
cat >"$D/plugins/oldver" <<'SH'
#!/bin/bash
cat >/dev/null
echo '{"cniVersion":"0.3.0","supportedVersions":["0.3.0"]}'
SH
chmod +x "$D/plugins/oldver"

nothing_left() { # DESC: no eth0 in the container, no veth on the bridge, no cache, no IP
	local leftover=""
	ip -n "$C" link show eth0 >/dev/null 2>&1 && leftover+=" eth0"
	[ "$(ip -n "$H" -o link show master "$BR" 2>/dev/null | wc -l)" -eq 0 ] || leftover+=" veth"
	[ "$(ls "$D/cache/results" 2>/dev/null | wc -l)" -eq 0 ] || leftover+=" cache"
	[ "$(ls "$D/ipam/$NET" 2>/dev/null | grep -c '^10\.')" -eq 0 ] || leftover+=" ip"
	is "$leftover" "" "$1: nothing left behind"
}
add() { berth net add "$NET" --container c$T --netns "/run/netns/$C" "$@" 2>&1 | tr "\n" " "; return ${PIPESTATUS[0]}; }

# the caller's own netns (here H, the test's "host") is no container's
write_conflist 1.0.0
err=$(berth net add "$NET" --container c$T --netns "/run/netns/$H" 2>&1)
is $? 1 "a netns that is berth's own is refused"
grep -q "^berth: --netns /run/netns/$H is berth's own network namespace" <<<"$err"; ok $? "with a clear message, before any plugin ran: $err"
is "$(ip -n "$H" -o link show type veth | wc -l)" 0 "and no veth was created"
err=$(berth net add "$NET" --container c$T --netns "/run/netns/nosuch$T" 2>&1)
is $? 1 "a netns that does not exist is refused"
grep -q "^berth: --netns /run/netns/nosuch$T: No such file" <<<"$err"; ok $? "naming it: $err"
nothing_left "missing netns"

err=$(berth net add nosuch$T --container c$T --netns "/run/netns/$C" 2>&1)
is $? 1 "unknown network fails"
grep -q "network \"nosuch$T\" not found in $D/net.d" <<<"$err"; ok $? "named in the error: $err"

for bad in nosuchplugin garbage failtext badresult failcode failjson; do
	write_conflist 1.0.0 ',{"type":"'$bad'"}'
	err=$(add); rc=$?
	is $rc 1 "$bad: ADD fails"
	case $bad in
	nosuchplugin) pat="plugin nosuchplugin (plugins\[1\]) not found in" ;;
	garbage) pat="plugin garbage (plugins\[1\]) ADD: output is not a JSON object" ;;
	failtext) pat="plugin failtext (plugins\[1\]) ADD failed with exit status 3 and no error JSON: boom" ;;
	failjson) pat="plugin failjson (plugins\[1\]) ADD: bad thing" ;;
	badresult) pat="plugin badresult (plugins\[1\]) ADD: invalid result: .*invalid CIDR address: nonsense" ;;
	failcode) pat="plugin failcode (plugins\[1\]) ADD failed with error code 11 and no message" ;;
	esac
	grep -q "$pat" <<<"$err"; ok $? "$bad: clear error: $err"
	nothing_left "$bad"
	# the runtime's DEL after the failed ADD, twice: succeeds and leaves nothing
	for i in 1 2; do
		check "$bad: net del $i after the failed add" -- berth net del "$NET" --container c$T --netns "/run/netns/$C"
	done
	nothing_left "$bad, after the DELs"
done
out=$(berth net add "$NET" --container c$T --netns "/run/netns/$C" --json 2>/dev/null)
is "$(jget "$out" '.code')/$(jget "$out" '.details')" "7/more" "--json error carries the plugin's code and details"

write_conflist 1.0.0 ',{"type":"oldver"}'
err=$(add)
grep -q "plugin oldver (plugins\[1\]) does not support cniVersion 1.0.0" <<<"$err"
ok $? "VERSION validation before use: $err"
nothing_left "unsupported plugin version"
for i in 1 2; do
	check "unsupported plugin version: net del $i after the failed add" -- berth net del "$NET" --container c$T --netns "/run/netns/$C"
done
nothing_left "unsupported plugin version, after the DELs"

# invalid configs
F=$D/net.d/10-$NET.conflist
cfgerr() { # JSON PATTERN DESC
	printf '%s' "$1" >"$F"
	local e; e=$(add); local rc=$?
	if [ $rc -eq 1 ] && grep -q -- "$2" <<<"$e"; then ok 0 "$3"; else ok 1 "$3"; echo "#   rc=$rc: $e"; fi
}
cfgerr '{"cniVersion":"9.9.9","name":"'$NET'","plugins":[{"type":"bridge"}]}' "$F: cniVersion: unsupported version \"9.9.9\"" "bad cniVersion names file and field"
cfgerr '{"cniVersion":"1.0.0","name":"'$NET'","plugins":[{"bridge":"x"}]}' "$F: plugins\[0\].type: missing" "missing plugin type names file and field"
cfgerr '{"cniVersion":"1.0.0","name":"'$NET'"}' "$F: plugins: missing" "missing plugins names file and field"
cfgerr '{"cniVersion":"1.0.0","name":"'$NET'","plugins":[{"type":"bridge"}],"disableCheck":"maybe"}' "$F: disableCheck: must be true or false" "bad boolean"
printf '{"cniVersion":"1.0.0","name":"%s",' "$NET" >"$F"
e=$(add); grep -q "$F: invalid JSON at line 1" <<<"$e"; ok $? "broken JSON: $e"
printf '{"cniVersion":"1.0.0","plugins":[{"type":"bridge"}]}' >"$F"
e=$(berth net ls 2>&1 >/dev/null); grep -q "$F: name: missing" <<<"$e"; ok $? "net ls reports a nameless file: $e"
write_conflist 1.0.0
cp "$F" "$D/net.d/20-dup.conflist"
e=$(add); is $? 1 "duplicate network name refused"
grep -q "$D/net.d/20-dup.conflist: name: network \"$NET\" is already defined by $F" <<<"$e"; ok $? "naming both files: $e"
e=$(berth net ls 2>&1 >/dev/null)
grep -q "skipped $D/net.d/20-dup.conflist: name: network \"$NET\" is already defined by $F" <<<"$e"; ok $? "net ls names the duplicate's file: $e"
is "$(berth net ls --json 2>/dev/null | jq -r '.[] | select(.file) | .file')" "$D/net.d/20-dup.conflist" "net ls --json: the duplicate's file"
rm "$D/net.d/20-dup.conflist"
# cniVersions: the highest supported one wins, unknown newer ones are dropped
echo '{"cniVersion":"0.4.0","cniVersions":["1.0.0","0.3.1","7.0.0"],"name":"v'$T'","plugins":[{"type":"bridge"}]}' >"$D/net.d/30-v.conflist"
is "$(berth net ls --json | jq -r ".[] | select(.name==\"v$T\") | .cniVersion")" 1.0.0 "cniVersions negotiation picks 1.0.0"

# libcni 1.3: plugin configs in <confdir>/<network>/*.conf are appended, unless
# loadOnlyInlinedPlugins; a list may then have no inline plugins at all
mkdir -p "$D/net.d/sib$T"
echo '{"type":"c"}' >"$D/net.d/sib$T/20-c.conf"
echo '{"type":"b"}' >"$D/net.d/sib$T/10-b.conf"
echo '{"cniVersion":"1.0.0","name":"sib'$T'","plugins":[{"type":"a"}]}' >"$D/net.d/40-sib.conflist"
is "$(berth net show sib$T --json | jq -r '[.config.plugins[].type] | join(",")')" a,b,c "sibling dir plugins appended in file-name order"
echo '{"cniVersion":"1.0.0","name":"sib'$T'","loadOnlyInlinedPlugins":"true","plugins":[{"type":"a"}]}' >"$D/net.d/40-sib.conflist"
is "$(berth net show sib$T --json | jq -r '[.config.plugins[].type] | join(",")')" a "loadOnlyInlinedPlugins keeps only the inline ones"
echo '{"cniVersion":"1.0.0","name":"sib'$T'"}' >"$D/net.d/40-sib.conflist"
is "$(berth net show sib$T --json | jq -r '[.config.plugins[].type] | join(",")')" b,c "a list without inline plugins takes the directory's"
echo '{"type":' >"$D/net.d/sib$T/30-bad.conf"
e=$(berth net show sib$T 2>&1); grep -q "$D/net.d/sib$T/30-bad.conf:" <<<"$e"; ok $? "a broken sibling config is named: $e"
rm -r "$D/net.d/sib$T" "$D/net.d/40-sib.conflist"

# CHECK notices what is gone
write_conflist 1.0.0
check "ADD" -- berth net add "$NET" --container c$T --netns "/run/netns/$C"
check "CHECK passes" -- berth net check "$NET" --container c$T
ip -n "$C" link del eth0
e=$(berth net check "$NET" --container c$T 2>&1); is $? 1 "CHECK fails once eth0 is gone"
grep -q "plugin bridge (plugins\[0\]) CHECK" <<<"$e"; ok $? "naming the plugin: $e"
check "DEL still succeeds" -- berth net del "$NET" --container c$T
nothing_left "after DEL"
done_testing
