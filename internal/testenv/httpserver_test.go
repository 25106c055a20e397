package testenv

import (
	"testing"

	"github.com/valyala/fasthttp"
)

func TestServeInMemoryAndDo(t *testing.T) {
	h := func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("X-Method", string(ctx.Method()))
		ctx.Response.Header.Set("X-Path", string(ctx.Path()))
		ctx.Response.Header.Set("X-A", string(ctx.Request.Header.Peek("A")))
		if len(ctx.Request.Header.Peek("B")) != 0 {
			ctx.Response.Header.Set("X-B", "present")
		}
		ctx.SetStatusCode(fasthttp.StatusCreated)
		ctx.SetBody(ctx.PostBody())
	}
	c := ServeInMemory(t, h, func(s *fasthttp.Server) {
		s.MaxRequestBodySize = 16
		s.ErrorHandler = func(ctx *fasthttp.RequestCtx, err error) { ctx.SetStatusCode(fasthttp.StatusRequestEntityTooLarge) }
	})
	r := Do(t, c, "POST", "/p?x=1", "hello", "A: 1", "B: 2", "A: 3", "B: -")
	if r.Status != fasthttp.StatusCreated || r.Body != "hello" || r.Header["X-Method"] != "POST" ||
		r.Header["X-Path"] != "/p" || r.Header["X-A"] != "3" || r.Header["X-B"] != "" {
		t.Fatalf("%+v", r)
	}
	if r := Do(t, c, "POST", "/", "a body over the server's limit"); r.Status != fasthttp.StatusRequestEntityTooLarge {
		t.Fatalf("body over MaxRequestBodySize: %d", r.Status)
	}
}
