package loadgen

import (
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// BenchmarkClientPost measures how many requests one generator goroutine
// issues against a trivial endpoint that answers 201 at once: the
// generator's own ceiling, so it is known not to be the bottleneck.
func BenchmarkClientPost(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetStatusCode(201)
		ctx.SetBodyString(`{"resources":[]}`)
	}}
	go srv.Serve(ln)
	defer srv.Shutdown()
	hc, scheme, host := newHostClient("http://"+ln.Addr().String(), 1, 5*time.Second)
	c := newClient(hc, scheme, host, nil, 5*time.Second)
	body := []byte(`{"messages":[{"ttl":300,"body":{"k":"x","ts":1,"p":"` + string(make([]byte, 0)) + `"}}]}`)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if st, _ := c.do("POST", "p", "/v2/queues/q/messages", body); st != 201 {
			b.Fatalf("status %d", st)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
