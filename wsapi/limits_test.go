package wsapi

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

func TestMaxConnections(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxConnections = 2 })
	a, b := e.dial(false), e.dial(false)
	_, resp, err := websocket.DefaultDialer.Dial(e.wsURL, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("third connection: %v %v, want 503", err, resp)
	}
	if got := e.metric("zaqar_websocket_rejected_total", nil); got != 1 {
		t.Fatalf("rejected = %v", got)
	}
	a.expect("first still serves", a.call("queue_list", nil), 200)
	b.ws.Close()
	// The slot frees once the server has seen the close.
	deadline := time.Now().Add(10 * time.Second)
	for e.ws.Open() > 1 {
		if time.Now().After(deadline) {
			t.Fatal("closed connection still counted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	n := e.dial(false)
	n.expect("new connection", n.call("queue_list", nil), 200)
}

func closeCode(err error) int {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

func TestFrameTooLarge(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.API.MaxMessagesPostSize = 1024 })
	c := e.dial(false)
	c.expect("post at the limit", c.call("message_post", map[string]any{"queue_name": "q",
		"messages": []any{map[string]any{"body": strings.Repeat("x", 2000)}}}), 400, "Message collection size is too large. Max size 1024")
	c.sendRaw([]byte(`{"action":"queue_list","headers":{},"body":{"pad":"`+strings.Repeat("x", 1024+EnvelopeSlack)+`"}}`), false)
	_ = c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err := c.ws.ReadMessage()
	if closeCode(err) != websocket.CloseMessageTooBig {
		t.Fatalf("oversized frame: %v, want close 1009", err)
	}
}

// TestIdleTimeout: a client that answers pings stays; one that reads
// nothing (so sends no pong) is closed after idle_timeout.
func TestIdleTimeout(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.IdleTimeout = time.Second })
	live, mute := e.dial(false), e.dial(false)
	pongs := make(chan struct{}, 16)
	live.ws.SetPingHandler(func(data string) error {
		pongs <- struct{}{}
		return live.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	readErr := make(chan error, 1)
	go func() {
		_, _, err := live.ws.ReadMessage()
		readErr <- err
	}()
	// Four pings answered span more than idle_timeout.
	for i := 0; i < 4; i++ {
		select {
		case <-pongs:
		case err := <-readErr:
			t.Fatalf("live connection closed: %v", err)
		case <-time.After(5 * time.Second):
			t.Fatal("no ping from the server")
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for e.ws.Open() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections open, want the mute one closed", e.ws.Open())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The mute client finds its connection closed.
	_ = mute.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := mute.ws.ReadMessage(); err == nil {
		t.Fatal("mute connection still open")
	}
}

// TestSlowReader: a subscribed client that stops reading is disconnected
// once its outbound buffer is full, instead of buffering without bound.
func TestSlowReader(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.OutboundBytes = 64 << 10 })
	dialer := *websocket.DefaultDialer
	dialer.ReadBufferSize = 1024
	ws, _, err := dialer.Dial(e.wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	c := &client{t: t, ws: ws, headers: map[string]any{"Client-ID": testClient, "X-Project-ID": "proj"}}
	c.expect("subscribe", c.call("subscription_create", map[string]any{"queue_name": "firehose"}), 201)
	body := `"` + strings.Repeat("y", 200<<10) + `"`
	deadline := time.Now().Add(60 * time.Second)
	for e.metric("zaqar_websocket_closes_total", map[string]string{"code": "1008"}) < 1 {
		if time.Now().After(deadline) {
			t.Fatal("slow reader never disconnected")
		}
		e.postHTTP("firehose", body)
	}
}
