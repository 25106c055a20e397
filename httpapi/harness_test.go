package httpapi

import (
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/zaqar-go/zaqar/engine"
	"github.com/zaqar-go/zaqar/internal/testenv"
	"github.com/zaqar-go/zaqar/storage"
	"github.com/zaqar-go/zaqar/wal"
)

const testClient = "3a1d6a3e-0000-4000-8000-000000000001"

// server is an API over a real engine on an in-memory listener.
type server struct {
	t      *testing.T
	client *fasthttp.Client
	store  *engine.Engine
}

func newServer(t *testing.T, mut func(*Options)) *server {
	t.Helper()
	eo := engine.DefaultOptions(t.TempDir())
	eo.Fsync = wal.SyncNever
	eo.Partitions = 2
	eo.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := engine.Open(eo)
	if err != nil {
		t.Fatal(err)
	}
	opts := DefaultOptions()
	opts.AdminMode = true
	opts.Logger = eo.Logger
	if mut != nil {
		mut(&opts)
	}
	t.Cleanup(func() { store.Close() })
	return &server{t: t, store: store, client: serveAPI(t, store, opts)}
}

// serveAPI serves the API over store on an in-memory listener until the
// test ends.
func serveAPI(t *testing.T, store storage.Store, opts Options) *fasthttp.Client {
	t.Helper()
	api, err := New(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	return testenv.ServeInMemory(t, api.Handler(), func(srv *fasthttp.Server) { srv.MaxRequestBodySize = 1 << 20 })
}

type reply struct {
	status  int
	body    string
	headers map[string]string
}

// defaultHeaders come with every request of do unless overridden.
var defaultHeaders = []string{"Client-ID: " + testClient, "X-Project-ID: proj", "Content-Type: application/json"}

// do sends a request; headers are "Name: value" strings overriding the
// defaults (Client-ID, X-Project-ID, JSON content type); "Name: -" omits.
func (s *server) do(method, path, body string, headers ...string) reply {
	s.t.Helper()
	r := testenv.Do(s.t, s.client, method, path, body, append(slices.Clip(defaultHeaders), headers...)...)
	return reply{status: r.Status, body: r.Body, headers: r.Header}
}

// expect checks status and, when non-empty, that the body contains want.
func (s *server) expect(name string, r reply, status int, want ...string) reply {
	s.t.Helper()
	if r.status != status {
		s.t.Fatalf("%s: status %d, want %d; body %s", name, r.status, status, r.body)
	}
	for _, w := range want {
		if !strings.Contains(r.body, w) {
			s.t.Fatalf("%s: body %s does not contain %q", name, r.body, w)
		}
	}
	if r.status >= 400 {
		var e struct{ Title string }
		if json.Unmarshal([]byte(r.body), &e) != nil || e.Title == "" {
			s.t.Fatalf("%s: error body is not Zaqar's shape: %q", name, r.body)
		}
	}
	return r
}

// optional is s as a list, empty when s is "": a table's "no header" or
// "no text to check" for do's headers and expect's wants.
func optional(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}
