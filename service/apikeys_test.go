package service

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lamb/store"
)

// newKeyOK creates a key as a, failing the test on error.
func (e *memberEnv) newKeyOK(t *testing.T, a Actor, org, name string, personal bool) NewAPIKey {
	t.Helper()
	k, err := e.svc.CreateAPIKey(context.Background(), a, org, name, personal, time.Time{})
	if err != nil {
		t.Fatalf("create key %q as %s: %v", name, a.Email, err)
	}
	return k
}

func (e *memberEnv) keyRow(t *testing.T, id int64) store.APIKey {
	t.Helper()
	k, err := e.st.APIKeyByID(context.Background(), id)
	if err != nil {
		t.Fatalf("api key %d: %v", id, err)
	}
	return k
}

func TestCreatePersonalAPIKey(t *testing.T) {
	e := newMemberEnv(t)
	ctx := context.Background()
	k := e.newKeyOK(t, e.a1, "", " laptop ", true)
	if !strings.HasPrefix(k.Key, "lamb_") || len(k.Key) < 40 || k.Prefix != k.Key[:8] {
		t.Fatalf("key %q prefix %q", k.Key, k.Prefix)
	}
	if strings.Trim(k.Key[len("lamb_"):], "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") != "" {
		t.Fatalf("key %q is not lamb_ + base62", k.Key)
	}
	if k.Owner != emailA1 || k.OrgSlug != "acme" || k.Name != "laptop" || k.ID == 0 || !k.CreatedAt.Equal(e.now.Truncate(time.Second)) ||
		!k.ExpiresAt.IsZero() || !k.RevokedAt.IsZero() {
		t.Fatalf("created %+v", k.APIKey)
	}
	sum := sha256.Sum256([]byte(k.Key))
	row := e.keyRow(t, k.ID)
	if row.Hash != hex.EncodeToString(sum[:]) || row.Hash != HashAPIKey(k.Key) || row.UserID != e.a1.UserID ||
		row.OrganizationID != e.a1.OrgID || row.Prefix != k.Prefix {
		t.Fatalf("stored %+v", row)
	}
	if found, err := e.st.APIKeyByHash(ctx, HashAPIKey(k.Key)); err != nil || found.ID != k.ID || found.OwnerEmail != emailA1 {
		t.Fatalf("lookup by hash: %+v, %v", found, err)
	}
	// Keys are random.
	if k2 := e.newKeyOK(t, e.a1, "", "laptop", true); k2.Key == k.Key || k2.Prefix == "" {
		t.Fatalf("two keys %q %q", k.Key, k2.Key)
	}
	// Every signed-in user may hold personal keys, admins too.
	for _, a := range []Actor{e.a2, e.adminA, e.adminB, e.sys} {
		got := e.newKeyOK(t, a, "", "mine", true)
		if got.Owner != a.Email || got.OrgSlug != a.OrgSlug {
			t.Fatalf("personal key of %s: %+v", a.Email, got.APIKey)
		}
	}
	// A personal key belongs to its user's own org.
	_, err := e.svc.CreateAPIKey(ctx, e.a1, "beta", "x", true, time.Time{})
	wantInvalid(t, err, "org")
	_, err = e.svc.CreateAPIKey(ctx, e.a1, "", strings.Repeat("n", 101), true, time.Time{})
	wantInvalid(t, err, "name")
	_, err = e.svc.CreateAPIKey(ctx, e.a1, "", "", true, time.Time{})
	wantInvalid(t, err, "name")
}

// The key is shown once: neither it nor its random part is anywhere in the
// database files, only its SHA-256.
func TestAPIKeyIsNotStored(t *testing.T) {
	e := newMemberEnv(t)
	personal := e.newKeyOK(t, e.a1, "", "laptop", true)
	org := e.newKeyOK(t, e.adminA, "", "lms", false)
	if err := e.svc.RevokeAPIKey(context.Background(), e.a1, personal.ID); err != nil {
		t.Fatal(err)
	}
	// Read the files while the store is open (the WAL holds the writes),
	// then again after it closed (checkpointed into the main file).
	scan := func(when string) {
		t.Helper()
		var all []byte
		for _, f := range []string{"lamb.db", "lamb.db-wal", "lamb.db-shm"} {
			data, err := os.ReadFile(filepath.Join(e.dir, f))
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			all = append(all, data...)
		}
		for _, k := range []NewAPIKey{personal, org} {
			if bytes.Contains(all, []byte(k.Key)) || bytes.Contains(all, []byte(k.Key[len("lamb_"):])) {
				t.Fatalf("%s: key %s is in the database files", when, k.Name)
			}
			// The scan sees what is stored: the hash is there.
			if !bytes.Contains(all, []byte(HashAPIKey(k.Key))) {
				t.Fatalf("%s: the hash of %s is not in the files read; the scan is blind", when, k.Name)
			}
		}
	}
	scan("open")
	if err := e.st.Close(); err != nil {
		t.Fatal(err)
	}
	scan("closed")
}

