package netguard

import (
	"errors"
	"net/netip"
	"testing"
)

// Attack: an org admin points the alerts' webhook at lamb's own network —
// the cloud's metadata service (169.254.169.254), a database on
// localhost, a private range — written in any notation a resolver reads.
func TestWebhookTargetsInsideTheNetworkAreRefused(t *testing.T) {
	for _, host := range []string{
		"127.0.0.1", "localhost", "LOCALHOST.", "api.localhost", "[::1]", "::1", "169.254.169.254", "[fe80::1]",
		"10.0.0.5", "172.16.3.4", "192.168.1.1", "100.64.0.1", "0.0.0.0", "[::]", "[::ffff:127.0.0.1]", "[fd00::1]",
		"224.0.0.1", "127.1", "0x7f.0.0.1", "2130706433", "017700000001",
	} {
		if err := CheckHost(host); !errors.Is(err, ErrBlocked) {
			t.Errorf("CheckHost(%q) = %v, want ErrBlocked", host, err)
		}
	}
	for _, host := range []string{"hooks.example.com", "8.8.8.8", "[2001:4860:4860::8888]", "example.com.", "a1.example.org"} {
		if err := CheckHost(host); err != nil {
			t.Errorf("CheckHost(%q) = %v, want nil", host, err)
		}
	}
}

func TestControlRefusesBlockedAddressesAfterResolution(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:80", "[::1]:443", "169.254.169.254:80", "10.1.2.3:8080", "[::ffff:10.0.0.1]:80"} {
		if err := Control("tcp", addr, nil); !errors.Is(err, ErrBlocked) {
			t.Errorf("Control(%q) = %v, want ErrBlocked", addr, err)
		}
	}
	if err := Control("tcp", "93.184.216.34:443", nil); err != nil {
		t.Errorf("Control(public) = %v", err)
	}
	if err := Control("tcp", "no-port", nil); err == nil {
		t.Error("Control(no port) = nil")
	}
}

func TestBlockedZeroAddress(t *testing.T) {
	if !Blocked(netip.Addr{}) {
		t.Error("the zero Addr is not blocked")
	}
}
