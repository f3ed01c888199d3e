package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"lamb/config"
	"lamb/internal/pgtest"
	"lamb/secret"
	"lamb/store"
)

// Several lamb processes on one database behave as one: the throttles,
// the claim code, the start sequence and the retention job. Each test
// runs on both engines; "another instance" is a second Store and Service
// on the same database, with the same key and clock.

var engines = []string{store.EngineSQLite, store.EnginePostgres}

// openStore opens another Store on e's database, closed when t ends.
func (e *testEnv) openStore(t testing.TB) *store.Store {
	t.Helper()
	clock := func() time.Time { return e.now }
	var st *store.Store
	var err error
	if e.url != "" {
		st, err = store.OpenURL(context.Background(), e.url, store.Options{Now: clock})
	} else {
		st, err = store.Open(filepath.Join(e.dir, "lamb.db"), store.Options{Now: clock})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// instance opens a second lamb process on e's database: its own Store and
// Service, with e's secret key and clock.
func (e *testEnv) instance(t testing.TB) *Service {
	t.Helper()
	st := e.openStore(t)
	box, err := secret.NewBox(e.key)
	if err != nil {
		t.Fatal(err)
	}
	svc := New(Deps{Store: st, Box: box, Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return e.now },
		SharedLimits: new(bool)}) // see open
	t.Cleanup(svc.Close)
	return svc
}

// outcome names an answer for comparing runs: ok, a refusal with its
// wait, or the error.
func outcome(err error) string {
	var te *ThrottledError
	var re *RateLimitedError
	var le *RetryLaterError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &te):
		return "throttled " + te.RetryAfter.String()
	case errors.As(err, &re):
		return "rate limited " + re.RetryAfter.String()
	case errors.As(err, &le):
		return "retry later " + le.RetryAfter.String()
	case errors.Is(err, ErrBadCredentials):
		return "bad credentials"
	case errors.Is(err, ErrSignupDenied):
		return "signup denied"
	case errors.Is(err, ErrConflict):
		return "conflict"
	}
	return "error: " + err.Error()
}

// throttleRun sets up an org on a fresh database of engine and makes the
// same attempts as an attacker would, each through the next of n
// instances in turn, returning every answer.
func throttleRun(t *testing.T, engine string, n int) []string {
	t.Helper()
	ctx := context.Background()
	e := newTestEnvOn(t, engine)
	mustSync(t, e, config.System{})
	sys := sysAdmin(t, e, "root@lamb.local")
	acme := orgWithAdmin(t, e, sys, "acme", emailAdminA)
	beta := orgWithAdmin(t, e, sys, "beta", emailAdminB)
	if _, err := e.svc.CreateUser(ctx, acme, CreateUserInput{OrgSlug: "acme", Email: "m@acme.edu", Name: "M", Password: "member-pass-1"}); err != nil {
		t.Fatal(err)
	}
	acmeKey, _ := newKey(t, "acme admin's second key")
	if _, err := e.svc.AddSSHKey(ctx, acme, "", acmeKey); err != nil {
		t.Fatal(err)
	}
	svcs := []*Service{e.svc}
	for len(svcs) < n {
		svcs = append(svcs, e.instance(t))
	}
	var out []string
	i := 0
	next := func() *Service { i++; return svcs[(i-1)%len(svcs)] }
	signIn := func(key, email, password, addr string) {
		_, err := next().SignIn(ctx, SignInInput{Key: key, Email: email, Password: password, RemoteAddr: addr})
		out = append(out, "sign-in "+outcome(err))
	}

	// Password guessing with one key over five accounts, then the right
	// password for a sixth: the key is paused.
	guesser := freshKey(t)
	for j := range signInMaxFailures {
		signIn(guesser, fmt.Sprintf("x%d@acme.edu", j), "wrong-password", "192.0.2.1:5000")
	}
	signIn(guesser, "m@acme.edu", "member-pass-1", "192.0.2.1:5000")
	// Guessing one account's password from five keys: the email is paused
	// for the address that failed, and stays open to another address.
	for range signInMaxFailures {
		signIn(freshKey(t), "m@acme.edu", "wrong-password", "192.0.2.2:5000")
	}
	signIn(freshKey(t), "m@acme.edu", "member-pass-1", "192.0.2.2:5000")
	signIn(freshKey(t), "m@acme.edu", "member-pass-1", "198.51.100.2:5000")

	// A signup flood from one address with made-up keys: 10 a minute.
	for j := range signupPerMinute + 2 {
		_, err := next().Signup(ctx, SignupInput{Email: fmt.Sprintf("s%d@x.example", j), Name: "S", Password: "long-enough-1",
			SignupKey: fmt.Sprintf("made-up-key-%02d", j), RemoteAddr: "192.0.2.3:6000"})
		out = append(out, "signup "+outcome(err))
	}
	// One key guessed from many addresses: 10 a minute.
	for j := range signupPerMinute + 2 {
		_, err := next().Signup(ctx, SignupInput{Email: fmt.Sprintf("k%d@x.example", j), Name: "K", Password: "long-enough-1",
			SignupKey: "guessed-key-0001", RemoteAddr: fmt.Sprintf("203.0.113.%d:6000", j+1)})
		out = append(out, "signup key "+outcome(err))
	}
	// Signup keys guessed through set-key: 10 an hour per person.
	for j := range signupKeySetsPerHour + 1 {
		_, err := next().SetSignupKey(ctx, beta, "beta", guess(j))
		out = append(out, "set-key "+outcome(err))
	}
	// Which SSH keys other orgs hold, asked through sshkey add: 20
	// "already used" answers per person in 10 minutes.
	for range uniquenessProbes + 1 {
		_, err := next().AddSSHKey(ctx, beta, "", acmeKey)
		out = append(out, "sshkey add "+outcome(err))
	}
	return out
}

