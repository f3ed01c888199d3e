// Command lamb runs the lamb server: the SSH console and the HTTP gateway
// in one process.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/charmbracelet/ssh"

	"lamb/api"
	"lamb/config"
	"lamb/internal/connlimit"
	"lamb/secret"
	"lamb/service"
	"lamb/sshserver"
	"lamb/store"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// defaultShutdownTimeout bounds how long in-flight work may take after
// SIGTERM.
const defaultShutdownTimeout = 15 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lamb", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: lamb [flags]        run the server (SSH console + HTTP gateway)")
		fmt.Fprintln(stderr, "       lamb version        print the version")
		fmt.Fprintln(stderr, "       lamb db copy --to postgres://…")
		fmt.Fprintln(stderr, "                           copy this lamb's SQLite database into an empty PostgreSQL database (stop lamb first)")
		fmt.Fprintln(stderr, "\nFlags override the environment and .env:")
		fs.PrintDefaults()
	}
	dataDir := fs.String("data-dir", "", "data directory (LAMB_DATA_DIR, default ./data)")
	sshAddr := fs.String("ssh-addr", "", "SSH listen address (LAMB_SSH_ADDR, default :2222)")
	httpAddr := fs.String("http-addr", "", "HTTP listen address (LAMB_HTTP_ADDR, default :8080)")
	databaseURL := fs.String("database-url", "", "postgres://… for PostgreSQL (LAMB_DATABASE_URL, default SQLite in the data directory)")
	envFile := fs.String("env-file", ".env", "the .env file to read (process environment wins)")
	shutdownTimeout := fs.Duration("shutdown-timeout", defaultShutdownTimeout, "how long in-flight requests may run after SIGTERM before they are cancelled")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	switch fs.Arg(0) {
	case "":
	case "version":
		fmt.Fprintln(stdout, "lamb", version)
		return 0
	case "db":
		return runDB(ctx, fs.Args()[1:], *dataDir, *envFile, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "lamb: unknown command %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}

	cfg, err := config.Load(*envFile)
	if err != nil {
		fmt.Fprintln(stderr, "lamb: configuration:", err)
		return 1
	}
	for dst, v := range map[*string]string{&cfg.DataDir: *dataDir, &cfg.SSHAddr: *sshAddr, &cfg.HTTPAddr: *httpAddr, &cfg.DatabaseURL: *databaseURL} {
		if v != "" {
			*dst = v
		}
	}
	if err := cfg.CheckDatabase(); err != nil {
		fmt.Fprintln(stderr, "lamb: configuration:", err)
		return 1
	}
	logOut := newLogWriter(stderr)
	defer logOut.Close()
	logger := newLogger(cfg, logOut)
	if *shutdownTimeout <= 0 {
		fmt.Fprintln(stderr, "lamb: --shutdown-timeout must be positive, e.g. 15s")
		return 2
	}
	if err := serve(ctx, cfg, *envFile, *shutdownTimeout, logger); err != nil {
		logger.Error("lamb stopped", "err", err)
		return 1
	}
	return 0
}

// newLogger returns lamb's logger: slog's text or JSON handler, which
// format each record without styling and hold a lock only to write it, so
// the gateway's line per request stays cheap.
func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel)) // config validated it
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// secretKey is LAMB_SECRET_KEY, or the key file in the data directory.
// The file is made on the first start only: a database that already
// holds sealed secrets without its key file is refused, never given a new
// key that can't open them.
func secretKey(ctx context.Context, cfg *config.Config, st *store.Store) ([]byte, error) {
	if cfg.SecretKey != nil {
		return cfg.SecretKey, nil
	}
	path := filepath.Join(cfg.DataDir, "secret.key")
	key, err := secret.LoadKeyFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	held, err := service.HoldsSecrets(ctx, st)
	if err != nil {
		return nil, err
	}
	if held {
		return nil, fmt.Errorf("%s is missing, but this database holds secrets sealed with it: restore the secret.key backed up with lamb.db "+
			"(or set LAMB_SECRET_KEY to that key); lamb won't make a new key that can't open them", path)
	}
	return secret.CreateKeyFile(path)
}

