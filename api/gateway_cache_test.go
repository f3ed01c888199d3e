package api

import (
	"context"
	"testing"
	"time"

	"lamb/service"
)

// The gateway keeps keys, assistants and configs until they change: a
// revocation, a disabled assistant or owner through this process answer
// at once, with no cache time to wait out.
func TestChangesTakeEffectAtOnce(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	ctx := context.Background()
	a := e.assistant(e.members["acme"], service.AssistantInput{})
	key := e.apiKey(e.members["acme"], true)
	body := `{"model":"` + a.Model + `","messages":[{"role":"user","content":"hi"}]}`
	if resp, b := e.post(key, body); resp.StatusCode != 200 {
		t.Fatalf("warm-up: %d %v", resp.StatusCode, b)
	}
	if err := e.svc.SetAssistantEnabled(ctx, e.admins["acme"], a.ID, false); err != nil {
		t.Fatal(err)
	}
	if resp, b := e.post(key, body); resp.StatusCode != 404 {
		t.Fatalf("disabled assistant, no clock moved: %d %v", resp.StatusCode, b)
	}
	if err := e.svc.SetAssistantEnabled(ctx, e.admins["acme"], a.ID, true); err != nil {
		t.Fatal(err)
	}
	if resp, b := e.post(key, body); resp.StatusCode != 200 {
		t.Fatalf("enabled again: %d %v", resp.StatusCode, b)
	}
	if _, err := e.svc.SetUserEnabled(ctx, e.admins["acme"], "member@acme.example", false); err != nil {
		t.Fatal(err)
	}
	if resp, b := e.post(key, body); resp.StatusCode != 401 {
		t.Fatalf("key of a disabled user: %d %v", resp.StatusCode, b)
	}
}

// Another lamb process on the same database changes a row: this one
// notices within a second, through the change counter that triggers move.
// (A raw write stands in for the other process.)
func TestAnotherProcessesRevocationIsSeen(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	a := e.assistant(e.members["acme"], service.AssistantInput{})
	key := e.apiKey(e.members["acme"], true)
	body := `{"model":"` + a.Model + `","messages":[{"role":"user","content":"hi"}]}`
	if resp, b := e.post(key, body); resp.StatusCode != 200 {
		t.Fatalf("warm-up: %d %v", resp.StatusCode, b)
	}
	if _, err := e.rawDB().Exec(`UPDATE api_keys SET revoked_at = ? WHERE hash = ?`, time.Now().Unix(), service.HashAPIKey(key)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	code := 200
	for code == 200 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // poll interval
		resp, _ := e.post(key, body)
		code = resp.StatusCode
	}
	if code != 401 {
		t.Fatalf("a key revoked by another process still answers %d", code)
	}
}
