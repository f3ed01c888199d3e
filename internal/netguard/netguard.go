// Package netguard decides which addresses lamb may send requests to on
// behalf of an organization's admins (the budget alerts' webhook). An org
// admin is trusted with their org, not with the network lamb runs in: a
// webhook aimed at a loopback, link-local (where clouds serve instance
// metadata and credentials) or private address would make lamb a way into
// that network. Such addresses are refused unless the operator allows them
// (LAMB_WEBHOOK_ALLOW_PRIVATE).
package netguard

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
)

// ErrBlocked says an address is one lamb doesn't send org-configured
// requests to.
var ErrBlocked = errors.New("loopback, link-local and private addresses are refused (the operator can allow them with LAMB_WEBHOOK_ALLOW_PRIVATE=true)")

// shared is 100.64.0.0/10, carrier-grade NAT space (RFC 6598): internal
// to a provider's network, like private space.
var shared = netip.MustParsePrefix("100.64.0.0/10")

// Blocked reports whether ip is refused: loopback, link-local, private
// (RFC 1918, RFC 4193), shared, unspecified, multicast, and the IPv4 forms
// of those inside IPv6 (::ffff:127.0.0.1).
func Blocked(ip netip.Addr) bool {
	ip = ip.Unmap()
	return !ip.IsValid() || ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsPrivate() || ip.IsUnspecified() ||
		shared.Contains(ip) || (ip.Is4() && ip.As4()[0] == 0) // 0.0.0.0/8: "this network"
}

// CheckHost refuses a URL's host that is a blocked address written out,
// or a name of this machine (localhost). A name that resolves to a blocked
// address is refused when it is dialled (Control): resolving it here
// would prove nothing about later.
func CheckHost(host string) error {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return fmt.Errorf("%s names this machine: %w", host, ErrBlocked)
	}
	if ip, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil && Blocked(ip) {
		return fmt.Errorf("%s: %w", host, ErrBlocked)
	}
	// Forms of an IPv4 address that net/netip doesn't read but resolvers
	// do (127.1, 0x7f.0.0.1, 2130706433) are refused outright.
	if ip := net.ParseIP(h); ip == nil && looksNumeric(h) {
		return fmt.Errorf("%s is a numeric host that isn't a plain address: %w", host, ErrBlocked)
	}
	return nil
}

// looksNumeric reports whether a host is made only of digits, dots and
// hex letters after 0x: an address in a legacy notation, not a name.
func looksNumeric(h string) bool {
	if h == "" {
		return false
	}
	last := h[strings.LastIndex(h, ".")+1:]
	if last == "" {
		return false
	}
	// A DNS name's last label (a TLD) is never all digits; a legacy
	// address's is (or hex).
	if strings.HasPrefix(last, "0x") {
		return true
	}
	for _, r := range last {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// Control is a net.Dialer's Control that refuses blocked addresses. It
// sees the address being connected to after name resolution, so a name
// that resolves (or later re-resolves) to an internal address is refused
// too.
func Control(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("dial %s: %w", address, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || Blocked(ip) {
		return fmt.Errorf("dial %s: %w", address, ErrBlocked)
	}
	return nil
}
