package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"lamb/service"
)

// The gateway matrix (DESIGN §7, routing rules 1 and 2): every kind of key
// × every state an assistant can be in × every endpoint, through real HTTP
// to the fake provider. A key that doesn't hold is 401 invalid_api_key
// whatever it asks for; an assistant the key may not call is 404
// model_not_found, the answer for one that doesn't exist, and isn't
// listed; a refused call never reaches the provider.

// The key kinds, in the column order of gatewayMatrix's rows.
var gwKeyKinds = []string{"org key A", "org key B", "owner's personal key", "another member's personal key",
	"revoked", "expired", "disabled user's personal key", "suspended org's key"}

// gwCell is what one key kind gets for one assistant: 200 (called, and
// listed by /v1/models), 404 model_not_found (not listed), or 401
// invalid_api_key (for /v1/models too).
type gwCell int

const (
	ok200 gwCell = 200
	nf404 gwCell = 404
	ik401 gwCell = 401
)

// gatewayMatrix is the answer of each key kind (in gwKeyKinds order) for
// each assistant state.
var gatewayMatrix = []struct {
	state string
	want  [8]gwCell
}{
	{"enabled", [8]gwCell{ok200, nf404, ok200, nf404, ik401, ik401, ik401, ik401}},
	{"disabled", [8]gwCell{nf404, nf404, nf404, nf404, ik401, ik401, ik401, ik401}},
	{"disabled owner", [8]gwCell{nf404, nf404, nf404, nf404, ik401, ik401, ik401, ik401}},
	{"deleted", [8]gwCell{nf404, nf404, nf404, nf404, ik401, ik401, ik401, ik401}},
	{"other org's", [8]gwCell{nf404, ok200, nf404, nf404, ik401, ik401, ik401, ik401}},
}

