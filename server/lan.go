package server

import (
	"net"
	"net/netip"
	"strconv"
)

// servingURLs says where the server at addr (the listener's address) can
// be opened: local is the URL for this machine, room lists one URL per
// non-loopback interface address when the server listens on them (-lan,
// or an explicit non-loopback -addr), for the people in the room.
// Link-local IPv6 addresses are left out: a browser needs a zone to reach
// them.
func servingURLs(addr net.Addr, ifaceAddrs []net.Addr) (local string, room []string) {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return "http://" + addr.String(), nil
	}
	port := strconv.Itoa(int(ap.Port()))
	ip := ap.Addr().Unmap()
	url := func(a netip.Addr) string { return "http://" + net.JoinHostPort(a.String(), port) }
	switch {
	case ip.IsLoopback():
		return url(ip), nil
	case !ip.IsUnspecified():
		return url(ip), []string{url(ip)}
	}
	for _, ia := range ifaceAddrs {
		pfx, err := netip.ParsePrefix(ia.String())
		if err != nil {
			continue
		}
		a := pfx.Addr().Unmap()
		if a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsUnspecified() {
			continue
		}
		if ip.Is4() && !a.Is4() {
			continue // an IPv4-only listener is not reachable over IPv6
		}
		room = append(room, url(a))
	}
	return "http://" + net.JoinHostPort("127.0.0.1", port), room
}