// wantThrottled is what one lamb process answers to throttleRun's
// attempts.
func wantThrottled() []string {
	var want []string
	add := func(n int, s string) {
		for range n {
			want = append(want, s)
		}
	}
	add(signInMaxFailures, "sign-in bad credentials")
	add(1, "sign-in throttled 15m0s")
	add(signInMaxFailures, "sign-in bad credentials")
	add(1, "sign-in throttled 15m0s")
	add(1, "sign-in ok")
	add(signupPerMinute, "signup signup denied")
	add(2, "signup rate limited 1m0s")
	add(signupPerMinute, "signup key signup denied")
	add(2, "signup key rate limited 1m0s")
	add(signupKeySetsPerHour, "set-key ok")
	add(1, "set-key retry later 1h0m0s")
	add(uniquenessProbes, "sshkey add conflict")
	add(1, "sshkey add retry later 10m0s")
	return want
}

// Attack: behind a load balancer each attempt reaches another lamb
// process; limits counted per process let through the limit once per
// instance (password guessing, signup floods, probing other orgs' keys).
// Attempts split over two instances are refused exactly where one
// process refuses them.
func TestThrottlesHoldAcrossInstances(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			want := wantThrottled()
			for _, n := range []int{1, 2} {
				got := throttleRun(t, engine, n)
				if !slices.Equal(got, want) {
					for i := range max(len(got), len(want)) {
						g, w := "", ""
						if i < len(got) {
							g = got[i]
						}
						if i < len(want) {
							w = want[i]
						}
						if g != w {
							t.Errorf("%d instance(s), attempt %d: %q, want %q", n, i+1, g, w)
						}
					}
				}
			}
		})
	}
}

// Attack: a signup flood sent all at once to two instances, so that each
// checks its limit before the other has counted. 30 signups at once from
// one address: exactly 10 get past the limit.
func TestConcurrentSignupFloodAcrossInstances(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			e := newTestEnvOn(t, engine)
			mustSync(t, e, config.System{})
			svcs := []*Service{e.svc, e.instance(t)}
			const attempts = 30
			answers := make(chan string, attempts)
			var wg sync.WaitGroup
			for i := range attempts {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := svcs[i%2].Signup(ctx, SignupInput{Email: fmt.Sprintf("f%d@x.example", i), Name: "F",
						Password: "long-enough-1", SignupKey: fmt.Sprintf("made-up-key-%02d", i), RemoteAddr: "192.0.2.9:7000"})
					answers <- outcome(err)
				}()
			}
			wg.Wait()
			close(answers)
			count := map[string]int{}
			for a := range answers {
				count[a]++
			}
			if count["signup denied"] != signupPerMinute || count["rate limited 1m0s"] != attempts-signupPerMinute {
				t.Fatalf("answers %v; want %d denied by key and the rest rate limited", count, signupPerMinute)
			}
		})
	}
}

