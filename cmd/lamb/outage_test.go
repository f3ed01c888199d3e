package main

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	"golang.org/x/crypto/ssh"

	"lamb/internal/pgtest"
)

// outageBound is how long any answer may take while the database is
// down. The server refuses connections at once, so reaching it is the
// hang this test is about.
const outageBound = 15 * time.Second

// request sends one HTTP request and returns status and body, failing the
// test if no answer comes within outageBound.
func request(t *testing.T, method, url, auth, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: outageBound}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: no answer: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// sshRun runs one SSH command and returns its stderr and exit status.
func sshRun(t *testing.T, addr string, signer ssh.Signer, command string) (string, int) {
	t.Helper()
	client, err := ssh.Dial("tcp", addr, &ssh.ClientConfig{User: "t", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: outageBound})
	if err != nil {
		t.Fatalf("ssh dial: %v", err)
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	var stderr bytes.Buffer
	sess.Stderr = &stderr
	done := make(chan error, 1)
	go func() { done <- sess.Run(command) }()
	select {
	case err = <-done:
	case <-time.After(outageBound):
		t.Fatalf("%q: no answer within %s", command, outageBound)
	}
	var ee *ssh.ExitError
	if errors.As(err, &ee) {
		return stderr.String(), ee.ExitStatus()
	}
	if err != nil {
		t.Fatalf("%q: %v", command, err)
	}
	return stderr.String(), 0
}

// waitUntil polls cond until it holds, failing the test after limit.
func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
}

// The database going away while lamb serves, and coming back: requests
// that need it answer 503 service_unavailable within a bound (never a
// hang, never a crash), /healthz says the database isn't answering, SSH
// commands and the console say it is unreachable while the console stays
// open, and all of it works again once the database is back, with no
// restart of lamb.
func TestDatabaseOutageWhileServing(t *testing.T) {
	cluster := pgtest.NewCluster(t)
	admin, adminKey := newSigner(t)
	const signupKey = "Physics-Signup-2026-kR7q"
	p := start(t, t.TempDir(), "LAMB_DATABASE_URL="+cluster.URL(t), "LAMB_SECRET_KEY="+testSecretKey,
		"LAMB_ADMIN_KEYS="+adminKey, "LAMB_ADMIN_EMAIL=root@uni.example",
		"SIGNUP_ENABLED=true", "SIGNUP_SECRET_KEY="+signupKey)
	base := "http://" + p.httpAddr
	out := strings.TrimSpace(sshCmd(t, p.sshAddr, admin, "", "apikey", "create", "--org", "lamb", "--name", "lms"))
	apiKey := out[strings.LastIndex(out, "\n")+1:]
	if code, body := request(t, "GET", base+"/v1/models", apiKey, ""); code != http.StatusOK {
		t.Fatalf("models before the outage = %d %s", code, body)
	}
	console := openConsole(t, p.sshAddr, admin, "LAMB (system)")
	signup := func(email string) (int, string) {
		return request(t, "POST", base+"/v1/signup", "",
			`{"email":"`+email+`","name":"Ana","password":"correct horse battery","signup_key":"`+signupKey+`"}`)
	}

	cluster.Stop(t)
	for _, r := range []struct{ name, method, path, auth string }{
		{"models", "GET", "/v1/models", apiKey},
		{"an unknown key", "POST", "/v1/chat/completions", "lamb_" + strings.Repeat("x", 43)},
	} {
		code, body := request(t, r.method, base+r.path, r.auth, `{"model":"lamb_assistant.1","messages":[]}`)
		if code != http.StatusServiceUnavailable || !strings.Contains(body, `"code":"service_unavailable"`) {
			t.Errorf("%s with the database down = %d %s, want 503 service_unavailable", r.name, code, body)
		}
		if strings.Contains(body, "127.0.0.1") || strings.Contains(body, "dial") {
			t.Errorf("%s: the answer shows the driver's error: %s", r.name, body)
		}
	}
	if code, body := signup("ana@uni.example"); code != http.StatusServiceUnavailable || !strings.Contains(body, `"code":"service_unavailable"`) {
		t.Errorf("signup with the database down = %d %s", code, body)
	}
	if code, body := request(t, "GET", base+"/healthz", "", ""); code != http.StatusServiceUnavailable || !strings.Contains(body, `"database":"postgres"`) {
		t.Errorf("healthz with the database down = %d %s", code, body)
	}
	if stderr, exit := sshRun(t, p.sshAddr, admin, "org list"); exit == 0 || !strings.Contains(stderr, "can't reach its database") {
		t.Errorf("org list with the database down: exit %d, %q", exit, stderr)
	}
	mark := len(console.text())
	io.WriteString(console.stdin, "r")
	waitUntil(t, outageBound, "the console saying the database is unreachable", func() bool {
		return strings.Contains(ansi.Strip(console.text()[mark:]), "can't reach its database")
	})
	select {
	case <-console.done:
		t.Fatal("the console closed during the outage")
	default:
	}

	cluster.Start(t)
	// The same requests succeed again; lamb reconnects on its own.
	waitUntil(t, 30*time.Second, "models answering after the database came back", func() bool {
		code, _ := request(t, "GET", base+"/v1/models", apiKey, "")
		return code == http.StatusOK
	})
	if code, body := request(t, "GET", base+"/healthz", "", ""); code != http.StatusOK {
		t.Errorf("healthz after the database came back = %d %s", code, body)
	}
	if code, body := signup("ana@uni.example"); code != http.StatusCreated {
		t.Errorf("signup after the database came back = %d %s", code, body)
	}
	if stderr, exit := sshRun(t, p.sshAddr, admin, "org list"); exit != 0 {
		t.Errorf("org list after the database came back: exit %d, %q", exit, stderr)
	}
	mark = len(console.text())
	io.WriteString(console.stdin, "2") // the Users screen: a fresh load
	waitUntil(t, outageBound, "the console loading again", func() bool {
		return strings.Contains(ansi.Strip(console.text()[mark:]), "ana@uni.example")
	})
	p.stop(t)
}
