package testenv

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// HTTPTimeout bounds each request of a client ServeInMemory returns, so a
// hung handler fails the test instead of stalling it.
const HTTPTimeout = 10 * time.Second

// ServeInMemory serves h on an in-memory listener until the test ends and
// returns a client of it (any host name reaches h). configure, when given,
// sets the server's limits before it starts.
func ServeInMemory(t testing.TB, h fasthttp.RequestHandler, configure ...func(*fasthttp.Server)) *fasthttp.Client {
	t.Helper()
	ln := fasthttputil.NewInmemoryListener()
	srv := &fasthttp.Server{Handler: h}
	for _, c := range configure {
		c(srv)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	return &fasthttp.Client{Dial: func(string) (net.Conn, error) { return ln.Dial() },
		ReadTimeout: HTTPTimeout, WriteTimeout: HTTPTimeout}
}

// Response is what a request got, copied out of fasthttp's pooled objects.
type Response struct {
	Status int
	Body   string
	// Header holds each response header under its canonical name (the
	// last value of a repeated one).
	Header map[string]string
}

// Do sends a request for path (host "zaqar") with body, when not empty,
// and headers as "Name: value" strings applied in order: a later one
// replaces an earlier one of the same name, and "Name: -" removes it. A
// transport error fails the test.
func Do(t testing.TB, c *fasthttp.Client, method, path, body string, headers ...string) Response {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://zaqar" + path)
	req.Header.SetMethod(method)
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		if v = strings.TrimSpace(v); v == "-" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	if body != "" {
		req.SetBodyString(body)
	}
	if err := c.Do(req, resp); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	r := Response{Status: resp.StatusCode(), Body: string(resp.Body()), Header: map[string]string{}}
	resp.Header.VisitAll(func(k, v []byte) { r.Header[string(k)] = string(v) })
	return r
}
