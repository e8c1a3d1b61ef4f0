#!/bin/bash
# A plugin that hangs is killed after the timeout and named in the error; the plugins that
# ran before it (and the hung one) get a DEL; nothing is cached; no plugin process is left.
# The timeouts (5 s, 4.5 s) apply to every plugin of the chain: they stay far above what a
# bash plugin needs on a loaded machine, so that only the hung plugin can reach them.
source "$(dirname "$0")/lib-core.bash"
core_setup
mkrecorder rec-a
mkrecorder rec-b
cat >"$D/plugins/hang" <<SH
#!/bin/bash
f="$D/rec/\$(printf %03d \$(ls "$D/rec" | grep -c 'json\$'))-\$CNI_COMMAND-hang.json"
cat > "\$f"
case "\$CNI_COMMAND" in
VERSION) echo '{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}' ;;
ADD) exec -a hang$T sleep 3600 ;;
esac
exit 0
SH
chmod +x "$D/plugins/hang"
echo '{"cniVersion":"1.0.0","name":"'$NET'","plugins":[{"type":"rec-a"},{"type":"hang"},{"type":"rec-b"}]}' \
	>"$D/net.d/10-$NET.conflist"
defer "pkill -KILL -f hang$T"

err=$(berth --timeout 5 net add "$NET" --container c$T --netns "/run/netns/$C" 2>&1)
is $? 1 "ADD fails"
grep -q "plugin hang (plugins\[1\]) ADD timed out after 5000 ms and was killed" <<<"$err"
ok $? "the error names the plugin and the timeout: $err"
pgrep -f "hang$T" >/dev/null
ok "$([ $? -ne 0 ]; echo $?)" "the hung plugin process is gone"
is "$(rec_order ADD)" "rec-a hang " "rec-b never ran"
is "$(rec_order DEL)" "hang rec-a " "DEL for the hung plugin and the one before it, in reverse"
is "$(ls "$D/cache/results" 2>/dev/null | wc -l)" 0 "no cache entry"

# The same with the timeout from the environment.
rm -f "$D"/rec/*
err=$(ip netns exec "$H" env BERTH_PLUGIN_TIMEOUT=4.5 "$BERTH_BIN" --config-dir "$D/net.d" --cache-dir "$D/cache" \
	--plugin-path "$D/plugins" net add "$NET" --container c$T --netns "/run/netns/$C" 2>&1)
grep -q "timed out after 4500 ms" <<<"$err"
ok $? "BERTH_PLUGIN_TIMEOUT=4.5 applies: $err"
done_testing
