package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver

	"lamb/internal/pgtest"
)

// migrationLock is the advisory lock lamb's migrations run under (the
// store's, "lamb" in ASCII).
const migrationLock = 0x6c616d62

// get answers a GET with its status and body, failing the test past a
// bound.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 15 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// An instance that waits for the migration lock (another instance is
// migrating) already answers HTTP, and /healthz says it is not ready:
// a load balancer keeps its traffic elsewhere. Every other request is
// refused with 503 service_unavailable. Once the lock is released the
// instance migrates, finishes starting and says ok.
func TestHealthzNotReadyWhileMigrating(t *testing.T) {
	url := pgtest.URL(t)
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := db.Conn(ctx) // the lock belongs to this one session
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		t.Fatal(err)
	}

	p := launch(t, t.TempDir(), "LAMB_DATABASE_URL="+url, "LAMB_SECRET_KEY="+testSecretKey)
	l := p.waitFor(t, func(l map[string]any) bool { return l["msg"] == "http listening" })
	base := "http://" + l["addr"].(string)

	code, body := get(t, base+"/healthz")
	var health map[string]string
	json.Unmarshal([]byte(body), &health)
	if code != http.StatusServiceUnavailable || health["status"] != "starting" || health["database"] != "postgres" ||
		!strings.Contains(health["reason"], "migrations are running") {
		t.Fatalf("healthz while another instance holds the migration lock = %d %s", code, body)
	}
	if code, body := get(t, base+"/v1/models"); code != http.StatusServiceUnavailable || !strings.Contains(body, `"service_unavailable"`) {
		t.Fatalf("a request while migrating = %d %s", code, body)
	}

	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, migrationLock); err != nil {
		t.Fatal(err)
	}
	p.waitFor(t, func(l map[string]any) bool { return l["msg"] == "ready" })
	if code, body := get(t, base+"/healthz"); code != http.StatusOK || strings.TrimSpace(body) != `{"database":"postgres","status":"ok"}` {
		t.Fatalf("healthz once started = %d %s", code, body)
	}
	p.stop(t)
}

// SIGTERM while waiting for another instance's migrations ends the start
// cleanly: exit 0, nothing half-done.
func TestSigtermWhileWaitingToMigrate(t *testing.T) {
	url := pgtest.URL(t)
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		t.Fatal(err)
	}
	p := launch(t, t.TempDir(), "LAMB_DATABASE_URL="+url, "LAMB_SECRET_KEY="+testSecretKey)
	p.waitFor(t, func(l map[string]any) bool { return l["msg"] == "http listening" })
	p.stop(t)
	var tables int
	if err := conn.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Fatalf("%d tables made by an instance stopped before it could migrate", tables)
	}
}