// buildGatewayMatrix makes the keys and assistants of the matrix: in acme
// an owner (member@acme), another member, and a user (gone@acme) disabled
// after making a personal key and an assistant; in beta an assistant of
// beta's member; org gamma, suspended after making an org key.
func buildGatewayMatrix(t *testing.T, e *gwEnv) (keys map[string]string, models map[string]string) {
	t.Helper()
	ctx := context.Background()
	owner := e.members["acme"]
	for _, email := range []string{"other@acme.example", "gone@acme.example"} {
		if _, err := e.svc.CreateUser(ctx, e.admins["acme"], service.CreateUserInput{OrgSlug: "acme", Email: email, Name: "User", SSHKey: mustKey(t)}); err != nil {
			t.Fatal(err)
		}
	}
	other, gone := e.actor("other@acme.example"), e.actor("gone@acme.example")
	if _, err := e.svc.CreateOrg(ctx, e.root, service.CreateOrgInput{Slug: "gamma", Name: "gamma",
		Admin: &service.NewAdmin{Email: "admin@gamma.example", Name: "Admin", SSHKey: mustKey(t)}}); err != nil {
		t.Fatal(err)
	}
	gammaAdmin := e.actor("admin@gamma.example")

	models = map[string]string{
		"enabled":        e.assistant(owner, service.AssistantInput{Name: "Enabled", Enabled: true}).Model,
		"disabled":       e.assistant(owner, service.AssistantInput{Name: "Disabled", Enabled: true}).Model,
		"disabled owner": e.assistant(gone, service.AssistantInput{Name: "Gone's", Enabled: true}).Model,
		"deleted":        e.assistant(owner, service.AssistantInput{Name: "Deleted", Enabled: true}).Model,
		"other org's":    e.assistant(e.members["beta"], service.AssistantInput{Name: "Beta's", Enabled: true}).Model,
	}
	id := func(model string) int64 {
		var n int64
		fmt.Sscanf(strings.TrimPrefix(model, service.ModelPrefix), "%d", &n)
		return n
	}
	if err := e.svc.SetMyAssistantEnabled(ctx, owner, id(models["disabled"]), false); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeleteAssistant(ctx, owner, id(models["deleted"])); err != nil {
		t.Fatal(err)
	}

	revoked, err := e.svc.CreateAPIKey(ctx, e.admins["acme"], "acme", "old lms", false, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	expiring, err := e.svc.CreateAPIKey(ctx, e.admins["acme"], "acme", "trial", false, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	keys = map[string]string{
		"org key A":                     e.apiKey(e.admins["acme"], false),
		"org key B":                     e.apiKey(e.admins["beta"], false),
		"owner's personal key":          e.apiKey(owner, true),
		"another member's personal key": e.apiKey(other, true),
		"revoked":                       revoked.Key,
		"expired":                       expiring.Key,
		"disabled user's personal key":  e.apiKey(gone, true),
		"suspended org's key":           e.apiKey(gammaAdmin, false),
	}
	if err := e.svc.RevokeAPIKey(ctx, e.admins["acme"], revoked.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetUserEnabled(ctx, e.admins["acme"], "gone@acme.example", false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetOrgSuspended(ctx, e.root, "gamma", true); err != nil {
		t.Fatal(err)
	}
	e.setNow(time.Now().Add(2 * time.Hour)) // past the trial key's expiry
	return keys, models
}

func TestGatewayMatrix(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	keys, models := buildGatewayMatrix(t, e)
	for _, row := range gatewayMatrix {
		for i, kind := range gwKeyKinds {
			want := row.want[i]
			key, model := keys[kind], models[row.state]
			for _, stream := range []bool{false, true} {
				name := fmt.Sprintf("%s/%s/stream=%v", row.state, kind, stream)
				t.Run(name, func(t *testing.T) {
					calls := e.fake.Requests()
					status, code := e.chatCell(t, key, model, stream)
					switch want {
					case ok200:
						if status != 200 || code != "" {
							t.Fatalf("%d %s, want 200", status, code)
						}
						if e.fake.Requests() != calls+1 {
							t.Fatalf("the provider got %d requests, want 1", e.fake.Requests()-calls)
						}
					case nf404:
						if status != 404 || code != "model_not_found" {
							t.Fatalf("%d %q, want 404 model_not_found", status, code)
						}
					case ik401:
						if status != 401 || code != "invalid_api_key" {
							t.Fatalf("%d %q, want 401 invalid_api_key", status, code)
						}
					}
					if want != ok200 && e.fake.Requests() != calls {
						t.Fatal("a refused call reached the provider")
					}
				})
			}
			t.Run(fmt.Sprintf("%s/%s/models", row.state, kind), func(t *testing.T) {
				status, ids := e.modelsCell(t, key)
				switch {
				case want == ik401:
					if status != 401 {
						t.Fatalf("GET /v1/models: %d, want 401", status)
					}
				case status != 200:
					t.Fatalf("GET /v1/models: %d, want 200", status)
				case want == ok200 && !slices.Contains(ids, model):
					t.Fatalf("%s not listed: %v", model, ids)
				case want == nf404 && slices.Contains(ids, model):
					t.Fatalf("%s listed, but a call answers 404: %v", model, ids)
				}
			})
		}
	}
}

// chatCell calls /v1/chat/completions and returns the status and the error
// code ("" for none). A stream that started must end with [DONE] and no
// error event.
func (e *gwEnv) chatCell(t *testing.T, key, model string, stream bool) (int, string) {
	t.Helper()
	body := `{"model":"` + model + `","messages":[{"role":"user","content":"hi"}]`
	if stream {
		body += `,"stream":true`
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.srv.URL+"/v1/chat/completions", strings.NewReader(body+"}"))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatalf("error body of %d: %v", resp.StatusCode, err)
		}
		return resp.StatusCode, errCode(out)
	}
	if !stream {
		var out struct {
			Object string `json:"object"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Object != "chat.completion" {
			t.Fatalf("answer: %v %+v", err, out)
		}
		return 200, ""
	}
	var last string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			if strings.Contains(p, `"error"`) {
				t.Fatalf("error event: %s", p)
			}
			last = p
		}
	}
	if last != "[DONE]" {
		t.Fatalf("stream ended with %q, want [DONE]", last)
	}
	return 200, ""
}

// modelsCell calls GET /v1/models and returns the status and the ids.
func (e *gwEnv) modelsCell(t *testing.T, key string) (int, []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/v1/models", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	var out struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range out.Data {
		ids = append(ids, d.ID)
	}
	return 200, ids
}
