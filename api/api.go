// Package api serves lamb's HTTP endpoints: health, signup and the
// OpenAI-compatible gateway. Handlers are thin: they decode, call the
// service, and encode; every rule is in service.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"lamb/service"
)

// Handler is lamb's HTTP handler.
type Handler struct {
	svc  *service.Service
	log  *slog.Logger
	opts Options
	mux  *http.ServeMux
	// allowed holds the methods of each path, for 405 answers.
	allowed map[string][]string
}

// Options are what the pages tell people.
type Options struct {
	PublicURL string // base URL of this listener, e.g. https://lamb.example.edu
	SSHHint   string // how to reach the console: "ssh -p 2222 lamb.example.edu"
	Metrics   bool   // serve GET /metrics (LAMB_METRICS)
	// WriteTimeout bounds each write of a completion to its client (a
	// streamed chunk, or a whole JSON answer); 30 s when zero.
	WriteTimeout time.Duration
	// DatabaseTimeout bounds the requests that work on the database
	// (health, signup, the model list): one that stops answering makes
	// them 503 service_unavailable instead of hanging. 10 s when zero.
	// Completions have no total bound (a stream may run long); their
	// database work is bounded in the service.
	DatabaseTimeout time.Duration
}

// NewHandler returns the HTTP handler of every endpoint.
func NewHandler(svc *service.Service, logger *slog.Logger, opts Options) *Handler {
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = 30 * time.Second
	}
	if opts.DatabaseTimeout == 0 {
		opts.DatabaseTimeout = 10 * time.Second
	}
	h := &Handler{svc: svc, log: logger, opts: opts, mux: http.NewServeMux(), allowed: map[string][]string{}}
	h.handle("GET /{$}", h.home)
	h.handle("GET /healthz", h.bounded(h.healthz))
	h.handle("GET /signup", h.signupForm)
	h.handle("POST /signup", h.bounded(h.signupSubmit))
	h.handle("GET /signup/done", h.bounded(h.signupDone))
	h.handle("POST /v1/signup", h.bounded(h.signupJSON))
	h.handle("GET /v1/models", h.bounded(h.models))
	h.handle("POST /v1/chat/completions", h.chatCompletions)
	if opts.Metrics {
		h.handle("GET /metrics", h.bounded(h.metrics))
	}
	h.mux.HandleFunc("/", h.notFound)
	return h
}

// handle registers an endpoint and remembers its method for the Allow
// header of a request with another one.
func (h *Handler) handle(pattern string, fn http.HandlerFunc) {
	h.mux.HandleFunc(pattern, fn)
	method, path, _ := strings.Cut(pattern, " ")
	path = strings.TrimSuffix(path, "{$}")
	h.allowed[path] = append(h.allowed[path], method)
	if method == http.MethodGet {
		h.allowed[path] = append(h.allowed[path], http.MethodHead)
	}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.log.Error("panic in http handler", "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			writeError(w, http.StatusInternalServerError, "server_error", "internal_error", "internal error; the request was not completed")
		}
	}()
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) healthz(w http.ResponseWriter, r *http.Request) {
	if err := h.svc.Healthy(r.Context()); err != nil {
		h.log.Error("health check failed", "err", err)
		reason := service.ErrDatabaseDown.Error()
		if errors.Is(err, service.ErrUsageNotStored) {
			reason = service.ErrUsageNotStored.Error() + "; see the server log"
		}
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "database": h.svc.Database(), "reason": reason})
		return
	}
	// Which database answered, by engine only: never its address.
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "database": h.svc.Database()})
}

// bounded gives a request that works on the database a deadline
// (Options.DatabaseTimeout).
func (h *Handler) bounded(fn http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), h.opts.DatabaseTimeout)
		defer cancel()
		fn(w, r.WithContext(ctx))
	}
}

// unavailableRetryAfter is the Retry-After of a request that needed the
// database while it couldn't be reached.
const unavailableRetryAfter = "5"

// unavailable answers a request that needed the database while it can't
// be reached: 503, and the pool reconnects on its own, so the same
// request succeeds once the database is back.
func (h *Handler) unavailable(w http.ResponseWriter, err error) {
	h.log.Warn("database unreachable", "err", err)
	w.Header().Set("Retry-After", unavailableRetryAfter)
	writeError(w, http.StatusServiceUnavailable, "api_error", "service_unavailable", service.ErrUnavailable.Error())
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	if methods := h.allowed[r.URL.Path]; len(methods) > 0 {
		w.Header().Set("Allow", strings.Join(methods, ", "))
		writeError(w, http.StatusMethodNotAllowed, "invalid_request_error", "method_not_allowed",
			r.Method+" is not allowed on "+r.URL.Path+"; use "+strings.Join(methods, " or "))
		return
	}
	writeError(w, http.StatusNotFound, "invalid_request_error", "not_found", "no such endpoint: "+r.Method+" "+r.URL.Path)
}

// home is GET /: what this server is, for a person who opens it in a
// browser.
func (h *Handler) home(w http.ResponseWriter, r *http.Request) {
	h.renderPage(w, http.StatusOK, homePage, h.opts.PublicURL)
}

// errorBody is the one shape of every JSON error (DESIGN §7).
type errorBody struct {
	Error struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Code    string `json:"code"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, typ, code, msg string) {
	var b errorBody
	b.Error.Message, b.Error.Type, b.Error.Code = msg, typ, code
	writeJSON(w, status, b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// NewServer returns an http.Server for h with timeouts that protect against
// slow clients without cutting off long streamed completions.
func NewServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}
