package loadgen

import (
	"bytes"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bytedance/sonic"
	"github.com/fasthttp/websocket"
	"github.com/google/uuid"
)

// Transports a run can use.
const (
	TransportHTTP      = "http"
	TransportWebSocket = "websocket"
)

// requester sends one Zaqar request, phrased as the HTTP API's method and
// path; the WebSocket client translates it into the matching action, so
// every role runs unchanged over either transport. Bodies returned are
// only valid until the next call.
type requester interface {
	do(method, project, path string, body []byte) (int, []byte)
}

// wsClient is one worker's WebSocket connection; requests are answered in
// order on it.
type wsClient struct {
	url      string
	ws       *websocket.Conn
	clientID string
	headers  map[string]string
	timeout  time.Duration
	frame    []byte
}

func newWSClient(rawURL string, headers map[string]string, timeout time.Duration) *wsClient {
	return &wsClient{url: rawURL, clientID: uuid.NewString(), headers: headers, timeout: timeout}
}

func (c *wsClient) dial() error {
	if c.ws != nil {
		return nil
	}
	d := websocket.Dialer{HandshakeTimeout: c.timeout}
	ws, _, err := d.Dial(c.url, nil)
	if err != nil {
		return err
	}
	c.ws = ws
	return nil
}

func (c *wsClient) close() {
	if c.ws != nil {
		c.ws.Close()
		c.ws = nil
	}
}

// appendHeaders appends the frame's headers object.
func (c *wsClient) appendHeaders(b []byte, project string) []byte {
	b = append(b, `"headers":{"Client-ID":"`...)
	b = append(b, c.clientID...)
	b = append(b, `","X-Project-ID":`...)
	b = strconv.AppendQuote(b, project)
	for k, v := range c.headers {
		b = append(b, ',')
		b = strconv.AppendQuote(b, k)
		b = append(b, ':')
		b = strconv.AppendQuote(b, v)
	}
	return append(b, '}')
}

// wsAnswer is an answer frame's status and body.
type wsAnswer struct {
	Body    sonic.NoCopyRawMessage `json:"body"`
	Headers struct {
		Status int `json:"status"`
	} `json:"headers"`
}

var errUnsupported = errors.New("loadgen: no WebSocket action for this request")

// do translates the request into an action, sends it and waits for the
// answer. A connection that fails is dropped and redialled next time.
func (c *wsClient) do(method, project, path string, body []byte) (int, []byte) {
	if err := c.dial(); err != nil {
		return 0, nil
	}
	frame, action, err := c.translate(method, project, path, body)
	if err != nil {
		return -1, nil
	}
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.timeout))
	if err := c.ws.WriteMessage(websocket.TextMessage, frame); err != nil {
		c.close()
		return 0, nil
	}
	_ = c.ws.SetReadDeadline(time.Now().Add(c.timeout))
	_, data, err := c.ws.ReadMessage()
	if err != nil {
		c.close()
		return 0, nil
	}
	var a wsAnswer
	if sonic.Unmarshal(data, &a) != nil {
		return -1, nil
	}
	switch {
	case action == "queue_get_stats" && a.Headers.Status == 404:
		return 200, a.Body // a missing queue's stats: zero counts
	case action == "claim_create" && a.Headers.Status == 201:
		return 201, claimAsHTTP(path, a.Body)
	}
	return a.Headers.Status, a.Body
}