// Attack: signups from a new address each (an IPv6 range holds
// billions) leave a count per address; expired counts are purged, so the
// table holds only what a window still counts.
func TestAddressSprayDoesNotGrowThrottleTable(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			e := newTestEnvOn(t, engine)
			mustSync(t, e, config.System{})
			const spray = 300
			for i := range spray {
				_, err := e.svc.Signup(ctx, SignupInput{Email: "x@x.example", Name: "X", Password: "long-enough-1",
					SignupKey: "made-up-key-01", RemoteAddr: fmt.Sprintf("[2001:db8:%x::1]:7000", i)})
				if i < signupPerMinute && !errors.Is(err, ErrSignupDenied) {
					t.Fatalf("attempt %d: %v", i, err)
				}
			}
			rows := func() int64 {
				n, err := e.st.CountThrottleHits(ctx)
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
			if n := rows(); n != spray+1 { // one per address, one for the key
				t.Fatalf("%d rows after the spray, want %d", n, spray+1)
			}
			e.now = e.now.Add(signupWindow - time.Second)
			if n, err := e.svc.purgeThrottles(ctx); n != 0 || err != nil {
				t.Fatalf("purged %d, %v while the window still counts them", n, err)
			}
			e.now = e.now.Add(time.Second)
			if n, err := e.svc.purgeThrottles(ctx); n != spray+1 || err != nil {
				t.Fatalf("purged %d, %v; want %d", n, err, spray+1)
			}
			if n := rows(); n != 0 {
				t.Fatalf("%d rows left", n)
			}
		})
	}
}

// Every instance prints the same claim code, made once by whichever
// prepares first and kept across restarts; a claim through one instance
// closes it on all.
func TestClaimCodeIsOneForAllInstances(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			e := newTestEnvOn(t, engine)
			mustSync(t, e, config.System{})
			other := e.instance(t)
			code, err := other.PrepareClaim(ctx, SystemActor())
			if err != nil || code == "" {
				t.Fatalf("first instance: %q, %v", code, err)
			}
			for _, svc := range []*Service{e.svc, other, e.instance(t)} {
				if got, err := svc.PrepareClaim(ctx, SystemActor()); got != code || err != nil {
					t.Fatalf("another start: %q, %v; want %q", got, err, code)
				}
				if !svc.ClaimOpen(ctx) {
					t.Fatal("an instance doesn't offer the claim")
				}
			}
			key, _ := newKey(t, "")
			if a, err := e.svc.Claim(ctx, code, key, "me@uni.example", "Me"); err != nil || a.Role != RoleSystemAdmin {
				t.Fatalf("claim through the first instance: %+v, %v", a, err)
			}
			if other.ClaimOpen(ctx) {
				t.Fatal("the other instance still offers the claim")
			}
			if _, err := other.Claim(ctx, code, freshKey(t), "you@uni.example", "You"); !errors.Is(err, ErrBadClaim) {
				t.Fatalf("the code again through the other instance: %v", err)
			}
			if got, err := other.PrepareClaim(ctx, SystemActor()); got != "" || err != nil {
				t.Fatalf("a start after the claim: %q, %v", got, err)
			}
		})
	}
}

