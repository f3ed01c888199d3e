package console

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Terminal escape injection from a network peer: the model ids a provider
// lists, and the error it answers with, reach the Providers screen, the
// status line and the dashboard. A hostile provider (or one in the path)
// must not get its escape sequences run on the admin's terminal: ids that
// carry them are left out of the picker, and errors are drawn escaped.
const peerPayload = "\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGUveC5zaCB8IHNo\x07\x1b]0;X\x07\x1b[2J\u009b\u202e\r\b"

// hostilePeer answers /models with ids that carry the payload, and chat
// with an error whose message carries it.
func hostilePeer(t *testing.T, fail bool) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if fail {
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": "PeerError" + peerPayload, "type": "invalid_request_error"}})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": []map[string]any{
			{"id": "gpt-a", "object": "model"}, {"id": "gpt" + peerPayload, "object": "model"}, {"id": "b\u202e", "object": "model"}}})
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/v1"
}

// rawControl returns what of the payload is in a view, or "". Styles
// send SGR sequences (ESC [ … m) and nothing else.
func rawControl(view string) string {
	for _, bad := range []string{"\x1b]", "\x07", "\x1b[2J", "\u009b", "\u202e", "\r", "\b"} {
		if strings.Contains(view, bad) {
			return bad
		}
	}
	return ""
}

func TestProviderModelListFromPeerIsNeverObeyed(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	fp := e.createUser("physics", "prof@uni.example", "admin", "")
	e.enableProviderAt("physics", "default", "openai", hostilePeer(t, false), "gpt-a")
	d := e.console(e.actor(fp))
	d.tab("Providers")
	d.press("t")
	d.want("Models served by openai in setup default", "gpt-a", "2 more left out")
	d.wantNot("gpt\\u001b")
	if bad := rawControl(d.m.View()); bad != "" {
		t.Fatalf("the picker sends %q raw:\n%q", bad, d.m.View())
	}
}

func TestProviderErrorFromPeerIsNeverObeyed(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	fp := e.createUser("physics", "prof@uni.example", "admin", "")
	e.enableProviderAt("physics", "default", "openai", hostilePeer(t, true), "gpt-a")
	d := e.console(e.actor(fp))
	d.tab("Providers")
	d.press("t")
	d.want("PeerError")
	if bad := rawControl(d.m.View()); bad != "" {
		t.Fatalf("the provider's error is sent raw (%q):\n%q", bad, d.m.View())
	}
	d.tab("Dashboard")
	d.want("test failed", "PeerError")
	if bad := rawControl(d.m.View()); bad != "" {
		t.Fatalf("the dashboard sends the provider's error raw (%q):\n%q", bad, d.m.View())
	}
}
