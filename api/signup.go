package api

import (
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"lamb/service"
)

//go:embed templates/*.html
var templates embed.FS

var (
	signupPage = template.Must(template.ParseFS(templates, "templates/signup.html"))
	homePage   = template.Must(template.ParseFS(templates, "templates/home.html"))
)

// Body limits (DESIGN §7).
const (
	maxSignupBody     = 64 << 10
	maxCompletionBody = 1 << 20
)

// busyRetryAfter is the Retry-After of a request refused because every
// password-hashing slot was taken (service.ErrBusy), in seconds.
const busyRetryAfter = "2"

// signupRequest is the JSON body of POST /v1/signup.
type signupRequest struct {
	Email        string `json:"email"`
	Name         string `json:"name"`
	Password     string `json:"password"`
	SignupKey    string `json:"signup_key"`
	SSHPublicKey string `json:"ssh_public_key"`
}

type signupResponse struct {
	ID           int64  `json:"id"`
	Email        string `json:"email"`
	Name         string `json:"name"`
	Organization struct {
		Slug string `json:"slug"`
		Name string `json:"name"`
	} `json:"organization"`
	Role string `json:"role"`
}

// signupJSON is POST /v1/signup.
func (h *Handler) signupJSON(w http.ResponseWriter, r *http.Request) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_content_type", "send the body as JSON with Content-Type: application/json")
		return
	}
	var req signupRequest
	if e := decodeJSON(w, r, maxSignupBody, &req); e != nil {
		e.write(w)
		return
	}
	res, err := h.svc.Signup(r.Context(), service.SignupInput{Email: req.Email, Name: req.Name, Password: req.Password,
		SignupKey: req.SignupKey, SSHKey: req.SSHPublicKey, RemoteAddr: r.RemoteAddr})
	if err != nil {
		h.signupError(w, err)
		return
	}
	var out signupResponse
	out.ID, out.Email, out.Name, out.Role = res.ID, res.Email, res.Name, res.Role
	out.Organization.Slug, out.Organization.Name = res.OrgSlug, res.OrgName
	writeJSON(w, http.StatusCreated, out)
}

// bodyError is why a request body was refused.
type bodyError struct {
	status    int
	code, msg string
}

func (e *bodyError) write(w http.ResponseWriter) {
	writeError(w, e.status, "invalid_request_error", e.code, e.msg)
}

// decodeJSON reads a JSON body of at most limit bytes into v. It refuses a
// larger body (413) and malformed JSON or wrong types (400); unknown fields
// are ignored.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) *bodyError {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	err := dec.Decode(v)
	if err == nil {
		// One JSON value and nothing after it: Decode alone stops at the
		// end of the first value and would accept `{…} garbage`.
		if _, terr := dec.Token(); terr != io.EOF {
			err = terr
			if err == nil {
				err = errors.New("unexpected data after the JSON object")
			}
		}
	}
	return bodyErrorFor(err, limit)
}

// bodyErrorFor explains an error reading or decoding a JSON body of at
// most limit bytes, naming the JSON field of a type error.
func bodyErrorFor(err error, limit int64) *bodyError {
	var tooBig *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &tooBig):
		return &bodyError{http.StatusRequestEntityTooLarge, "request_too_large",
			"the request body is larger than " + strconv.FormatInt(limit>>10, 10) + " KiB"}
	case errors.As(err, &typeErr):
		// encoding/json names embedded structs (ChatCompletionRequest.messages);
		// callers know the JSON field only.
		parts := strings.Split(typeErr.Field, ".")
		for len(parts) > 1 && parts[0] != "" && parts[0][0] >= 'A' && parts[0][0] <= 'Z' {
			parts = parts[1:] // a Go type's name, not a JSON field
		}
		field := strings.Join(parts, ".")
		if field == "" { // the body itself, e.g. a list
			field = "body"
		}
		return &bodyError{http.StatusBadRequest, "invalid_type", field + ": must be " + jsonType(typeErr.Type.Kind().String())}
	}
	return &bodyError{http.StatusBadRequest, "invalid_json", "the body is not valid JSON: " + strings.TrimPrefix(err.Error(), "json: ")}
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice":
		return "a list"
	case "struct", "map", "ptr":
		return "an object"
	}
	return "a number"
}