// Attack: two people enter the claim code at the same moment, each on
// another instance; both would become system admins if each instance
// checked "no admin yet" on its own. Eight claims at once: one admin.
func TestClaimRaceOnTwoInstancesMakesOneAdmin(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			e := newTestEnvOn(t, engine)
			mustSync(t, e, config.System{})
			svcs := []*Service{e.svc, e.instance(t)}
			code, err := e.svc.PrepareClaim(ctx, SystemActor())
			if err != nil {
				t.Fatal(err)
			}
			const claims = 8
			keys := make([]string, claims)
			for i := range keys {
				keys[i] = freshKey(t)
			}
			answers := make(chan error, claims)
			var wg sync.WaitGroup
			for i := range claims {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := svcs[i%2].Claim(ctx, code, keys[i], fmt.Sprintf("claimer%d@uni.example", i), "Claimer")
					answers <- err
				}()
			}
			wg.Wait()
			close(answers)
			won := 0
			for err := range answers {
				switch {
				case err == nil:
					won++
				case !errors.Is(err, ErrBadClaim):
					t.Errorf("a losing claim: %v, want ErrBadClaim", err)
				}
			}
			if won != 1 {
				t.Fatalf("%d claims won, want 1", won)
			}
			if n, err := e.st.CountSystemAdmins(ctx); n != 1 || err != nil {
				t.Fatalf("%d system admins, %v", n, err)
			}
			if n := e.auditCount(t, "system.claim"); n != 1 {
				t.Fatalf("system.claim audited %d times", n)
			}
		})
	}
}

// startInstance is what cmd/lamb does at start, on its own Store: migrate,
// check the key, sync the system org, attach the bootstrap admins, prepare
// the claim code.
func (e *testEnv) startInstance(ctx context.Context, migrate bool, adminKeys []string) (string, error) {
	clock := func() time.Time { return e.now }
	var st *store.Store
	var err error
	if e.url != "" {
		st, err = store.OpenURL(ctx, e.url, store.Options{Now: clock})
	} else {
		st, err = store.Open(filepath.Join(e.dir, "lamb.db"), store.Options{Now: clock})
	}
	if err != nil {
		return "", err
	}
	defer st.Close()
	if migrate {
		if err := st.Migrate(ctx); err != nil {
			return "", err
		}
	}
	box, err := secret.NewBox(e.key)
	if err != nil {
		return "", err
	}
	svc := New(Deps{Store: st, Box: box, Logger: slog.New(slog.DiscardHandler), Now: clock})
	defer svc.Close()
	if err := svc.CheckSecretKey(ctx); err != nil {
		return "", err
	}
	if _, err := svc.SyncSystemOrg(ctx, SystemActor(), config.System{}); err != nil {
		return "", fmt.Errorf("sync: %w", err)
	}
	if err := svc.BootstrapAdmins(ctx, SystemActor(), adminKeys, "admin@lamb.local", "Administrator"); err != nil {
		return "", fmt.Errorf("bootstrap admins: %w", err)
	}
	return svc.PrepareClaim(ctx, SystemActor())
}

// Instances started at the same moment on an empty database make one
// system org and one bootstrap admin with its keys, or, with no admin
// keys, one claim code that all of them print. On PostgreSQL each also
// migrates the empty database; SQLite serves one process, so there the
// database is migrated first and the instances are Stores in one process.
func TestInstancesStartingTogetherBootstrapOnce(t *testing.T) {
	for _, engine := range engines {
		for _, withKeys := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/admin_keys=%v", engine, withKeys), func(t *testing.T) {
				ctx := context.Background()
				e := &testEnv{key: make([]byte, secret.KeySize), dir: t.TempDir(), now: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
				copy(e.key, "a secret key shared by instances")
				if engine == store.EnginePostgres {
					e.url = pgtest.URL(t)
				} else {
					st := e.openStore(t)
					if err := st.Migrate(ctx); err != nil {
						t.Fatal(err)
					}
				}
				var adminKeys []string
				if withKeys {
					k1, _ := newKey(t, "admin laptop")
					k2, _ := newKey(t, "admin desktop")
					adminKeys = []string{k1, k2}
				}
				const instances = 6
				codes := make([]string, instances)
				errs := make([]error, instances)
				var wg sync.WaitGroup
				for i := range instances {
					wg.Add(1)
					go func() {
						defer wg.Done()
						codes[i], errs[i] = e.startInstance(ctx, engine == store.EnginePostgres, adminKeys)
					}()
				}
				wg.Wait()
				for i, err := range errs {
					if err != nil {
						t.Fatalf("instance %d: %v", i, err)
					}
				}
				e.st = e.openStore(t)
				if n := e.count(t, `SELECT COUNT(*) FROM organizations WHERE slug = 'lamb' OR is_system = 1`); n != 1 {
					t.Fatalf("%d system organizations", n)
				}
				if n := e.auditCount(t, "system.sync"); n != 1 {
					t.Fatalf("system.sync audited %d times, want once (the creation)", n)
				}
				admins, keys := e.count(t, `SELECT COUNT(*) FROM users`), e.count(t, `SELECT COUNT(*) FROM ssh_keys`)
				if withKeys {
					if admins != 1 || keys != 2 || e.auditCount(t, "user.create") != 1 {
						t.Fatalf("%d users, %d keys, %d user.create; want the one bootstrap admin with its 2 keys", admins, keys, e.auditCount(t, "user.create"))
					}
					for i, c := range codes {
						if c != "" {
							t.Fatalf("instance %d printed claim code %q with an admin configured", i, c)
						}
					}
					return
				}
				if admins != 0 || keys != 0 {
					t.Fatalf("%d users, %d keys without admin keys", admins, keys)
				}
				for i, c := range codes {
					if c == "" || c != codes[0] {
						t.Fatalf("instance %d printed claim code %q, instance 0 %q: want one code for all", i, c, codes[0])
					}
				}
			})
		}
	}
}

