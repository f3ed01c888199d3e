// Package fakekb is a knowledge-base server for tests, speaking the
// lamb-kb-server API that lamb's gateway uses: POST
// /collections/{id}/query, GET /collections and GET /health, with Bearer
// tokens. It records what it was asked (and with which token) and can be
// slow, fail or answer nonsense, the ways a real one does.
package fakekb

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// Mode is how the server answers queries.
type Mode int

// Modes.
const (
	OK          Mode = iota
	ServerError      // 500
	Malformed        // 200 with a body that isn't the API's JSON
	Hang             // never answers until the client gives up
)

// Chunk is one stored piece of a collection.
type Chunk struct {
	Similarity float64        `json:"similarity"`
	Data       string         `json:"data"`
	Metadata   map[string]any `json:"metadata"`
}

// Query is a query the server received.
type Query struct {
	Collection   string         `json:"-"`
	Token        string         `json:"-"` // the Bearer token sent
	QueryText    string         `json:"query_text"`
	TopK         int            `json:"top_k"`
	Threshold    float64        `json:"threshold"`
	PluginParams map[string]any `json:"plugin_params"`
	At           time.Time      `json:"-"`
}

// Server is the fake. It is safe for concurrent use.
type Server struct {
	mu          sync.Mutex
	token       string
	mode        Mode
	delay       time.Duration
	collections map[string][]Chunk
	names       map[string]string
	queries     []Query
}

// New returns a server that requires token ("" = any) and has no
// collections.
func New(token string) *Server {
	return &Server{token: token, collections: map[string][]Chunk{}, names: map[string]string{}}
}

// AddCollection stores a collection with its chunks.
func (s *Server) AddCollection(id, name string, chunks ...Chunk) {
	s.mu.Lock()
	s.collections[id], s.names[id] = chunks, name
	s.mu.Unlock()
}

// SetMode changes how queries are answered.
func (s *Server) SetMode(m Mode) { s.mu.Lock(); s.mode = m; s.mu.Unlock() }

// SetDelay makes every query wait d before answering.
func (s *Server) SetDelay(d time.Duration) { s.mu.Lock(); s.delay = d; s.mu.Unlock() }

// Queries returns the queries received so far, in order of arrival.
func (s *Server) Queries() []Query {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Query(nil), s.queries...)
}

// ServeHTTP answers the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	token, mode, delay := s.token, s.mode, s.delay
	s.mu.Unlock()
	sent := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	path := strings.Trim(r.URL.Path, "/")
	switch {
	case r.Method == http.MethodGet && path == "health":
		writeJSON(w, 200, map[string]string{"status": "ok"})
		return
	case token != "" && sent != token:
		writeJSON(w, 401, map[string]string{"detail": "Invalid authentication credentials"})
		return
	case r.Method == http.MethodGet && path == "collections":
		s.list(w)
		return
	}
	id, ok := strings.CutPrefix(path, "collections/")
	id, ok2 := strings.CutSuffix(id, "/query")
	if r.Method != http.MethodPost || !ok || !ok2 || strings.Contains(id, "/") {
		writeJSON(w, 404, map[string]string{"detail": "Not Found"})
		return
	}
	q := Query{Collection: id, Token: sent, At: time.Now()}
	if err := json.NewDecoder(r.Body).Decode(&q); err != nil {
		writeJSON(w, 422, map[string]string{"detail": err.Error()})
		return
	}
	q.Collection, q.Token = id, sent
	s.mu.Lock()
	s.queries = append(s.queries, q)
	chunks, found := s.collections[id]
	s.mu.Unlock()

	if mode == Hang {
		<-r.Context().Done()
		return
	}
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	switch {
	case mode == ServerError:
		writeJSON(w, 500, map[string]string{"detail": "Internal Server Error"})
		return
	case mode == Malformed:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(200)
		w.Write([]byte("<html>not the API</html>"))
		return
	case !found:
		writeJSON(w, 404, map[string]string{"detail": "Collection " + id + " not found"})
		return
	}
	var results []Chunk
	for _, c := range chunks {
		if c.Similarity >= q.Threshold {
			results = append(results, c)
		}
	}
	sort.SliceStable(results, func(i, j int) bool { return results[i].Similarity > results[j].Similarity })
	if q.TopK > 0 && len(results) > q.TopK {
		results = results[:q.TopK]
	}
	if results == nil {
		results = []Chunk{}
	}
	writeJSON(w, 200, map[string]any{"results": results, "count": len(results),
		"timing": map[string]float64{"total_ms": 1}, "query": q.QueryText})
}

func (s *Server) list(w http.ResponseWriter) {
	s.mu.Lock()
	type item struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	items := []item{}
	for id, name := range s.names {
		items = append(items, item{id, name})
	}
	s.mu.Unlock()
	sort.Slice(items, func(i, j int) bool { return items[i].ID < items[j].ID })
	writeJSON(w, 200, map[string]any{"total": len(items), "items": items})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
