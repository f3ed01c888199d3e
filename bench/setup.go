package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"lamb/secret"
	"lamb/service"
)

// runSetup measures the documented way to set up many departments: lamb
// as its own process, the commands sent over SSH as a script would send
// them (one SSH connection per worker, a session per command, as OpenSSH
// does with ControlMaster). First a template org with a provider and 10
// assistants; then, for each of n orgs, two commands:
//
//	org create dept-N --name … --admin-email … --admin-name … --admin-ssh-key … --from-org template
//	apikey create --name course --count 10 --org dept-N --json
//
// With reconnect each command opens a connection of its own, as plain
// `ssh host command` does. With openssh the commands run through the ssh
// program, a process each, as a shell script runs them (with
// ControlMaster when reconnect is false).
func runSetup(n, workers int, reconnect, openssh bool) error {
	dir, err := os.MkdirTemp("", "lamb-bench-setup")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "lamb")
	build := exec.Command("go", "build", "-o", bin, "./cmd/lamb")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build lamb (run the benchmark from the repository root): %w", err)
	}
	signer, priv, line, err := newSigner()
	if err != nil {
		return err
	}
	keyFile := filepath.Join(dir, "admin_key")
	if openssh {
		block, err := ssh.MarshalPrivateKey(priv, "")
		if err != nil {
			return err
		}
		if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
			return err
		}
	}
	key := make([]byte, secret.KeySize)
	rand.Read(key)
	env := []string{"LAMB_DATA_DIR=" + filepath.Join(dir, "data"), "LAMB_SECRET_KEY=" + base64.StdEncoding.EncodeToString(key),
		"LAMB_ADMIN_KEYS=" + line}
	lamb, err := startLamb(bin, filepath.Join(dir, "run"), env)
	if err != nil {
		return err
	}
	defer lamb.stop()
	cfg := &ssh.ClientConfig{User: "bench", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second}

	how := "a connection per worker"
	if reconnect {
		how = "a connection per command"
	}
	if openssh {
		how = "OpenSSH's ssh, a process per command, " + map[bool]string{true: "a connection each", false: "ControlMaster"}[reconnect]
	}
	fmt.Printf("lamb setup benchmark — %d CPUs: %d orgs with an admin, 10 assistants and 10 API keys each, through SSH commands (%d at once, %s)\n",
		runtimeCPUs(), n, workers, how)
	admin, err := ssh.Dial("tcp", lamb.ssh, cfg)
	if err != nil {
		return err
	}
	defer admin.Close()
	template := []struct{ stdin, cmd string }{
		{"", "org create template --name Template --admin-email owner@template.example --admin-name Owner"},
		{`{"version":1,"active_setup":"default","setups":{"default":{"default_provider":"openai","providers":{"openai":` +
			`{"enabled":true,"api_key":"sk-bench-0123456789","base_url":"http://127.0.0.1:9/v1","models":["gpt-4o-mini"],"default_model":"gpt-4o-mini"}}}}}`,
			"org config set template"},
	}
	for i := 1; i <= 10; i++ {
		template = append(template, struct{ stdin, cmd string }{"", fmt.Sprintf(
			"assistant create --owner owner@template.example --name 'Course assistant %d' --provider openai --model gpt-4o-mini", i)})
	}
	for _, c := range template {
		if _, err := runOne(admin, c.stdin, c.cmd); err != nil {
			return fmt.Errorf("template: %s: %w", c.cmd, err)
		}
	}

	keys := make([]string, n)
	for i := range keys {
		_, _, line, err := newSigner()
		if err != nil {
			return err
		}
		keys[i] = line
	}
	var next, done atomic.Int64
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if openssh {
				opensshWorker(lamb.ssh, keyFile, filepath.Join(dir, fmt.Sprintf("cm-%d", w)), reconnect, n, keys, &next, &done, errs)
				return
			}
			client, err := ssh.Dial("tcp", lamb.ssh, cfg)
			if err != nil {
				errs <- err
				return
			}
			defer func() { client.Close() }()
			run := func(cmd string) ([]byte, error) {
				if reconnect {
					client.Close()
					if client, err = ssh.Dial("tcp", lamb.ssh, cfg); err != nil {
						return nil, err
					}
				}
				return runOne(client, "", cmd)
			}
			for {
				i := int(next.Add(1))
				if i > n {
					return
				}
				if err := setupDept(i, keys[i-1], run); err != nil {
					errs <- err
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	// Counted by lamb itself, as an operator would check.
	out, err := runOne(admin, "", "org list --json --limit 1")
	if err != nil {
		return err
	}
	var page struct{ Total int }
	if err := json.Unmarshal(out, &page); err != nil {
		return err
	}
	var assistants, apiKeys int
	for _, slug := range []string{"dept-1", fmt.Sprintf("dept-%d", n)} {
		out, err := runOne(admin, "", "org show --json "+slug)
		if err != nil {
			return err
		}
		var d struct {
			Assistants int `json:"assistants"`
		}
		_ = json.Unmarshal(out, &d)
		assistants += d.Assistants
		out, err = runOne(admin, "", "apikey list --json --org "+slug)
		if err != nil {
			return err
		}
		var k struct{ Total int }
		_ = json.Unmarshal(out, &k)
		apiKeys += k.Total
	}
	fmt.Printf("  %d orgs set up in %.1f s (%.1f ms an org, %d commands), target < 60 s\n",
		done.Load(), elapsed.Seconds(), float64(elapsed.Milliseconds())/float64(n), 2*n)
	fmt.Printf("  lamb counts %d orgs; the first and last have %d assistants and %d API keys together (want 20 and 20)\n",
		page.Total, assistants, apiKeys)
	if page.Total != n+2 || assistants != 20 || apiKeys != 20 {
		return fmt.Errorf("the orgs are not all there")
	}
	return nil
}

// setupDept runs the two commands that set up department i.
func setupDept(i int, adminKey string, run func(cmd string) ([]byte, error)) error {
	slug := fmt.Sprintf("dept-%d", i)
	if _, err := run(fmt.Sprintf("org create %s --name 'Department %d' --admin-email head@%s.example --admin-name 'Head %d' --admin-ssh-key '%s' --from-org template",
		slug, i, slug, i, adminKey)); err != nil {
		return fmt.Errorf("%s: %w", slug, err)
	}
	out, err := run("apikey create --name course --count 10 --json --org " + slug)
	if err != nil {
		return fmt.Errorf("%s keys: %w", slug, err)
	}
	var created []service.NewAPIKey
	if err := json.Unmarshal(out, &created); err != nil || len(created) != 10 {
		return fmt.Errorf("%s: %d keys printed (%v)", slug, len(created), err)
	}
	return nil
}

// opensshWorker sets up departments with the ssh program.
func opensshWorker(addr, keyFile, control string, reconnect bool, n int, keys []string, next, done *atomic.Int64, errs chan<- error) {
	host, port, _ := strings.Cut(addr, ":")
	args := []string{"-i", keyFile, "-p", port, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes"}
	if !reconnect {
		args = append(args, "-o", "ControlMaster=auto", "-o", "ControlPath="+control, "-o", "ControlPersist=30")
		defer exec.Command("ssh", append(args, "-O", "exit", host)...).Run()
	}
	run := func(cmd string) ([]byte, error) {
		c := exec.Command("ssh", append(args, host, cmd)...)
		var stderr bytes.Buffer
		c.Stderr = &stderr
		c.WaitDelay = 60 * time.Second
		out, err := c.Output()
		if err != nil {
			return nil, fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
		}
		return out, nil
	}
	for {
		i := int(next.Add(1))
		if i > n {
			return
		}
		if err := setupDept(i, keys[i-1], run); err != nil {
			errs <- err
			return
		}
		done.Add(1)
	}
}

// runOne runs one command in a session of client and returns its stdout.
func runOne(client *ssh.Client, stdin, cmd string) ([]byte, error) {
	sess, err := client.NewSession()
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	var stdout, stderr bytes.Buffer
	sess.Stdout, sess.Stderr = &stdout, &stderr
	sess.Stdin = strings.NewReader(stdin)
	done := make(chan error, 1)
	go func() { done <- sess.Run(cmd) }()
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		return nil, fmt.Errorf("%s: no answer within 60 s", cmd)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// newSigner makes an ed25519 key, its signer and its authorized-key line.
func newSigner() (ssh.Signer, ed25519.PrivateKey, string, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, "", err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, nil, "", err
	}
	return signer, priv, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))), nil
}