func (h *Handler) signupError(w http.ResponseWriter, err error) {
	var rl *service.RateLimitedError
	var limit *service.LimitError
	switch {
	case errors.As(err, &rl):
		w.Header().Set("Retry-After", strconv.Itoa(rl.Seconds()))
		writeError(w, http.StatusTooManyRequests, "rate_limit_error", "rate_limit_exceeded", rl.Error())
	case errors.Is(err, service.ErrBusy):
		w.Header().Set("Retry-After", busyRetryAfter)
		writeError(w, http.StatusServiceUnavailable, "server_error", "server_busy", err.Error())
	case errors.Is(err, service.ErrUnavailable):
		h.unavailable(w, err)
	case errors.Is(err, service.ErrInvalid):
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_request_error", err.Error())
	case errors.Is(err, service.ErrSignupDenied):
		writeError(w, http.StatusForbidden, "permission_error", "signup_denied", err.Error())
	case errors.Is(err, service.ErrEmailTaken):
		writeError(w, http.StatusConflict, "invalid_request_error", "email_taken", err.Error())
	case errors.As(err, &limit):
		writeError(w, http.StatusForbidden, "permission_error", "user_limit_reached", "this organization has no room for more accounts; ask its admin")
	default:
		h.log.Error("signup failed", "err", err)
		writeError(w, http.StatusInternalServerError, "server_error", "internal_error", "signup failed on the server; try again later")
	}
}

// signupView is what the signup page shows.
type signupView struct {
	Values   map[string]string
	Errors   map[string]string
	Done     bool
	Expired  bool // the result page, with no (or an expired) receipt
	Result   service.SignupResult
	KeyAdded bool
	SSHHint  string
	APIBase  string
}

// receiptCookie carries the receipt of a signup from the form's answer to
// the result page (service.SignupReceipt). Only /signup reads it.
const receiptCookie = "lamb_signup"

// signupForm is GET /signup: the form, the key prefilled from ?key=.
func (h *Handler) signupForm(w http.ResponseWriter, r *http.Request) {
	h.renderSignup(w, http.StatusOK, signupView{Values: map[string]string{"signup_key": r.URL.Query().Get("key")}})
}

