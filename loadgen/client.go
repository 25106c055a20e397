package loadgen

import (
	"crypto/tls"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/valyala/fasthttp"
)

// client sends Zaqar requests for one worker with its own Client-ID over
// its role's connection pool. Request and response objects are reused.
type client struct {
	hc       *fasthttp.HostClient
	scheme   string
	host     string
	clientID string
	headers  map[string]string
	timeout  time.Duration
	req      fasthttp.Request
	resp     fasthttp.Response
}

func newHostClient(serverURL string, conns int, timeout time.Duration) (*fasthttp.HostClient, string, string) {
	u, _ := url.Parse(serverURL) // validated in Config.Validate
	hc := &fasthttp.HostClient{
		Addr: u.Host, MaxConns: conns, ReadTimeout: timeout, WriteTimeout: timeout,
		MaxConnWaitTimeout:  timeout, // workers sharing a smaller pool wait for a connection
		MaxIdleConnDuration: time.Minute, Name: "zaqar-bench",
	}
	if !strings.Contains(u.Host, ":") {
		hc.Addr += map[bool]string{true: ":443", false: ":80"}[u.Scheme == "https"]
	}
	if u.Scheme == "https" {
		hc.IsTLS = true
		hc.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return hc, u.Scheme, u.Host
}

func newClient(hc *fasthttp.HostClient, scheme, host string, headers map[string]string, timeout time.Duration) *client {
	return &client{hc: hc, scheme: scheme, host: host, clientID: uuid.NewString(), headers: headers, timeout: timeout}
}

// do sends one request; body and the returned response body are only valid
// until the next call. status 0 means no answer.
func (c *client) do(method, project, path string, body []byte) (int, []byte) {
	c.req.Reset()
	c.resp.Reset()
	c.req.Header.SetMethod(method)
	c.req.SetRequestURI(c.scheme + "://" + c.host + path)
	c.req.Header.Set("Client-ID", c.clientID)
	c.req.Header.Set("X-Project-ID", project)
	c.req.Header.SetContentType("application/json")
	for k, v := range c.headers {
		c.req.Header.Set(k, v)
	}
	if body != nil {
		c.req.SetBodyRaw(body)
	}
	if err := c.hc.DoTimeout(&c.req, &c.resp, c.timeout); err != nil {
		return 0, nil
	}
	return c.resp.StatusCode(), c.resp.Body()
}
