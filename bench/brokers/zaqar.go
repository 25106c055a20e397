package brokers

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bytedance/sonic"
	"github.com/google/uuid"
	"github.com/valyala/fasthttp"
)

// zaqar drives our server over the Messaging API v2, as any Zaqar client
// would: POST batches, claim, bulk delete.
type zaqar struct {
	wait    int    // seconds a claim may long-poll (?wait=N); 0: poll
	base    string // http://127.0.0.1:port
	host    string
	project string
	server  *exec.Cmd // when the command started the server
	dir     string    // the started server's temp dir
	exited  chan struct{}
}

const (
	zaqarTimeout = 30 * time.Second
	// Messages outlive any run; claims get Zaqar's minimum TTL and grace,
	// which no batch takes to delete (a claim that ran out would be
	// redelivered and show up as a duplicate).
	zaqarMessageTTL = 3600
	zaqarClaimBody  = `{"ttl":60,"grace":60}`
)

// ConnectZaqar uses a running server at base (http://127.0.0.1:port).
// wait is the long-poll a claim asks for, in seconds (0 for a server
// without ?wait, such as the original Zaqar).
func ConnectZaqar(base string, wait int) (System, error) {
	if err := requireLoopback(base); err != nil {
		return nil, err
	}
	u, _ := url.Parse(base)
	z := &zaqar{base: strings.TrimRight(base, "/"), host: u.Host, project: "brokers-bench", wait: wait}
	if err := z.ping(5 * time.Second); err != nil {
		return nil, err
	}
	return z, nil
}

