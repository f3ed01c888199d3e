package sshserver

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"lamb/service"
)

// A command that met an unreachable database prints that, and what to do,
// on stderr; the driver's words (the database server's address) go to the
// log only.
func TestUnreachableDatabaseCommandLine(t *testing.T) {
	cause := errors.New("failed to connect to `user=lamb database=lamb`: 10.0.0.7:5432: dial error: connect: connection refused")
	err := fmt.Errorf("list orgs: %w", fmt.Errorf("%w: %w", service.ErrUnavailable, cause))
	msg, logged := errorLine(err, service.Actor{Role: service.RoleSystemAdmin}, "org list")
	if !strings.Contains(msg, "can't reach its database") || !strings.Contains(msg, "try again") || strings.Contains(msg, "10.0.0.7") {
		t.Fatalf("stderr line %q", msg)
	}
	if !logged {
		t.Fatal("the cause is not logged")
	}
}
