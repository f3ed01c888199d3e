package api

// Tests of gateway rules that a deliberate break of the code once left
// unnoticed: each fails when its rule is removed from service.

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"lamb/service"
)

// modelIDs lists the ids GET /v1/models answers to key.
func (e *gwEnv) modelIDs(key string) []string {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/v1/models", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		e.t.Fatalf("GET /v1/models: %d %v", resp.StatusCode, err)
	}
	var ids []string
	for _, d := range out.Data {
		ids = append(ids, d.ID)
	}
	slices.Sort(ids)
	return ids
}

// An org key may call every assistant of its org, but not one whose owner
// was disabled: disabling a person stops their assistants at once.
func TestDisabledOwnersAssistantIsNotCallable(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	ctx := context.Background()
	a := e.assistant(e.members["acme"], service.AssistantInput{})
	orgKey := e.apiKey(e.admins["acme"], false)
	body := `{"model":"` + a.Model + `","messages":[{"role":"user","content":"hi"}]}`
	if resp, b := e.post(orgKey, body); resp.StatusCode != 200 {
		t.Fatalf("before disabling the owner: %d %v", resp.StatusCode, b)
	}
	if _, err := e.svc.SetUserEnabled(ctx, e.admins["acme"], "member@acme.example", false); err != nil {
		t.Fatal(err)
	}
	calls := e.fake.Requests()
	if resp, b := e.post(orgKey, body); resp.StatusCode != 404 || errCode(b) != "model_not_found" {
		t.Fatalf("disabled owner's assistant: %d %v, want 404 model_not_found", resp.StatusCode, b)
	}
	if e.fake.Requests() != calls {
		t.Fatal("the provider was called for a disabled owner's assistant")
	}
}

// /v1/models lists what a call would answer, so neither a disabled
// assistant nor the assistant of a disabled owner is listed.
func TestModelsListsNoDisabledAssistantOrOwner(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	ctx := context.Background()
	live := e.assistant(e.admins["acme"], service.AssistantInput{Name: "Live"})
	off := e.assistant(e.admins["acme"], service.AssistantInput{Name: "Off"})
	ownerOff := e.assistant(e.members["acme"], service.AssistantInput{Name: "Owner off"})
	orgKey := e.apiKey(e.admins["acme"], false)
	all := []string{live.Model, off.Model, ownerOff.Model}
	slices.Sort(all)
	if got := e.modelIDs(orgKey); !slices.Equal(got, all) {
		t.Fatalf("before: models %v, want %v", got, all)
	}
	if err := e.svc.SetAssistantEnabled(ctx, e.admins["acme"], off.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetUserEnabled(ctx, e.admins["acme"], "member@acme.example", false); err != nil {
		t.Fatal(err)
	}
	if got := e.modelIDs(orgKey); !slices.Equal(got, []string{live.Model}) {
		t.Fatalf("models %v, want only %s", got, live.Model)
	}
}

// A non-streaming client that hangs up while the provider works is
// recorded as client_closed (not a provider failure) and charged an
// estimate: the provider had the request, so it is never free.
func TestClientLeavingMidCallIsChargedAsClientClosed(t *testing.T) {
	e := newGwEnv(t, 10*time.Second)
	ctx := context.Background()
	a := e.assistant(e.members["acme"], service.AssistantInput{})
	e.fake.Hold()
	defer e.fake.Release()
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := e.client(e.apiKey(e.members["acme"], true)).CreateChatCompletion(cctx, openai.ChatCompletionRequest{
			Model: a.Model, Messages: []openai.ChatCompletionMessage{{Role: "user", Content: strings.Repeat("explain gravity ", 50)}}})
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for e.fake.Requests() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the provider never got the request")
		}
		time.Sleep(5 * time.Millisecond) // poll interval
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the client's call didn't end when it cancelled")
	}
	for e.fake.Cancelled() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the provider call was not cancelled")
		}
		time.Sleep(5 * time.Millisecond) // poll interval
	}
	e.svc.Close() // flushes usage
	db := e.rawDB()
	var status string
	var httpStatus, prompt, estimated int64
	if err := db.QueryRow(`SELECT status, http_status, prompt_tokens, estimated FROM usage_events WHERE assistant_id = ?`, a.ID).
		Scan(&status, &httpStatus, &prompt, &estimated); err != nil {
		t.Fatal(err)
	}
	if status != "client_closed" || httpStatus != 499 {
		t.Errorf("recorded as %s (%d), want client_closed (499)", status, httpStatus)
	}
	if prompt == 0 || estimated != 1 {
		t.Errorf("charged %d prompt tokens, estimated=%d: a call the provider worked on must be charged an estimate", prompt, estimated)
	}
	if used := e.tokensThisMonth("acme"); used == 0 {
		t.Error("the org's month shows no tokens for the abandoned call")
	}
}

// A request whose key was checked just before its org was suspended is
// refused at routing: the assistant of a suspended org isn't called, even
// by a caller that authenticated a moment earlier.
func TestRequestInFlightWhenOrgIsSuspendedIsRefused(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	ctx := context.Background()
	a := e.assistant(e.members["acme"], service.AssistantInput{})
	caller, err := e.svc.Authenticate(ctx, e.apiKey(e.admins["acme"], false))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetOrgSuspended(ctx, e.root, "acme", true); err != nil {
		t.Fatal(err)
	}
	req, err := service.NewChatRequest([]byte(`{"model":"` + a.Model + `","messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Chat(ctx, caller, req)
	var ge *service.GatewayError
	if !errors.As(err, &ge) || ge.Status != 404 || ge.Code != "model_not_found" {
		t.Fatalf("suspended org's assistant: %v, want 404 model_not_found", err)
	}
	if e.fake.Requests() != 0 {
		t.Fatal("the provider was called for a suspended org's assistant")
	}
}
