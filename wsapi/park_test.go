package wsapi

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// TestIdleConnectionsPark: a connection that has nothing to read holds
// no reader goroutine, and is served again when a request arrives.
func TestIdleConnectionsPark(t *testing.T) {
	e := newEnv(t, nil)
	const n = 20
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = e.dial(i%2 == 1)
		clients[i].expect("first request", clients[i].call("queue_list", nil), 200)
	}
	waitReaders := func(what string) {
		t.Helper()
		deadline := time.Now().Add(dataLinger + 10*time.Second)
		for e.ws.readers.Load() != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d readers still running for %d idle connections", what, e.ws.readers.Load(), n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitReaders("after the first requests")
	for i, c := range clients {
		c.expect("request to a parked connection", c.call("queue_create", map[string]any{"queue_name": "parked" + string(rune('a'+i))}), 201)
	}
	waitReaders("after the second requests")
	if got := e.ws.Open(); got != n {
		t.Fatalf("%d connections open, want %d", got, n)
	}
}

// rawDial upgrades a plain TCP connection, sending extra right behind the
// upgrade request (in the same write).
func rawDial(t *testing.T, e *env, extra []byte) (net.Conn, *bufio.Reader) {
	t.Helper()
	addr := strings.TrimSuffix(strings.TrimPrefix(e.wsURL, "ws://"), "/")
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	req := "GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := nc.Write(append([]byte(req), extra...)); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %s", resp.Status)
	}
	return nc, br
}

// clientFrame is a frame as a client sends it (masked).
func clientFrame(op ws.OpCode, fin bool, payload string) []byte {
	return ws.MustCompileFrame(ws.MaskFrameInPlace(ws.NewFrame(op, fin, []byte(payload))))
}

// readStatus reads an answer frame and returns its status.
func readStatus(t *testing.T, br *bufio.Reader) int {
	t.Helper()
	f, err := ws.ReadFrame(br)
	if err != nil {
		t.Fatal(err)
	}
	if f.Header.OpCode != ws.OpText {
		t.Fatalf("frame %v, want a text answer", f.Header.OpCode)
	}
	var doc struct {
		Headers struct{ Status int } `json:"headers"`
	}
	if err := json.Unmarshal(f.Payload, &doc); err != nil {
		t.Fatalf("answer %q: %v", f.Payload, err)
	}
	return doc.Headers.Status
}

const rawQueueList = `{"action":"queue_list","headers":{"Client-ID":"` + testClient + `","X-Project-ID":"proj"}}`

// TestPipelinedFrame: a frame sent together with the upgrade request
// (before the 101) is served.
func TestPipelinedFrame(t *testing.T) {
	e := newEnv(t, nil)
	_, br := rawDial(t, e, clientFrame(ws.OpText, true, rawQueueList))
	if st := readStatus(t, br); st != 200 {
		t.Fatalf("pipelined queue_list: %d", st)
	}
}

// TestFragmentedMessage: a message in two frames, with a ping between
// them, is answered (the ping first, with its payload).
func TestFragmentedMessage(t *testing.T) {
	e := newEnv(t, nil)
	nc, br := rawDial(t, e, nil)
	half := len(rawQueueList) / 2
	for _, f := range [][]byte{
		clientFrame(ws.OpText, false, rawQueueList[:half]),
		clientFrame(ws.OpPing, true, "between"),
		clientFrame(ws.OpContinuation, true, rawQueueList[half:]),
	} {
		if _, err := nc.Write(f); err != nil {
			t.Fatal(err)
		}
	}
	pong, err := ws.ReadFrame(br)
	if err != nil || pong.Header.OpCode != ws.OpPong || string(pong.Payload) != "between" {
		t.Fatalf("pong: %v %q %v", pong.Header.OpCode, pong.Payload, err)
	}
	if st := readStatus(t, br); st != 200 {
		t.Fatalf("fragmented queue_list: %d", st)
	}
}

// TestProtocolError: an unmasked client frame closes the connection with
// 1002.
func TestProtocolError(t *testing.T) {
	e := newEnv(t, nil)
	nc, br := rawDial(t, e, nil)
	if _, err := nc.Write(ws.MustCompileFrame(ws.NewTextFrame([]byte(rawQueueList)))); err != nil {
		t.Fatal(err)
	}
	f, err := ws.ReadFrame(br)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := ws.ParseCloseFrameData(f.Payload)
	if f.Header.OpCode != ws.OpClose || code != ws.StatusProtocolError {
		t.Fatalf("frame %v code %d, want close 1002", f.Header.OpCode, code)
	}
}

// TestPingAllocatesNothing: the sweeper's ping of an idle connection
// costs the collector nothing.
func TestPingAllocatesNothing(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial(false)
	c.expect("request", c.call("queue_list", nil), 200)
	e.ws.mu.RLock()
	var server *conn
	for _, sc := range e.ws.conns {
		server = sc
	}
	e.ws.mu.RUnlock()
	server.writers.Wait() // the answer's writer has let go of the socket
	if allocs := testing.AllocsPerRun(100, func() {
		if !server.ping() {
			t.Fatal("ping not sent")
		}
	}); allocs != 0 {
		t.Fatalf("a ping allocates %v times", allocs)
	}
	// The client sees the pings.
	pinged := make(chan struct{}, 1)
	c.ws.SetPingHandler(func(string) error {
		select {
		case pinged <- struct{}{}:
		default:
		}
		return nil
	})
	go c.ws.ReadMessage()
	select {
	case <-pinged:
	case <-time.After(10 * time.Second):
		t.Fatal("no ping reached the client")
	}
}
