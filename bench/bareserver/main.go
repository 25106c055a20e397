// Command bareserver is an HTTP server that does nothing but HTTP, with
// fasthttp configured as zaqar-server configures it: the floor against
// which bench/cpu-per-request.sh sets the server's CPU per request. It
// answers the Messaging API's shapes with fixed bodies:
//
//	POST .../messages   201, reads the body, {"resources":[...]} for 10 ids
//	POST .../claims     201, a claim of 10 messages with ~1 KiB bodies (~12 KiB) and a Location
//	DELETE ...?pop=N    200, N popped messages
//	DELETE              204
//	GET                 200, {"messages":{"free":..}} (enough for the script's backlog checks)
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

func messages(n int, withHref bool) []byte {
	var b bytes.Buffer
	b.WriteString(`{"messages":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		id := fmt.Sprintf("%032x", 0x5f3a00+i)
		if withHref {
			fmt.Fprintf(&b, `{"id":"%s","href":"/v2/queues/q/messages/%s?claim_id=0123456789abcdef0123456789abcdef","ttl":3600,"age":12,`, id, id)
		} else {
			fmt.Fprintf(&b, `{"id":"%s","ttl":3600,"age":12,`, id)
		}
		fmt.Fprintf(&b, `"body":{"event":"bench","payload":"%s","n":%d}`, strings.Repeat("x", 1000), i)
		if !withHref {
			b.WriteString(`,"claim_id":null,"claim_count":0`)
		}
		b.WriteByte('}')
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

func main() {
	addr := flag.String("addr", "127.0.0.1:18080", "listen address")
	flag.Parse()
	var post bytes.Buffer
	post.WriteString(`{"resources":[`)
	for i := range 10 {
		if i > 0 {
			post.WriteByte(',')
		}
		fmt.Fprintf(&post, `"/v2/queues/q/messages/%032x"`, i)
	}
	post.WriteString(`]}`)
	claim, pop := messages(10, true), messages(10, false)
	stats := []byte(`{"messages":{"free":1000000000,"claimed":0,"total":1000000000}}`)
	location := []byte("/v2/queues/q/claims/0123456789abcdef0123456789abcdef")
	h := func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json; charset=UTF-8")
		switch {
		case ctx.IsDelete():
			if ctx.QueryArgs().Has("pop") {
				ctx.SetBody(pop)
				return
			}
			ctx.SetStatusCode(fasthttp.StatusNoContent)
		case ctx.IsPost():
			_ = ctx.PostBody()
			ctx.SetStatusCode(fasthttp.StatusCreated)
			if bytes.HasSuffix(ctx.Path(), []byte("/claims")) {
				ctx.Response.Header.SetBytesV("Location", location)
				ctx.SetBody(claim)
				return
			}
			ctx.SetBody(post.Bytes())
		default:
			ctx.SetBody(stats)
		}
	}
	s := &fasthttp.Server{
		Handler: h, ReadBufferSize: 16 << 10, MaxRequestBodySize: 320 << 10,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second,
	}
	log.Fatal(s.ListenAndServe(*addr))
}
