package httpapi

import (
	"context"
	_ "embed"
	"fmt"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zaqar-go/zaqar/storage"
)

var versionsDoc = []byte(`{"versions":[{"id":"1","status":"DEPRECATED","updated":"2014-9-11T17:47:05Z","media-types":[{"base":"application/json","type":"application/vnd.openstack.messaging-v1+json"}],"links":[{"href":"/v1/","rel":"self"}]},{"id":"1.1","status":"DEPRECATED","updated":"2016-7-29T02:22:47Z","media-types":[{"base":"application/json","type":"application/vnd.openstack.messaging-v1_1+json"}],"links":[{"href":"/v1.1/","rel":"self"}]},{"id":"2","status":"CURRENT","updated":"2014-9-24T04:06:47Z","media-types":[{"base":"application/json","type":"application/vnd.openstack.messaging-v2+json"}],"links":[{"href":"/v2/","rel":"self"}]}]}`)

func (a *API) versions(ctx *fasthttp.RequestCtx) {
	writeJSON(ctx, fasthttp.StatusMultipleChoices, versionsDoc)
}

// Zaqar's home documents, byte for byte as it serves them (its JSON_HOME,
// with ADMIN_RESOURCES added in admin mode): clients and tests compare
// them whole.
var (
	//go:embed home.json
	homeDoc []byte
	//go:embed home-admin.json
	homeAdminDoc []byte
)

func (a *API) homeDocument() []byte {
	if a.opts.AdminMode {
		return homeAdminDoc
	}
	return homeDoc
}

func (a *API) home(ctx *fasthttp.RequestCtx, _ *request) {
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("application/json-home")
	setHeader(ctx, "cache-control", "max-age=86400")
	ctx.SetBody(a.homeDocument())
}

func (a *API) ping(ctx *fasthttp.RequestCtx, _ *request) {
	if err := a.store.Ping(context.Background()); err != nil {
		writeError(ctx, fasthttp.StatusServiceUnavailable, "Service temporarily unavailable",
			"The storage backend is not reachable. Please try again in a few seconds.")
		return
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

func (a *API) pingHead(ctx *fasthttp.RequestCtx, _ *request) {
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

type probeResult struct {
	Succeeded bool    `json:"succeeded"`
	Seconds   float64 `json:"seconds"`
	Ref       *string `json:"ref"`
}

// health runs Zaqar's operation probe on a throw-away queue of a private
// project: create, post, claim, list, delete claimed, release, bulk
// delete, delete queue.
func (a *API) health(ctx *fasthttp.RequestCtx, rq *request) {
	c := context.Background()
	if a.opts.Pools != nil {
		// Pooled (Zaqar's shape): the catalogue, then each pool by name.
		reachable, pools := a.opts.Pools.PoolHealth(c)
		doc := map[string]any{"catalog_reachable": reachable}
		for name, ok := range pools {
			doc[name] = map[string]any{"storage_reachable": ok, "operation_status": map[string]any{}}
		}
		writeValue(ctx, fasthttp.StatusOK, doc)
		return
	}
	project, queue := "zaqar-health-probe", fmt.Sprintf("probe-%d", time.Now().UnixNano())
	status := map[string]probeResult{}
	run := func(name string, f func() error) bool {
		start := time.Now()
		err := f()
		status[name] = probeResult{Succeeded: err == nil, Seconds: time.Since(start).Seconds()}
		return err == nil
	}
	var ids []string
	var claim storage.Claim
	run("create_queue", func() error { _, err := a.store.CreateQueue(c, project, queue, nil); return err })
	run("post_messages", func() error {
		msgs := make([]storage.NewMessage, 100)
		for i := range msgs {
			msgs[i] = storage.NewMessage{Body: []byte(`{"health":"probe"}`), TTL: 600}
		}
		var err error
		ids, err = a.store.PostMessages(c, project, queue, rq.clientID, msgs)
		return err
	})
	run("claim_messages", func() error {
		var err error
		claim, err = a.store.CreateClaim(c, project, queue, storage.ClaimOptions{TTL: 60, Grace: 300, Limit: 10})
		return err
	})
	run("list_messages", func() error {
		_, _, err := a.store.ListMessages(c, project, queue, storage.ListMessagesOptions{Limit: 10, Echo: true})
		return err
	})
	run("delete_messages", func() error {
		for _, m := range claim.Messages {
			if err := a.store.DeleteMessage(c, project, queue, m.ID, claim.ID); err != nil {
				return err
			}
		}
		return nil
	})
	run("delete_claim", func() error { return a.store.DeleteClaim(c, project, queue, claim.ID) })
	run("bulk_delete_messages", func() error { return a.store.DeleteMessages(c, project, queue, ids, nil) })
	run("delete_queue", func() error { return a.store.DeleteQueue(c, project, queue) })
	writeValue(ctx, fasthttp.StatusOK, map[string]any{
		"storage_reachable": a.store.Ping(c) == nil, "operation_status": status,
	})
}
