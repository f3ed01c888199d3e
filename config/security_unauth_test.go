package config

import (
	"errors"
	"testing"
)

// The connection caps against descriptor exhaustion need nothing set, and
// a bad value names its variable.
func TestConnectionCapSettings(t *testing.T) {
	c, err := Parse(MapLookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxConnections != 0 || c.SSHConnsPerAddress != 64 || c.HTTPConnsPerAddress != 256 {
		t.Fatalf("defaults: %d %d %d", c.MaxConnections, c.SSHConnsPerAddress, c.HTTPConnsPerAddress)
	}
	c, err = Parse(MapLookup(map[string]string{"LAMB_MAX_CONNECTIONS": "5000",
		"LAMB_SSH_CONNECTIONS_PER_ADDRESS": "8", "LAMB_HTTP_CONNECTIONS_PER_ADDRESS": "1000"}))
	if err != nil || c.MaxConnections != 5000 || c.SSHConnsPerAddress != 8 || c.HTTPConnsPerAddress != 1000 {
		t.Fatalf("set: %+v, %v", c, err)
	}
	for _, name := range []string{"LAMB_MAX_CONNECTIONS", "LAMB_SSH_CONNECTIONS_PER_ADDRESS", "LAMB_HTTP_CONNECTIONS_PER_ADDRESS"} {
		_, err := Parse(MapLookup(map[string]string{name: "0"}))
		var ve *VarError
		if !errors.As(err, &ve) || ve.Var != name {
			t.Errorf("%s=0: %v", name, err)
		}
	}
}
