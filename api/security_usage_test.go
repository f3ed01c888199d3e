package api

// Regression tests for attacks on usage accounting and on the gateway's
// connections: each is named after the attack it stops.

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"lamb/service"
)

func (e *gwEnv) rawDB() *sql.DB {
	e.t.Helper()
	db, err := sql.Open("sqlite3", "file:"+e.dbPath+"?_busy_timeout=5000")
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { db.Close() })
	return db
}

func (e *gwEnv) count(db *sql.DB, query string, args ...any) int64 {
	e.t.Helper()
	var n int64
	if err := db.QueryRow(query, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// One key hammering a spent budget once wrote a raw usage row per refusal
// (533,868 rows in 75 s). Refusals are counted in the rollups, and only a
// bounded sample keeps raw rows.
func TestRefusalFloodDoesNotWriteARowEach(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	a := e.assistant(e.members["acme"], service.AssistantInput{})
	key := e.apiKey(e.members["acme"], true)
	l := unlimited()
	l.TokensPerMonth = 0
	e.setLimits("acme", l)
	e.setNow(time.Now().Truncate(time.Minute).Add(time.Second)) // one minute for all of them
	const flood = 400
	body := `{"model":"` + a.Model + `","messages":[{"role":"user","content":"hi"}]}`
	for i := range flood {
		if resp, b := e.post(key, body); resp.StatusCode != 429 {
			t.Fatalf("request %d: %d %v", i, resp.StatusCode, b)
		}
	}
	e.svc.Close()
	db := e.rawDB()
	rows := e.count(db, `SELECT COUNT(*) FROM usage_events WHERE status = 'insufficient_quota'`)
	if rows == 0 || rows > 60 {
		t.Fatalf("%d raw rows for %d refusals, want a sample of at most 60", rows, flood)
	}
	r, err := e.svc.Usage(context.Background(), e.admins["acme"], service.UsageQuery{Org: "acme", From: time.Now().AddDate(0, 0, -1), By: "day"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Total.Refused != flood || r.Total.Requests != flood || r.Total.Errors != flood {
		t.Fatalf("rollups count %+v, want every one of %d refusals", r.Total, flood)
	}
}

// A full disk once lost usage batches while /healthz said ok. The writer
// keeps them and retries, /healthz answers 503 while it can't store them,
// and nothing is lost once the disk has room again.
func TestFullDiskShowsInHealthAndLosesNoUsage(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	a := e.assistant(e.members["acme"], service.AssistantInput{})
	key := e.apiKey(e.members["acme"], true)
	db := e.rawDB()
	if _, err := db.Exec(`CREATE TRIGGER disk_full BEFORE INSERT ON usage_events BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END`); err != nil {
		t.Fatal(err)
	}
	const answered = 20
	body := `{"model":"` + a.Model + `","messages":[{"role":"user","content":"hi"}]}`
	for i := range answered {
		if resp, b := e.post(key, body); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %v", i, resp.StatusCode, b)
		}
	}
	health := func() (int, string) {
		resp, err := http.Get(e.srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var sb strings.Builder
		bufio.NewReader(resp.Body).WriteTo(&sb)
		return resp.StatusCode, sb.String()
	}
	deadline := time.Now().Add(10 * time.Second)
	code, text := health()
	for code == 200 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // poll interval
		code, text = health()
	}
	if code != 503 || !strings.Contains(text, "usage events") {
		t.Fatalf("/healthz while usage can't be stored: %d %s", code, text)
	}
	if _, err := db.Exec(`DROP TRIGGER disk_full`); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(20 * time.Second)
	for code != 200 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // poll interval
		code, text = health()
	}
	if code != 200 {
		t.Fatalf("/healthz after the disk recovered: %d %s", code, text)
	}
	e.svc.Close()
	if n := e.count(db, `SELECT COUNT(*) FROM usage_events WHERE status = 'ok'`); n != answered {
		t.Fatalf("%d usage rows for %d answered requests", n, answered)
	}
}

// A streaming client that stopped reading once held its connection and
// the provider call for 140 s. Each write to the client is bounded: the
// stream is dropped, the provider call cancelled, and the usage recorded.
func TestStreamToClientThatStopsReadingIsBounded(t *testing.T) {
	e := newGwEnv(t, 30*time.Second)
	a := e.assistant(e.members["acme"], service.AssistantInput{})
	key := e.apiKey(e.members["acme"], true)
	h := NewHandler(e.svc, slog.New(slog.DiscardHandler), Options{PublicURL: "http://lamb.test", WriteTimeout: 300 * time.Millisecond})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(h)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	// A long answer of big chunks: far more than the socket buffers hold.
	chunks := make([]string, 4000)
	for i := range chunks {
		chunks[i] = strings.Repeat("x", 16<<10)
	}
	e.fake.SetChunks(chunks...)
	e.fake.SetDelay(0, time.Millisecond) // 4 s of answer: the fake counts a cancel while it waits
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetReadBuffer(4 << 10)
	}
	body := `{"model":"` + a.Model + `","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	fmt.Fprintf(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: lamb\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", key, len(body), body)
	// Never read. The provider call must be cancelled well before it ends.
	deadline := time.Now().Add(15 * time.Second)
	for e.fake.Cancelled() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // poll interval
	}
	if e.fake.Cancelled() == 0 {
		t.Fatal("a client that stopped reading still holds its stream and provider call")
	}
	e.svc.Close()
	if n := e.count(e.rawDB(), `SELECT COUNT(*) FROM usage_events WHERE stream = 1 AND status = 'client_closed'`); n != 1 {
		t.Fatalf("%d usage rows for the dropped stream, want 1 (client_closed)", n)
	}
}
