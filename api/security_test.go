package api

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Terminal escape injection through the public signup: anyone with a
// signup link could store a key comment, an email or a name that admins'
// consoles later draw. OSC 52 in the comment would have written their
// clipboard; U+009B is a one-byte CSI, U+202E reverses what follows.
const osc52Attack = "\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGUveC5zaCB8IHNo\x07\x1b]0;X\x07\x1b[2J"

func TestSignupRefusesEscapeInSSHKeyComment(t *testing.T) {
	e := newTestEnv(t)
	line, _ := newSSHKey(t, "laptop"+osc52Attack)
	base := signupFields("mallory@example.org")
	for _, c := range []struct {
		name, field string
		fields      map[string]any
	}{
		{"OSC 52 in the key comment", "ssh_public_key", with(base, "ssh_public_key", line)},
		{"C1 CSI in the email", "email", with(base, "email", "mallory\u009b2J@example.org")},
		{"bidi override in the email", "email", with(base, "email", "mallory\u202egro.elpmaxe@example.org")},
		{"escape in the name", "name", with(base, "name", "Mallory"+osc52Attack)},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.nextWindow()
			r := e.signup(t, c.fields)
			msg := wantError(t, r, http.StatusBadRequest, "invalid_request_error", "invalid_request_error")
			if !strings.HasPrefix(msg, c.field+": ") || !strings.Contains(msg, "control characters") {
				t.Fatalf("message %q doesn't say %s can't hold control characters", msg, c.field)
			}
			if strings.ContainsAny(string(r.body), "\x1b\x07\u009b\u202e") {
				t.Fatalf("the answer echoes the payload: %q", r.body)
			}
		})
	}
	// The HTML form takes the same way (the page it renders gives the
	// person back what they typed, for a browser).
	e.nextWindow()
	r := e.postForm(t, url.Values{"email": {"mallory@example.org"}, "name": {"Mallory"}, "password": {testPassword},
		"signup_key": {testSignupKey}, "ssh_public_key": {line}})
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "control characters") {
		t.Fatalf("form signup with an escape in the key comment: status %d", r.status)
	}
	if n := e.countUsers(t, ""); n != 1 {
		t.Fatalf("users = %d after refused signups, want only the system admin", n)
	}
}