// StartZaqar starts the server binary bin on a free loopback port with a
// fresh temporary data directory and fsync = always (an acknowledged POST
// is on disk, as Redis's appendfsync always and RabbitMQ's confirms are).
func StartZaqar(bin string, wait int) (System, error) {
	dir, err := os.MkdirTemp("", "zaqar-brokers-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	log, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer log.Close()
	cmd := exec.Command(bin, "--config-file", os.DevNull, "--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--data-dir", filepath.Join(dir, "data"), "--fsync", "always")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	z := &zaqar{base: "http://" + loopbackAddr(port), host: loopbackAddr(port), project: "brokers-bench",
		server: cmd, dir: dir, exited: make(chan struct{}), wait: wait}
	go func() { cmd.Wait(); close(z.exited) }()
	if err := z.ping(30 * time.Second); err != nil {
		z.Close()
		return nil, err
	}
	return z, nil
}

func (z *zaqar) Name() string { return "zaqar" }

// ping waits until /v2/ping answers 204 (or the started server exits).
func (z *zaqar) ping(within time.Duration) error {
	c := z.client()
	deadline := time.Now().Add(within)
	for {
		if st, _, _ := c.do("GET", "/v2/ping", nil); st == fasthttp.StatusNoContent {
			return nil
		}
		if z.exited != nil {
			select {
			case <-z.exited:
				out, _ := os.ReadFile(filepath.Join(z.dir, "server.log"))
				return fmt.Errorf("zaqar-server exited during start-up:\n%s", out)
			default:
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("zaqar server at %s did not answer /v2/ping within %s", z.base, within)
		}
		time.Sleep(20 * time.Millisecond) // polling another process: nothing to wait on
	}
}

func (z *zaqar) Close() error {
	if z.server == nil {
		return nil
	}
	z.server.Process.Signal(syscall.SIGTERM)
	select {
	case <-z.exited:
	case <-time.After(15 * time.Second):
		z.server.Process.Kill()
		<-z.exited
	}
	return os.RemoveAll(z.dir)
}

// httpClient is one worker's keep-alive connection (MaxConns 1).
type httpClient struct {
	z        *zaqar
	hc       *fasthttp.HostClient
	clientID string
	req      fasthttp.Request
	resp     fasthttp.Response
}

func (z *zaqar) client() *httpClient {
	return &httpClient{z: z, clientID: uuid.NewString(), hc: &fasthttp.HostClient{
		Addr: z.host, MaxConns: 1, ReadTimeout: zaqarTimeout, WriteTimeout: zaqarTimeout,
		MaxIdleConnDuration: time.Minute, Name: "zaqar-bench-brokers"}}
}

// do sends one request; the body it returns is valid until the next call.
func (c *httpClient) do(method, path string, body []byte) (int, []byte, error) {
	c.req.Reset()
	c.resp.Reset()
	c.req.Header.SetMethod(method)
	c.req.SetRequestURI(c.z.base + path)
	c.req.Header.Set("Client-ID", c.clientID)
	c.req.Header.Set("X-Project-ID", c.z.project)
	c.req.Header.SetContentType("application/json")
	if body != nil {
		c.req.SetBodyRaw(body)
	}
	if err := c.hc.DoTimeout(&c.req, &c.resp, zaqarTimeout); err != nil {
		return 0, nil, err
	}
	return c.resp.StatusCode(), c.resp.Body(), nil
}

func (c *httpClient) expect(want int, method, path string, body []byte) ([]byte, error) {
	st, b, err := c.do(method, path, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if st != want {
		return nil, fmt.Errorf("%s %s: status %d: %.200s", method, path, st, b)
	}
	return b, nil
}

type zaqarQueue struct {
	z    *zaqar
	path string // /v2/queues/<name>
	c    *httpClient
}

func (z *zaqar) NewQueue(ctx context.Context, name string) (Queue, error) {
	q := &zaqarQueue{z: z, path: "/v2/queues/" + name, c: z.client()}
	st, b, err := q.c.do("PUT", q.path, []byte("{}"))
	if err != nil || (st != fasthttp.StatusCreated && st != fasthttp.StatusNoContent) {
		return nil, fmt.Errorf("zaqar: create queue %s: %d %s %v", name, st, b, err)
	}
	return q, nil
}

func (q *zaqarQueue) Depth(ctx context.Context) (int64, error) {
	b, err := q.c.expect(fasthttp.StatusOK, "GET", q.path+"/stats", nil)
	if err != nil {
		return 0, err
	}
	var s struct {
		Messages struct {
			Total int64 `json:"total"` // free and claimed
		} `json:"messages"`
	}
	if err := sonic.Unmarshal(b, &s); err != nil {
		return 0, err
	}
	return s.Messages.Total, nil
}

func (q *zaqarQueue) Delete(ctx context.Context) error {
	_, err := q.c.expect(fasthttp.StatusNoContent, "DELETE", q.path, nil)
	return err
}

type zaqarProducer struct {
	q    *zaqarQueue
	c    *httpClient
	body []byte
}

func (q *zaqarQueue) NewProducer(ctx context.Context) (Producer, error) {
	return &zaqarProducer{q: q, c: q.z.client()}, nil
}

// Send POSTs the batch; 201 means every message was written and fsync'd.
func (p *zaqarProducer) Send(ctx context.Context, bodies [][]byte) error {
	b := append(p.body[:0], `{"messages":[`...)
	for i, body := range bodies {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"ttl":`...)
		b = strconv.AppendInt(b, zaqarMessageTTL, 10)
		b = append(b, `,"body":"`...)
		b = append(b, body...) // printable ASCII without quotes: a valid JSON string as is
		b = append(b, `"}`...)
	}
	p.body = append(b, "]}"...)
	_, err := p.c.expect(fasthttp.StatusCreated, "POST", p.q.path+"/messages", p.body)
	return err
}

func (p *zaqarProducer) Close() error { p.c.hc.CloseIdleConnections(); return nil }

type zaqarConsumer struct {
	q         *zaqarQueue
	c         *httpClient
	claimPath string
	wait      int
	ids       []string
	claimID   string
	bodies    [][]byte
	idle      time.Duration // current back-off after empty claims
	doc       claimDoc
}

type claimDoc struct {
	Messages []struct {
		ID   string `json:"id"`
		Href string `json:"href"`
		Body string `json:"body"`
	} `json:"messages"`
}

func (q *zaqarQueue) NewConsumer(ctx context.Context, worker int) (Consumer, error) {
	path := q.path + "/claims?limit="
	return &zaqarConsumer{q: q, c: q.z.client(), claimPath: path, wait: q.z.wait}, nil
}

// Take claims up to limit messages. With wait > 0 the claim long-polls
// (our extension, ?wait=N seconds): an idle consumer sleeps in the server
// until a post arrives, as XREADGROUP BLOCK and RabbitMQ's push do. With
// wait 0 (a server without it) a consumer that finds the queue empty must
// ask again; it backs off from 1 to 8 ms so idle consumers do not take the
// server's CPU (two cores here) from the producers they wait for.
func (c *zaqarConsumer) Take(ctx context.Context, limit int) ([][]byte, error) {
	c.ids, c.bodies, c.claimID = c.ids[:0], c.bodies[:0], ""
	path := c.claimPath + strconv.Itoa(limit)
	if c.wait > 0 {
		path += "&wait=" + strconv.Itoa(c.wait)
	}
	st, b, err := c.c.do("POST", path, []byte(zaqarClaimBody))
	switch {
	case err != nil:
		return nil, fmt.Errorf("claim: %w", err)
	case st == fasthttp.StatusNoContent && c.wait > 0:
		return nil, nil
	case st == fasthttp.StatusNoContent:
		c.idle = min(8*time.Millisecond, max(time.Millisecond, 2*c.idle))
		select {
		case <-time.After(c.idle):
		case <-ctx.Done():
		}
		return nil, nil
	case st != fasthttp.StatusCreated:
		return nil, fmt.Errorf("claim: status %d: %.200s", st, b)
	}
	c.idle = 0
	c.doc.Messages = c.doc.Messages[:0]
	if err := sonic.Unmarshal(b, &c.doc); err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	for _, m := range c.doc.Messages {
		if i := strings.Index(m.Href, "claim_id="); i >= 0 {
			c.claimID = m.Href[i+len("claim_id="):]
		}
		c.ids = append(c.ids, m.ID)
		c.bodies = append(c.bodies, []byte(m.Body))
	}
	return c.bodies, nil
}

// Ack deletes the claimed batch with one bulk DELETE. claim_ids is what a
// server with message_delete_with_claim_id = True requires; ours ignores
// it otherwise.
func (c *zaqarConsumer) Ack(ctx context.Context) error {
	if len(c.ids) == 0 {
		return nil
	}
	if c.claimID == "" {
		return errors.New("claim answer carried no claim id")
	}
	path := c.q.path + "/messages?ids=" + strings.Join(c.ids, ",") + "&claim_ids=" + c.claimID
	_, err := c.c.expect(fasthttp.StatusNoContent, "DELETE", path, nil)
	return err
}

func (c *zaqarConsumer) Close() error { c.c.hc.CloseIdleConnections(); return nil }
