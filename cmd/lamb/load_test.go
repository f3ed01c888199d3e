package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"lamb/internal/fakeopenai"
	"lamb/store"
)

// sshCmd runs one SSH command with stdin and returns stdout, failing the
// test on a non-zero exit.
func sshCmd(t *testing.T, addr string, signer ssh.Signer, stdin string, args ...string) string {
	t.Helper()
	client, err := ssh.Dial("tcp", addr, &ssh.ClientConfig{User: "t", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	var out, errb bytes.Buffer
	sess.Stdin, sess.Stdout, sess.Stderr = strings.NewReader(stdin), &out, &errb
	if err := sess.Run(strings.Join(args, " ")); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, errb.String())
	}
	return out.String()
}

// SIGTERM while completions are in flight: lamb stops taking requests,
// lets the running ones finish, flushes their usage events and exits 0.
// Every request that got an answer has its usage row.
func TestSigtermDuringLoadLosesNoUsage(t *testing.T) {
	fake := fakeopenai.New()
	fake.SetDelay(20*time.Millisecond, 0)
	fakeSrv := httptest.NewServer(fake)
	defer fakeSrv.Close()

	dir := t.TempDir()
	admin, adminKey := newSigner(t)
	p := start(t, dir, "LAMB_ADMIN_KEYS="+adminKey)
	sshCmd(t, p.sshAddr, admin, "", "org", "create", "acme", "--name", "Acme", "--admin-email", "boss@acme.example", "--admin-name", "Boss")
	cfg := fmt.Sprintf(`{"version":1,"active_setup":"default","setups":{"default":{"default_provider":"openai",
		"providers":{"openai":{"enabled":true,"api_key":"sk-x","base_url":%q,"models":["gpt-4o-mini"],"default_model":"gpt-4o-mini"}}}},
		"features":{"signup_enabled":false},"limits":{}}`, fakeSrv.URL+"/v1")
	sshCmd(t, p.sshAddr, admin, cfg, "org", "config", "set", "acme")
	sshCmd(t, p.sshAddr, admin, "", "assistant", "create", "--owner", "boss@acme.example", "--name", "Tutor", "--provider", "openai", "--model", "gpt-4o-mini")
	out := strings.TrimSpace(sshCmd(t, p.sshAddr, admin, "", "apikey", "create", "--org", "acme", "--name", "load"))
	key := out[strings.LastIndex(out, "\n")+1:]
	if !strings.HasPrefix(key, "lamb_") {
		t.Fatalf("apikey create printed %q", out)
	}
	models := sshCmd(t, p.sshAddr, admin, "", "assistant", "list", "--org", "acme", "--json")
	model := "lamb_assistant." + between(models, `"id":`, ",")

	var answered atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	body := `{"model":"` + model + `","messages":[{"role":"user","content":"hi"}]}`
	client := &http.Client{Timeout: 10 * time.Second}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://"+p.httpAddr+"/v1/chat/completions", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+key)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					return // lamb stopped listening
				}
				if resp.StatusCode == 200 {
					answered.Add(1)
				} else if resp.StatusCode != 503 {
					t.Errorf("status %d during load", resp.StatusCode)
				}
				resp.Body.Close()
			}
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for answered.Load() < 50 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // poll interval
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	code := p.wait(t)
	close(stop)
	wg.Wait()
	if code != 0 {
		t.Fatalf("exit %d after SIGTERM under load:\n%s", code, p.stderr)
	}
	if answered.Load() < 50 {
		t.Fatalf("only %d requests answered before the deadline", answered.Load())
	}
	st, err := store.Open(filepath.Join(dir, "data", "lamb.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, err := st.CountUsageEvents(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if rows < answered.Load() {
		t.Fatalf("%d usage rows for %d answered requests: %d lost", rows, answered.Load(), answered.Load()-rows)
	}
}

func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	s = s[i+len(from):]
	if j := strings.Index(s, to); j >= 0 {
		return strings.TrimSpace(s[:j])
	}
	return s
}

// A stream still running when the shutdown bound runs out is cancelled
// with a reason: the client gets an error event and [DONE], not a cut
// connection, and the usage row says the server stopped it.
func TestShutdownEndsLongStreamsWithAReason(t *testing.T) {
	fake := fakeopenai.New()
	fake.SetChunks(strings.Split(strings.Repeat("tick ", 40), " ")...)
	fake.SetDelay(0, 100*time.Millisecond) // a 4 s answer
	fakeSrv := httptest.NewServer(fake)
	defer fakeSrv.Close()

	dir := t.TempDir()
	admin, adminKey := newSigner(t)
	p := startArgs(t, dir, []string{"--shutdown-timeout", "300ms"}, "LAMB_ADMIN_KEYS="+adminKey)
	sshCmd(t, p.sshAddr, admin, "", "org", "create", "acme", "--name", "Acme", "--admin-email", "boss@acme.example", "--admin-name", "Boss")
	cfg := fmt.Sprintf(`{"version":1,"active_setup":"default","setups":{"default":{"providers":{"openai":{"enabled":true,
		"api_key":"sk-x","base_url":%q,"models":["gpt-4o-mini"]}}}},"features":{"signup_enabled":false},"limits":{}}`, fakeSrv.URL+"/v1")
	sshCmd(t, p.sshAddr, admin, cfg, "org", "config", "set", "acme")
	sshCmd(t, p.sshAddr, admin, "", "assistant", "create", "--owner", "boss@acme.example", "--name", "Tutor", "--provider", "openai", "--model", "gpt-4o-mini")
	out := strings.TrimSpace(sshCmd(t, p.sshAddr, admin, "", "apikey", "create", "--org", "acme", "--name", "k"))
	key := out[strings.LastIndex(out, "\n")+1:]
	model := "lamb_assistant." + between(sshCmd(t, p.sshAddr, admin, "", "assistant", "list", "--org", "acme", "--json"), `"id":`, ",")

	req, _ := http.NewRequest(http.MethodPost, "http://"+p.httpAddr+"/v1/chat/completions",
		strings.NewReader(`{"model":"`+model+`","stream":true,"messages":[{"role":"user","content":"count"}]}`))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	if !sc.Scan() { // the stream has started
		t.Fatal("no first event")
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	var events []string
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "data: ") {
			events = append(events, strings.TrimPrefix(l, "data: "))
		}
	}
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.stderr)
	}
	if len(events) < 2 || events[len(events)-1] != "[DONE]" || !strings.Contains(events[len(events)-2], "server_shutting_down") {
		t.Fatalf("the stream ended with %q", events[max(0, len(events)-3):])
	}
	st, err := store.Open(filepath.Join(dir, "data", "lamb.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n, _ := st.CountUsageEvents(context.Background(), 0); n != 1 {
		t.Fatalf("%d usage rows, want 1", n)
	}
}