func TestCreateOrgAPIKey(t *testing.T) {
	e := newMemberEnv(t)
	ctx := context.Background()
	before := e.dump(t)
	for _, org := range []string{"", "acme", "beta"} {
		if _, err := e.svc.CreateAPIKey(ctx, e.a1, org, "lms", false, time.Time{}); !errors.Is(err, ErrForbidden) {
			t.Fatalf("member creating an org key of %q: %v", org, err)
		}
	}
	if _, err := e.svc.CreateAPIKey(ctx, e.adminB, "acme", "lms", false, time.Time{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("B's admin creating a key of A: %v", err)
	}
	if _, err := e.svc.CreateAPIKey(ctx, Actor{}, "acme", "lms", false, time.Time{}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("nobody: %v", err)
	}
	if after := e.dump(t); after != before {
		t.Fatal("refused key creation changed the database")
	}
	k := e.newKeyOK(t, e.adminA, "", "lms", false)
	if k.Owner != "" || k.OrgSlug != "acme" || e.keyRow(t, k.ID).UserID != 0 {
		t.Fatalf("org key %+v", k.APIKey)
	}
	k = e.newKeyOK(t, e.sys, "acme", "from root", false)
	if k.OrgSlug != "acme" || k.Owner != "" {
		t.Fatalf("system admin's org key %+v", k.APIKey)
	}
	ev := e.lastAudit(t, "apikey.create")
	if ev.Target != "from root" || ev.OrganizationID != e.adminA.OrgID {
		t.Fatalf("audit %+v", ev)
	}
}

func TestAPIKeyExpiry(t *testing.T) {
	e := newMemberEnv(t)
	ctx := context.Background()
	for _, at := range []time.Time{e.now.Add(-time.Hour), e.now} {
		_, err := e.svc.CreateAPIKey(ctx, e.a1, "", "old", true, at)
		wantInvalidSays(t, err, "expires", "in the future")
	}
	at := e.now.AddDate(0, 0, 30)
	k, err := e.svc.CreateAPIKey(ctx, e.a1, "", "month", true, at)
	if err != nil {
		t.Fatal(err)
	}
	if !k.ExpiresAt.Equal(at) || !e.keyRow(t, k.ID).ExpiresAt.Equal(at) {
		t.Fatalf("expires %v, stored %v", k.ExpiresAt, e.keyRow(t, k.ID).ExpiresAt)
	}
}

func TestListAPIKeys(t *testing.T) {
	e := newMemberEnv(t)
	ctx := context.Background()
	k1 := e.newKeyOK(t, e.a1, "", "ana's", true)
	k2 := e.newKeyOK(t, e.a2, "", "bo's", true)
	ko := e.newKeyOK(t, e.adminA, "", "lms", false)
	e.newKeyOK(t, e.adminB, "", "beta lms", false)
	e.newKeyOK(t, e.adminB, "", "beta admin's", true)

	ids := func(p Page[APIKey]) []int64 {
		var out []int64
		for _, k := range p.Items {
			out = append(out, k.ID)
		}
		return out
	}
	for _, c := range []struct {
		a    Actor
		want int64
	}{{e.a1, k1.ID}, {e.a2, k2.ID}} {
		p, err := e.svc.ListAPIKeys(ctx, c.a, "", true, 0, 0)
		if err != nil || p.Total != 1 || len(p.Items) != 1 || p.Items[0].ID != c.want || p.Items[0].Owner != c.a.Email {
			t.Fatalf("%s's personal keys: %+v, %v", c.a.Email, p, err)
		}
		// Naming another org doesn't widen a personal list.
		if p, err := e.svc.ListAPIKeys(ctx, c.a, "beta", true, 0, 0); err != nil || p.Total != 1 {
			t.Fatalf("personal list naming beta: %+v, %v", p, err)
		}
		if _, err := e.svc.ListAPIKeys(ctx, c.a, "", false, 0, 0); !errors.Is(err, ErrForbidden) {
			t.Fatalf("member listing org keys: %v", err)
		}
	}
	p, err := e.svc.ListAPIKeys(ctx, e.adminA, "", false, 0, 0)
	if err != nil || p.Total != 3 || len(p.Items) != 3 {
		t.Fatalf("admin's org list: %+v, %v", p, err)
	}
	// Newest first, with owners ("" for the org key), never a key.
	if got := ids(p); got[0] != ko.ID || got[1] != k2.ID || got[2] != k1.ID || p.Items[0].Owner != "" || p.Items[1].Owner != emailA2 {
		t.Fatalf("admin's org list %+v", p.Items)
	}
	if p, err := e.svc.ListAPIKeys(ctx, e.adminA, "", true, 0, 0); err != nil || p.Total != 0 {
		t.Fatalf("admin's personal list: %+v, %v", p, err)
	}
	if p, err := e.svc.ListAPIKeys(ctx, e.sys, "acme", false, 0, 2); err != nil || p.Total != 3 || len(p.Items) != 2 {
		t.Fatalf("system admin's page of acme: %+v, %v", p, err)
	}
	if _, err := e.svc.ListAPIKeys(ctx, e.adminB, "acme", false, 0, 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("B's admin listing A: %v", err)
	}
}

func TestRevokeAPIKey(t *testing.T) {
	e := newMemberEnv(t)
	ctx := context.Background()
	k1 := e.newKeyOK(t, e.a1, "", "ana's", true)
	k2 := e.newKeyOK(t, e.a2, "", "bo's", true)
	ko := e.newKeyOK(t, e.adminA, "", "lms", false)

	// Someone else's key answers like a missing one, and stays as it was.
	before := e.dump(t)
	missing := ko.ID + 100
	for _, c := range []struct {
		who string
		a   Actor
		id  int64
	}{{"a1 on a2's key", e.a1, k2.ID}, {"a1 on the org key", e.a1, ko.ID}, {"B's admin", e.adminB, k1.ID}} {
		err := e.svc.RevokeAPIKey(ctx, c.a, c.id)
		errMissing := e.svc.RevokeAPIKey(ctx, c.a, missing)
		if !errors.Is(err, ErrNotFound) || strings.ReplaceAll(err.Error(), itoa(c.id), itoa(missing)) != errMissing.Error() {
			t.Fatalf("%s: %v (missing: %v)", c.who, err, errMissing)
		}
	}
	for _, a := range []Actor{{}, {Role: RoleAPIKey, OrgID: e.a1.OrgID, OrgSlug: "acme", UserID: e.a1.UserID, Personal: true, KeyID: k1.ID}} {
		if err := e.svc.RevokeAPIKey(ctx, a, k1.ID); !errors.Is(err, ErrForbidden) {
			t.Fatalf("%v revoking: %v", a, err)
		}
	}
	if after := e.dump(t); after != before {
		t.Fatal("refused revocations changed the database")
	}

	if err := e.svc.RevokeAPIKey(ctx, e.a1, k1.ID); err != nil {
		t.Fatal(err)
	}
	if r := e.keyRow(t, k1.ID).RevokedAt; !r.Equal(e.now.Truncate(time.Second)) {
		t.Fatalf("revoked at %v", r)
	}
	// Twice is fine, and writes nothing more.
	e.now = e.now.Add(time.Hour)
	if err := e.svc.RevokeAPIKey(ctx, e.a1, k1.ID); err != nil {
		t.Fatal(err)
	}
	if r := e.keyRow(t, k1.ID).RevokedAt; !r.Equal(e.now.Add(-time.Hour).Truncate(time.Second)) {
		t.Fatalf("second revoke moved revoked_at to %v", r)
	}
	if n := e.auditCount(t, "apikey.revoke"); n != 1 {
		t.Fatalf("%d apikey.revoke events, want 1", n)
	}
	// The admin revokes a member's key and the org key.
	for _, id := range []int64{k2.ID, ko.ID} {
		if err := e.svc.RevokeAPIKey(ctx, e.adminA, id); err != nil {
			t.Fatal(err)
		}
		if e.keyRow(t, id).RevokedAt.IsZero() {
			t.Fatalf("key %d not revoked", id)
		}
	}
	ev := e.lastAudit(t, "apikey.revoke")
	if ev.Actor != emailAdminA || ev.Target != "lms" || ev.OrganizationID != e.adminA.OrgID {
		t.Fatalf("audit %+v", ev)
	}
	// A revoked key is still listed, marked.
	p, _ := e.svc.ListAPIKeys(ctx, e.a1, "", true, 0, 0)
	if p.Total != 1 || p.Items[0].RevokedAt.IsZero() {
		t.Fatalf("listed %+v", p)
	}
}

// Audit events say which key was created or revoked, never the key.
func TestAPIKeyAuditHasNoKey(t *testing.T) {
	e := newMemberEnv(t)
	ctx := context.Background()
	keys := []NewAPIKey{e.newKeyOK(t, e.a1, "", "ana's", true), e.newKeyOK(t, e.adminA, "", "lms", false)}
	for _, k := range keys {
		if err := e.svc.RevokeAPIKey(ctx, e.adminA, k.ID); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := e.st.ListAudit(ctx, store.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, ev := range evs {
		seen[ev.Action]++
		for _, k := range keys {
			row := ev.Target + " " + ev.Actor + " " + ev.Details
			if strings.Contains(row, k.Key) || strings.Contains(row, k.Key[len("lamb_"):]) || strings.Contains(row, HashAPIKey(k.Key)) {
				t.Fatalf("audit event %s holds key %s: %+v", ev.Action, k.Name, ev)
			}
		}
		if ev.Action == "apikey.create" && !strings.Contains(ev.Details, `"prefix":"`) {
			t.Fatalf("apikey.create doesn't name the key's prefix: %s", ev.Details)
		}
	}
	if seen["apikey.create"] != 2 || seen["apikey.revoke"] != 2 {
		t.Fatalf("events %v", seen)
	}
}
