package tui

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"lamb/service"
)

// A database that went away shows as one status line that says so and
// what to do, never the driver's words (which name the database server).
func TestUnreachableDatabaseStatusLine(t *testing.T) {
	cause := errors.New("failed to connect to `user=lamb database=lamb`: 10.0.0.7:5432: dial error: connect: connection refused")
	err := fmt.Errorf("list users: %w", fmt.Errorf("%w: %w", service.ErrUnavailable, cause))
	got := ErrorText(err)
	if !strings.Contains(got, "can't reach its database") || !strings.Contains(got, "try again") {
		t.Fatalf("status line %q doesn't say the database is unreachable and what to do", got)
	}
	if strings.Contains(got, "10.0.0.7") || strings.Contains(got, "dial") {
		t.Fatalf("status line shows the driver's error: %q", got)
	}
}