// signupSubmit is POST /signup: the form posted, answered with a page.
func (h *Handler) signupSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxSignupBody)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.renderSignup(w, http.StatusRequestEntityTooLarge, signupView{Errors: map[string]string{"form": "The form was too large to read; shorten the SSH key field and try again."}})
		} else {
			h.renderSignup(w, http.StatusBadRequest, signupView{Errors: map[string]string{"form": "The form could not be read; reload the page and try again."}})
		}
		return
	}
	v := signupView{Values: map[string]string{}, Errors: map[string]string{}}
	for _, f := range []string{"email", "name", "signup_key", "ssh_public_key"} {
		v.Values[f] = r.PostForm.Get(f)
	}
	res, err := h.svc.Signup(r.Context(), service.SignupInput{Email: v.Values["email"], Name: v.Values["name"],
		Password: r.PostForm.Get("password"), SignupKey: v.Values["signup_key"], SSHKey: v.Values["ssh_public_key"],
		RemoteAddr: r.RemoteAddr})
	if err == nil {
		// Post/redirect/get: the answer sends the browser on to the
		// result page, so that reloading it shows the result again
		// instead of posting the form twice ("already exists").
		http.SetCookie(w, &http.Cookie{Name: receiptCookie, Value: h.svc.SignupReceipt(res, strings.TrimSpace(v.Values["ssh_public_key"]) != ""),
			Path: "/signup", MaxAge: int(service.SignupReceiptTTL.Seconds()), HttpOnly: true, SameSite: http.SameSiteLaxMode,
			Secure: r.TLS != nil || strings.HasPrefix(h.opts.PublicURL, "https://")})
		http.Redirect(w, r, "/signup/done", http.StatusSeeOther)
		return
	}
	status := http.StatusBadRequest
	var ie *service.InvalidError
	var ies service.InvalidErrors
	var rl *service.RateLimitedError
	var limit *service.LimitError
	switch {
	case errors.As(err, &ies):
		for _, e := range ies {
			v.Errors[e.Field] = e.Message
		}
	case errors.As(err, &ie) && ie.Field != "":
		v.Errors[ie.Field] = ie.Message
	case errors.As(err, &rl):
		status = http.StatusTooManyRequests
		w.Header().Set("Retry-After", strconv.Itoa(rl.Seconds()))
		v.Errors["form"] = rl.Error()
	case errors.Is(err, service.ErrBusy):
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", busyRetryAfter)
		v.Errors["form"] = "The server is busy; try again in a moment."
	case errors.Is(err, service.ErrUnavailable):
		h.log.Warn("signup: database unreachable", "err", err)
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", unavailableRetryAfter)
		v.Errors["form"] = "The server can't reach its database right now; try again in a moment."
	case errors.Is(err, service.ErrSignupDenied):
		status = http.StatusForbidden
		v.Errors["signup_key"] = err.Error()
	case errors.Is(err, service.ErrEmailTaken):
		status = http.StatusConflict
		v.Errors["email"] = "An account with this email already exists. Sign in over SSH instead, or ask your admin to reset your password."
	case errors.As(err, &limit):
		status = http.StatusForbidden
		v.Errors["form"] = "This organization has no room for more accounts; ask its admin."
	default:
		h.log.Error("signup failed", "err", err)
		status = http.StatusInternalServerError
		v.Errors["form"] = "Signup failed on the server; try again in a moment."
	}
	h.renderSignup(w, status, v)
}

// signupDone is GET /signup/done: the result of the signup whose receipt
// the browser holds, as often as it is reloaded within the receipt's hour.
func (h *Handler) signupDone(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store") // it names the account
	c, err := r.Cookie(receiptCookie)
	if err != nil {
		h.renderSignup(w, http.StatusNotFound, signupView{Expired: true, SSHHint: h.opts.SSHHint})
		return
	}
	res, keyAdded, err := h.svc.SignupByReceipt(r.Context(), c.Value)
	if errors.Is(err, service.ErrNotFound) {
		h.renderSignup(w, http.StatusNotFound, signupView{Expired: true, SSHHint: h.opts.SSHHint})
		return
	} else if errors.Is(err, service.ErrUnavailable) {
		// The receipt stays: a reload once the database answers shows it.
		h.log.Warn("signup result page: database unreachable", "err", err)
		w.Header().Set("Retry-After", unavailableRetryAfter)
		h.renderSignup(w, http.StatusServiceUnavailable, signupView{Errors: map[string]string{"form": "The server can't reach its database right now; reload this page in a moment."}})
		return
	} else if err != nil {
		h.log.Error("signup result page", "err", err)
		h.renderSignup(w, http.StatusInternalServerError, signupView{Errors: map[string]string{"form": "The result could not be shown; your account may still exist: try signing in over SSH."}})
		return
	}
	h.renderSignup(w, http.StatusOK, signupView{Done: true, Result: res, KeyAdded: keyAdded, SSHHint: h.opts.SSHHint, APIBase: h.opts.PublicURL + "/v1"})
}

func (h *Handler) renderSignup(w http.ResponseWriter, status int, v signupView) {
	h.renderPage(w, status, signupPage, v)
}

// renderPage writes an HTML page under a strict Content-Security-Policy.
func (h *Handler) renderPage(w http.ResponseWriter, status int, page *template.Template, v any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if err := page.Execute(w, v); err != nil {
		h.log.Error("render page", "page", page.Name(), "err", err)
	}
}
