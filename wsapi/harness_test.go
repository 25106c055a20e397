package wsapi

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/zaqar-go/zaqar/engine"
	"github.com/zaqar-go/zaqar/httpapi"
	"github.com/zaqar-go/zaqar/notify"
	"github.com/zaqar-go/zaqar/wal"
)

const testClient = "3a1d6a3e-0000-4000-8000-000000000001"

// env is a WebSocket server and an HTTP API over one real engine behind
// the notifier, as zaqar-server wires them, on real TCP listeners.
type env struct {
	t        testing.TB
	ws       *Server
	wsURL    string
	httpURL  string
	registry *prometheus.Registry
}

func newEnv(t testing.TB, mut func(*Options)) *env {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	eo := engine.DefaultOptions(t.TempDir())
	eo.Fsync, eo.Partitions, eo.Logger = wal.SyncNever, 2, logger
	store, err := engine.Open(eo)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	relay := &relay{}
	n, err := notify.Wrap(store, notify.Options{Logger: logger, Sockets: relay, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions()
	o.API.Logger, o.API.Registry = logger, reg
	if mut != nil {
		mut(&o)
	}
	srv, err := New(n, o)
	if err != nil {
		t.Fatal(err)
	}
	relay.s = srv
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	api, err := httpapi.New(n, o.API)
	if err != nil {
		t.Fatal(err)
	}
	hln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hsrv := &fasthttp.Server{Handler: api.Handler()}
	go hsrv.Serve(hln)
	t.Cleanup(func() {
		ln.Close()
		srv.Close()
		hsrv.Shutdown()
		n.Close()
	})
	return &env{t: t, ws: srv, wsURL: "ws://" + ln.Addr().String() + "/", httpURL: "http://" + hln.Addr().String(), registry: reg}
}

type relay struct{ s *Server }

func (r *relay) Push(sub string, p []byte) bool { return r.s.Push(sub, p) }

// client is a test's WebSocket connection.
type client struct {
	t      testing.TB
	ws     *websocket.Conn
	binary bool
	// headers go with every request unless a call overrides them.
	headers map[string]any
}

func (e *env) dial(binary bool) *client {
	e.t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(e.wsURL, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { ws.Close() })
	return &client{t: e.t, ws: ws, binary: binary,
		headers: map[string]any{"Client-ID": testClient, "X-Project-ID": "proj"}}
}

// response is an answer frame, decoded into JSON-shaped values.
type response struct {
	Request map[string]any
	Body    any
	Status  int
}

// sendRaw sends a frame as is.
func (c *client) sendRaw(data []byte, binary bool) {
	c.t.Helper()
	kind := websocket.TextMessage
	if binary {
		kind = websocket.BinaryMessage
	}
	if err := c.ws.WriteMessage(kind, data); err != nil {
		c.t.Fatal(err)
	}
}

// read reads the next frame, answer or notification, in any encoding.
func (c *client) read() (map[string]any, bool) {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	kind, data, err := c.ws.ReadMessage()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	v, err := decodeFrame(data, kind == websocket.BinaryMessage)
	if err != nil {
		c.t.Fatalf("answer not decodable: %v: %q", err, data)
	}
	m, ok := v.(map[string]any)
	if !ok {
		c.t.Fatalf("answer is not an object: %q", data)
	}
	return m, kind == websocket.BinaryMessage
}

func (c *client) readResponse() response {
	c.t.Helper()
	m, binary := c.read()
	if binary != c.binary {
		c.t.Fatalf("answer binary=%v, request binary=%v", binary, c.binary)
	}
	var r response
	r.Request, _ = m["request"].(map[string]any)
	r.Body = m["body"]
	h, _ := m["headers"].(map[string]any)
	st, _ := h["status"].(json.Number).Int64()
	r.Status = int(st)
	return r
}

// call sends one request in the client's encoding and reads the answer.
func (c *client) call(action string, body map[string]any) response {
	c.t.Helper()
	doc := map[string]any{"action": action, "headers": c.headers}
	if body != nil {
		doc["body"] = body
	}
	c.sendDoc(doc)
	return c.readResponse()
}

func (c *client) sendDoc(doc map[string]any) {
	c.t.Helper()
	var data []byte
	var err error
	if c.binary {
		data, err = msgpack.Marshal(doc)
	} else {
		data, err = json.Marshal(doc)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(data, c.binary)
}

// expect checks an answer's status and that its JSON text contains each
// of want.
func (c *client) expect(name string, r response, status int, want ...string) response {
	c.t.Helper()
	b, _ := json.Marshal(r.Body)
	if r.Status != status {
		c.t.Fatalf("%s: status %d, want %d; body %s", name, r.Status, status, b)
	}
	for _, w := range want {
		if !strings.Contains(string(b), w) {
			c.t.Fatalf("%s: body %s does not contain %q", name, b, w)
		}
	}
	return r
}

func field(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}
