package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// header is one response header as it came on the wire: names keep their
// case, which net/http would canonicalise away.
type header struct{ name, value string }

type response struct {
	status  int
	headers []header
	body    []byte
}

// get returns the first value of the header named name (any case).
func (r *response) get(name string) string {
	for _, h := range r.headers {
		if strings.EqualFold(h.name, name) {
			return h.value
		}
	}
	return ""
}

// send makes one HTTP/1.1 request on a fresh connection and reads the
// answer raw.
func send(base *url.URL, method, path, body string, headers []header) (*response, error) {
	host := base.Host
	if !strings.Contains(host, ":") {
		host += ":80"
	}
	conn, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, strings.TrimSuffix(base.Path, "/")+path, base.Host)
	for _, h := range headers {
		fmt.Fprintf(&b, "%s: %s\r\n", h.name, h.value)
	}
	if body != "" || method == "POST" || method == "PUT" || method == "PATCH" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return nil, err
	}
	return readResponse(bufio.NewReader(conn), method)
}

func readResponse(br *bufio.Reader, method string) (*response, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("status line: %w", err)
	}
	parts := strings.SplitN(strings.TrimSpace(line), " ", 3)
	if len(parts) < 2 {
		return nil, fmt.Errorf("bad status line %q", line)
	}
	r := &response{}
	if r.status, err = strconv.Atoi(parts[1]); err != nil {
		return nil, fmt.Errorf("bad status line %q", line)
	}
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("headers: %w", err)
		}
		l = strings.TrimRight(l, "\r\n")
		if l == "" {
			break
		}
		name, value, _ := strings.Cut(l, ":")
		r.headers = append(r.headers, header{name, strings.TrimSpace(value)})
	}
	if method == "HEAD" || r.status == 204 || r.status == 304 {
		return r, nil
	}
	var body io.Reader = br
	if strings.EqualFold(r.get("Transfer-Encoding"), "chunked") {
		body = httputil.NewChunkedReader(br)
	} else if cl := r.get("Content-Length"); cl != "" {
		n, err := strconv.ParseInt(cl, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad Content-Length %q", cl)
		}
		body = io.LimitReader(br, n)
	}
	r.body, err = io.ReadAll(body)
	return r, err
}
