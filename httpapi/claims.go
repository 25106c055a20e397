package httpapi

import (
	"context"
	"fmt"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zaqar-go/zaqar/storage"
)

type claimDoc struct {
	TTL   rawField `json:"ttl"`
	Grace rawField `json:"grace"`
}

// rawField keeps a field's raw JSON so types can be checked with Zaqar's
// texts.
type rawField []byte

func (r *rawField) UnmarshalJSON(b []byte) error {
	*r = append((*r)[:0], b...)
	return nil
}

// claimParams reads {"ttl","grace"} with defaults. required: PATCH needs a
// body.
func (a *API) claimParams(ctx *fasthttp.RequestCtx, required bool) (int64, int64, bool) {
	ttl, grace := a.opts.DefaultClaimTTL, a.opts.DefaultClaimGrace
	body := ctx.Request.Body()
	if len(body) == 0 {
		if required {
			badBody(ctx, "Request body can not be empty")
			return 0, 0, false
		}
		return ttl, grace, true
	}
	if len(body) > 4096 {
		badRequest(ctx, "Claim request body is too large.")
		return 0, 0, false
	}
	var doc claimDoc
	if err := rawAPI.Unmarshal(body, &doc); err != nil {
		badBody(ctx, "Request body could not be parsed.")
		return 0, 0, false
	}
	if n, has, msg := rawInt(doc.TTL, "ttl"); msg != "" {
		badBody(ctx, msg)
		return 0, 0, false
	} else if has {
		ttl = n
	}
	if n, has, msg := rawInt(doc.Grace, "grace"); msg != "" {
		badBody(ctx, msg)
		return 0, 0, false
	} else if has {
		grace = n
	}
	if ttl < 60 || ttl > a.opts.MaxClaimTTL {
		badRequest(ctx, fmt.Sprintf("The TTL for a claim may not exceed %d seconds, and must be at least 60 seconds long.", a.opts.MaxClaimTTL))
		return 0, 0, false
	}
	if grace < 60 || grace > a.opts.MaxClaimGrace {
		badRequest(ctx, fmt.Sprintf("The grace for a claim may not exceed %d seconds, and must be at least 60 seconds long.", a.opts.MaxClaimGrace))
		return 0, 0, false
	}
	return ttl, grace, true
}

// createClaim claims up to limit messages; with ?wait=N it waits for
// some (longPoll), after the request is validated in full.
func (a *API) createClaim(ctx *fasthttp.RequestCtx, rq *request) {
	limit, ok := pageLimit(ctx, "claims", a.opts.MaxMessagesPerClaimOrPop)
	if !ok {
		return
	}
	ttl, grace, ok := a.claimParams(ctx, false)
	if !ok {
		return
	}
	wait, ok := a.waitParam(ctx)
	if !ok {
		return
	}
	opts := storage.ClaimOptions{TTL: ttl, Grace: grace, Limit: limit}
	a.longPoll(ctx, rq, wait, storage.ClaimChanges, func() bool {
		cl, err := a.store.CreateClaim(context.Background(), rq.project, rq.queue, opts)
		if err != nil {
			a.storageError(ctx, rq, err, "Claim could not be created.")
			return true
		}
		defer cl.Recycle() // the answer is a copy
		if len(cl.Messages) == 0 {
			return false
		}
		setHeader(ctx, "location", rq.href()+"/claims/"+cl.ID)
		bp := getBuf()
		defer putBuf(bp)
		b := append((*bp)[:0], '{')
		b = a.appendMessages(b, rq.href(), cl.Messages, true)
		writeJSONBuf(ctx, fasthttp.StatusCreated, bp, append(b, '}'))
		return true
	}, func() { ctx.SetStatusCode(fasthttp.StatusNoContent) })
}

func (a *API) getClaim(ctx *fasthttp.RequestCtx, rq *request) {
	rq.id, _ = ctx.UserValue("claim").(string)
	cl, err := a.store.GetClaim(context.Background(), rq.project, rq.queue, rq.id)
	if err != nil {
		a.storageError(ctx, rq, err, "Claim could not be queried.")
		return
	}
	defer cl.Recycle() // the answer is a copy
	bp := getBuf()
	defer putBuf(bp)
	b := append((*bp)[:0], `{"age":`...)
	b = appendInt(b, int64(time.Since(cl.Updated)/time.Second))
	b = append(b, `,"ttl":`...)
	b = appendInt(b, cl.TTL)
	b = append(b, `,"href":"`...)
	b = append(b, rq.href()...)
	b = append(b, "/claims/"...)
	b = append(b, cl.ID...)
	b = append(b, `",`...)
	b = a.appendMessages(b, rq.href(), cl.Messages, true)
	writeJSONBuf(ctx, fasthttp.StatusOK, bp, append(b, '}'))
}

func (a *API) updateClaim(ctx *fasthttp.RequestCtx, rq *request) {
	rq.id, _ = ctx.UserValue("claim").(string)
	ttl, grace, ok := a.claimParams(ctx, true)
	if !ok {
		return
	}
	if err := a.store.UpdateClaim(context.Background(), rq.project, rq.queue, rq.id, ttl, grace); err != nil {
		a.storageError(ctx, rq, err, "Claim could not be updated.")
		return
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

func (a *API) deleteClaim(ctx *fasthttp.RequestCtx, rq *request) {
	rq.id, _ = ctx.UserValue("claim").(string)
	if err := a.store.DeleteClaim(context.Background(), rq.project, rq.queue, rq.id); err != nil {
		a.storageError(ctx, rq, err, "Claim could not be deleted.")
		return
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}