// serve opens everything, serves until ctx is done or a listener fails,
// then shuts down gracefully.
func serve(ctx context.Context, cfg *config.Config, envFile string, shutdownTimeout time.Duration, logger *slog.Logger) error {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory %s: %w", cfg.DataDir, err)
	}
	st, dbName, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()

	// Listen before the slow part of the start, so that a taken port fails
	// it at once, naming the address.
	sshLn, err := net.Listen("tcp", cfg.SSHAddr)
	if err != nil {
		return fmt.Errorf("ssh listener on %s: %w", cfg.SSHAddr, err)
	}
	httpLn, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		sshLn.Close()
		return fmt.Errorf("http listener on %s: %w", cfg.HTTPAddr, err)
	}
	// Descriptor exhaustion: no client address, nor all clients together,
	// may hold every descriptor of the process.
	maxConns := cfg.MaxConnections
	if maxConns == 0 {
		maxConns = connlimit.DescriptorBudget()
	}
	budget := connlimit.NewBudget(maxConns)
	sshLn = connlimit.Wrap(sshLn, budget, cfg.SSHConnsPerAddress)
	httpLn = connlimit.Wrap(httpLn, budget, cfg.HTTPConnsPerAddress)
	logger.Info("connection limits", "total", maxConns,
		"ssh_per_address", cfg.SSHConnsPerAddress, "http_per_address", cfg.HTTPConnsPerAddress)

	// HTTP answers from the start: while this instance migrates the
	// database (waiting, maybe, for another instance's migrations) and
	// prepares the rest, /healthz says it is not ready, so that a load
	// balancer sends its traffic elsewhere. Then the full handler takes
	// over.
	starting := api.NewStarting(st.Engine(), api.ReasonMigrating)
	var current atomic.Pointer[http.Handler]
	setHandler := func(h http.Handler) { current.Store(&h) }
	setHandler(starting)
	// Requests run under a context that shutdown can cancel, and are
	// counted, so that usage is flushed only after the last one ended.
	reqCtx, cancelRequests := context.WithCancelCause(context.Background())
	defer cancelRequests(nil)
	var inflight requestGate
	httpSrv := api.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !inflight.enter() {
			// Past Close: the process is about to flush and exit.
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "5")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"error":{"message":"the server is shutting down; retry in a moment","type":"api_error","code":"server_shutting_down"}}` + "\n"))
			return
		}
		defer inflight.leave()
		(*current.Load()).ServeHTTP(w, r)
	}))
	httpSrv.BaseContext = func(net.Listener) context.Context { return reqCtx }
	errc := make(chan error, 2)
	go func() { errc <- serveHTTP(httpSrv, httpLn) }()
	logger.Info("http listening", "addr", httpLn.Addr().String(), "url", cfg.BaseURL())

	stopping := make(chan struct{}) // closed when shutdown begins, whatever its cause
	svc, sshSrv, code, err := prepare(ctx, cfg, envFile, st, dbName, starting, stopping, logger)
	if err != nil {
		httpSrv.Close()
		sshLn.Close()
		if ctx.Err() != nil {
			logger.Info("stopped before the start completed", "err", err)
			return nil
		}
		return err
	}
	setHandler(api.NewHandler(svc, logger.With("component", "http"), api.Options{
		PublicURL: cfg.BaseURL(), SSHHint: cfg.SSHHint(portOf(sshLn.Addr())), Metrics: cfg.Metrics,
	}))

	retentionCtx, stopRetention := context.WithCancel(ctx)
	defer stopRetention()
	go svc.RunRetention(retentionCtx, cfg.UsageRetentionDays)
	alertsDone := make(chan struct{})
	go func() { svc.RunBudgetAlerts(retentionCtx); close(alertsDone) }()
	defer func() {
		// The checker stops before the database closes; a webhook being
		// sent is abandoned (its alert stays recorded and shown).
		stopRetention()
		select {
		case <-alertsDone:
		case <-time.After(5 * time.Second):
		}
	}()

	go func() { errc <- serveSSH(sshSrv, sshLn) }()
	logger.Info("ssh listening", "addr", sshLn.Addr().String(), "data_dir", cfg.DataDir, "database", st.Engine())
	logger.Info("ready", "http", httpLn.Addr().String(), "ssh", sshLn.Addr().String())
	if code != "" {
		logger.Warn("no system admin yet: sign in over SSH and enter the claim code", "claim_code", code,
			"hint", fmt.Sprintf("ssh -p %s <host>", portOf(sshLn.Addr())))
	}

	var serveErr error
	select {
	case <-ctx.Done():
		logger.Info("shutting down", "timeout", shutdownTimeout)
	case serveErr = <-errc:
		logger.Error("listener failed; shutting down", "err", serveErr)
	}
	close(stopping)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	herr := httpSrv.Shutdown(sctx)
	if herr != nil {
		// Requests still running past the bound (long streams) are
		// cancelled: each tells its client why (an error event, then
		// [DONE]) and records its usage, given a moment to do so.
		cancelRequests(service.ErrShuttingDown)
		ended := make(chan struct{})
		go func() { inflight.wait(); close(ended) }()
		select {
		case <-ended:
		case <-time.After(3 * time.Second):
		}
		httpSrv.Close()
	}
	inflight.close()
	svc.Close() // flush the usage events of every request that ran
	serr := sshSrv.Shutdown(sctx)
	if errors.Is(serr, context.DeadlineExceeded) {
		serr = sshSrv.Close()
	}
	if serveErr != nil {
		return serveErr
	}
	if err := errors.Join(herr, serr); err != nil {
		logger.Warn("shutdown was not clean", "err", err)
	}
	logger.Info("stopped")
	return nil
}

// prepare migrates the database and builds what serves: the service
// (with the system org synced and the bootstrap admins in place) and the
// SSH server with the deployment's host key. It returns the claim code to
// print, if any. starting tells /healthz what is going on meanwhile.
func prepare(ctx context.Context, cfg *config.Config, envFile string, st *store.Store, dbName string,
	starting *api.Starting, stopping <-chan struct{}, logger *slog.Logger) (*service.Service, *ssh.Server, string, error) {
	if err := st.Migrate(ctx); err != nil {
		return nil, nil, "", fmt.Errorf("migrate %s: %w", dbName, err)
	}
	starting.SetReason(api.ReasonStarting)
	key, err := secretKey(ctx, cfg, st)
	if err != nil {
		return nil, nil, "", err
	}
	box, err := secret.NewBox(key)
	if err != nil {
		return nil, nil, "", fmt.Errorf("LAMB_SECRET_KEY: %w", err)
	}
	svc := service.New(service.Deps{
		Store: st, Box: box, Logger: logger, Now: time.Now, PublicURL: cfg.BaseURL(), KBTimeout: cfg.KBTimeout,
		Alerts: service.AlertOptions{AllowPrivate: cfg.WebhookAllowPrivate},
		SystemEnv: func() (config.System, error) {
			lookup, err := config.EnvLookup(envFile)
			if err != nil {
				return config.System{}, err
			}
			return config.ParseSystem(lookup)
		},
	})
	fail := func(err error) (*service.Service, *ssh.Server, string, error) {
		svc.Close()
		return nil, nil, "", err
	}
	if err := svc.CheckSecretKey(ctx); err != nil {
		return fail(err)
	}
	if _, err := svc.SyncSystemOrg(ctx, service.SystemActor(), cfg.System); err != nil {
		return fail(fmt.Errorf("sync system organization from the environment: %w", err))
	}
	if err := svc.BootstrapAdmins(ctx, service.SystemActor(), cfg.AdminKeys, cfg.AdminEmail, cfg.AdminName); err != nil {
		return fail(fmt.Errorf("LAMB_ADMIN_KEYS: %w", err))
	}
	code, err := svc.PrepareClaim(ctx, service.SystemActor())
	if err != nil {
		return fail(fmt.Errorf("prepare claim code: %w", err))
	}
	hk, err := svc.SSHHostKey(ctx, service.HostKeySources{
		Configured: cfg.SSHHostKey, File: filepath.Join(cfg.DataDir, "ssh_host_ed25519_key"),
	})
	if err != nil {
		return fail(err)
	}
	from := hk.From
	if cfg.SSHHostKey != nil {
		from += "=" + cfg.SSHHostKeyPath
	}
	logger.Info("ssh host key", "from", from, "fingerprint", hk.Fingerprint, "created", hk.Created)
	sshSrv, err := sshserver.New(sshserver.Options{
		HostKey:  hk.PEM,
		Service:  svc,
		Logger:   logger.With("component", "ssh"),
		Stopping: stopping, // shutdown ends open consoles with a message
	})
	if err != nil {
		return fail(err)
	}
	return svc, sshSrv, code, nil
}

// openStore opens the database the configuration names: SQLite in the data
// directory, or PostgreSQL at LAMB_DATABASE_URL. It returns the store and
// a name for messages (a PostgreSQL URL without its password).
func openStore(ctx context.Context, cfg *config.Config) (*store.Store, string, error) {
	if cfg.DatabaseURL == "" {
		path := filepath.Join(cfg.DataDir, "lamb.db")
		st, err := store.Open(path, store.Options{})
		return st, path, err
	}
	st, err := store.OpenURL(ctx, cfg.DatabaseURL, store.Options{})
	if err != nil {
		return nil, "", fmt.Errorf("LAMB_DATABASE_URL: %w", err)
	}
	return st, store.Redacted(cfg.DatabaseURL), nil
}

// requestGate counts the HTTP requests being handled. Once closed it
// refuses new ones, so that no request starts after the usage flush.
type requestGate struct {
	mu     sync.Mutex
	cond   *sync.Cond
	n      int
	closed bool
}

func (g *requestGate) init() {
	if g.cond == nil {
		g.cond = sync.NewCond(&g.mu)
	}
}

func (g *requestGate) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.init()
	if g.closed {
		return false
	}
	g.n++
	return true
}

func (g *requestGate) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.init()
	g.n--
	if g.n == 0 {
		g.cond.Broadcast()
	}
}

// wait blocks until no request is being handled.
func (g *requestGate) wait() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.init()
	for g.n > 0 {
		g.cond.Wait()
	}
}

// close refuses new requests and waits for the running ones.
func (g *requestGate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.wait()
}

func serveSSH(srv *ssh.Server, ln net.Listener) error {
	err := srv.Serve(ln)
	if errors.Is(err, ssh.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("ssh server on %s: %w", ln.Addr(), err)
}

func serveHTTP(srv *http.Server, ln net.Listener) error {
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("http server on %s: %w", ln.Addr(), err)
}

func portOf(a net.Addr) string {
	_, port, _ := net.SplitHostPort(a.String())
	return port
}