// translate builds the action frame for an HTTP-shaped request.
func (c *wsClient) translate(method, project, path string, body []byte) ([]byte, string, error) {
	p, rawQuery, _ := strings.Cut(strings.TrimPrefix(path, "/v2/queues/"), "?")
	query, _ := url.ParseQuery(rawQuery)
	parts := strings.Split(p, "/")
	queue := parts[0]
	b := append(c.frame[:0], `{"action":"`...)
	var action string
	fields := func(kv ...string) {
		b = append(b, `"queue_name":`...)
		b = strconv.AppendQuote(b, queue)
		for i := 0; i+1 < len(kv); i += 2 {
			b = append(b, ',')
			b = strconv.AppendQuote(b, kv[i])
			b = append(b, ':')
			b = append(b, kv[i+1]...)
		}
	}
	quote := func(s string) string { return strconv.Quote(s) }
	var inner []byte // the request body's members, appended after the fields
	switch {
	case method == "POST" && len(parts) == 2 && parts[1] == "messages":
		action, inner = "message_post", body
	case method == "POST" && len(parts) == 2 && parts[1] == "claims":
		action, inner = "claim_create", body
	case method == "DELETE" && len(parts) == 3 && parts[1] == "messages":
		action = "message_delete"
	case method == "DELETE" && len(parts) == 3 && parts[1] == "claims":
		action = "claim_delete"
	case method == "GET" && len(parts) == 2 && parts[1] == "stats":
		action = "queue_get_stats"
	case method == "GET" && len(parts) == 2 && parts[1] == "messages":
		action = "message_list"
	case method == "POST" && len(parts) == 2 && parts[1] == "subscriptions":
		action = "subscription_create" // without subscriber: this socket
	default:
		return nil, "", errUnsupported
	}
	b = append(b, action...)
	b = append(b, `",`...)
	b = c.appendHeaders(b, project)
	b = append(b, `,"body":{`...)
	switch action {
	case "claim_create":
		fields("limit", query.Get("limit"))
	case "message_delete":
		if cid := query.Get("claim_id"); cid != "" {
			fields("message_id", quote(parts[2]), "claim_id", quote(cid))
		} else {
			fields("message_id", quote(parts[2]))
		}
	case "claim_delete":
		fields("claim_id", quote(parts[2]))
	case "message_list":
		kv := []string{"limit", query.Get("limit"), "echo", "true"}
		if m := query.Get("marker"); m != "" {
			kv = append(kv, "marker", quote(m))
		}
		fields(kv...)
	default:
		fields()
	}
	if inner = bytes.TrimSpace(inner); len(inner) > 2 && inner[0] == '{' {
		b = append(b, ',')
		b = append(b, inner[1:]...) // the object's members and its '}'
	} else {
		b = append(b, '}')
	}
	b = append(b, '}')
	c.frame = b
	return b, action, nil
}

// claimAsHTTP rewrites a claim answer in the HTTP API's shape (each
// message's href carries the claim id), which the consumer reads.
func claimAsHTTP(path string, body []byte) []byte {
	var doc struct {
		ClaimID  string `json:"claim_id"`
		Messages []struct {
			ID   string                 `json:"id"`
			Body sonic.NoCopyRawMessage `json:"body"`
		} `json:"messages"`
	}
	if sonic.Unmarshal(body, &doc) != nil {
		return nil
	}
	queue, _, _ := strings.Cut(strings.TrimPrefix(path, "/v2/queues/"), "/")
	out := []byte(`{"messages":[`)
	for i, m := range doc.Messages {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"id":"`...)
		out = append(out, m.ID...)
		out = append(out, `","href":"/v2/queues/`...)
		out = append(out, queue...)
		out = append(out, "/messages/"...)
		out = append(out, m.ID...)
		out = append(out, "?claim_id="...)
		out = append(out, doc.ClaimID...)
		out = append(out, `","body":`...)
		out = append(out, m.Body...)
		out = append(out, '}')
	}
	return append(out, "]}"...)
}

// subscribe opens Subscribers sockets per queue, each subscribed to its
// queue (a subscription without subscriber); every message pushed is
// recorded as delivered, from its send time to its arrival (post to
// push). It returns when all are subscribed.
func (r *runner) subscribe(wg *sync.WaitGroup, stop <-chan struct{}) error {
	cfg := r.cfg
	var ready sync.WaitGroup
	errs := make(chan error, len(r.targets)*cfg.Subscribers)
	for _, tg := range r.targets {
		for i := 0; i < cfg.Subscribers; i++ {
			c := newWSClient(cfg.WebSocketURL, cfg.Headers, cfg.Timeout)
			rec := r.newRecorder()
			ready.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.listen(c, rec, tg, &ready, errs, stop)
			}()
		}
	}
	ready.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

func (r *runner) listen(c *wsClient, rec *recorder, tg target, ready *sync.WaitGroup, errs chan<- error, stop <-chan struct{}) {
	status, _ := c.do("POST", tg.project, "/v2/queues/"+tg.queue+"/subscriptions", nil)
	ready.Done()
	if status != 201 {
		errs <- errors.New("loadgen: socket subscription refused: status " + strconv.Itoa(status))
		c.close()
		return
	}
	ws := c.ws
	go func() {
		<-stop
		ws.Close()
	}()
	var n struct {
		Body struct {
			TS int64 `json:"ts"`
		} `json:"body"`
	}
	_ = ws.SetReadDeadline(time.Time{})
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		if sonic.Unmarshal(data, &n) == nil && n.Body.TS > 0 {
			rec.delivered(n.Body.TS)
			rec.record(OpPush, time.Unix(0, n.Body.TS), 200, true, 1)
		}
	}
}