// The retention job runs on one instance at a time: an instance whose
// round comes while another purges skips it, and purges at its next round.
func TestRetentionRunsOnOneInstanceAtATime(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			e := newTestEnvOn(t, engine)
			mustSync(t, e, config.System{})
			org, err := e.st.CreateOrg(ctx, storeOrg("acme"))
			if err != nil {
				t.Fatal(err)
			}
			old := []store.UsageEvent{{OrganizationID: org.ID, Status: "ok", HTTPStatus: 200, PromptTokens: 1, CreatedAt: e.now.AddDate(0, 0, -500)}}
			if err := e.st.InTx(ctx, func(tx *store.Tx) error { return tx.InsertUsage(ctx, old) }); err != nil {
				t.Fatal(err)
			}
			other := e.instance(t)
			left := func() int64 {
				n, err := e.st.CountUsageEvents(ctx, org.ID)
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
			if engine == store.EnginePostgres {
				// The first instance is purging (it holds the job's lock).
				held, err := e.st.TryExclusive(ctx, store.LockRetention, func(ctx context.Context) error {
					if other.retentionRound(ctx, 400) {
						t.Error("the other instance ran its round while one was purging")
					}
					if n := left(); n != 1 {
						t.Errorf("%d events left while skipping, want 1", n)
					}
					return nil
				})
				if !held || err != nil {
					t.Fatalf("hold the retention lock: %v, %v", held, err)
				}
			}
			if !other.retentionRound(ctx, 400) {
				t.Fatal("no round ran with nobody else purging")
			}
			if n := left(); n != 0 {
				t.Fatalf("%d events left after the round", n)
			}
		})
	}
}

// The start sequence waits while another instance holds the bootstrap
// lock, and goes on once it is released. (Serializable transactions also
// keep a second system org out; the lock makes instances starting
// together take turns instead of failing and retrying.)
func TestStartWaitsForAnotherInstancesBootstrap(t *testing.T) {
	ctx := context.Background()
	e := newTestEnvOn(t, store.EnginePostgres)
	other := e.instance(t)
	done := make(chan error, 1)
	err := e.st.Exclusive(ctx, store.LockBootstrap, func(ctx context.Context) error {
		go func() {
			_, err := other.SyncSystemOrg(ctx, SystemActor(), config.System{})
			done <- err
		}()
		db := e.rawDB(t)
		waiting := func() int {
			var n int
			if err := db.QueryRow(`SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database()
				AND wait_event_type = 'Lock' AND wait_event = 'advisory'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		deadline := time.Now().Add(30 * time.Second)
		for waiting() == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond) // poll interval
		}
		if waiting() != 1 {
			t.Error("the other instance's sync is not waiting for the bootstrap lock")
		}
		select {
		case err := <-done:
			t.Errorf("sync finished while another instance held the bootstrap lock: %v", err)
		default:
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("sync after the lock was released: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("sync did not go on within 30s of the lock's release")
	}
	if _, err := e.st.SystemOrg(ctx); err != nil {
		t.Fatalf("system org after the sync: %v", err)
	}
}
