# shellcheck shell=bash
# For the dhcp tests (31-dhcp, 49-dhcp-crash), after tests/lib.sh.
# dhcp_lan H S ADDR/PLEN: the LAN a DHCP server answers on, in netns of the test's own: netns H
# (the "host") with a bridge br0, netns S (the server's) whose eth0 holds ADDR/PLEN and is a veth
# into br0.  Both netns go at the end of the test (mknetns).
dhcp_lan() {
	mknetns "$1" && mknetns "$2" &&
		ip -n "$1" link add br0 type bridge && ip -n "$1" link set br0 up &&
		ip link add eth0 netns "$2" type veth peer name up0 netns "$1" &&
		ip -n "$1" link set up0 master br0 up &&
		ip -n "$2" addr add "$3" dev eth0 && ip -n "$2" link set eth0 up
}
