package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zaqar-go/zaqar/storage"
)

const patchContentType = "application/openstack-messaging-v2.0-json-patch"

// listQueues answers GET /v2/queues and GET /v2/topics (rq.res says
// which). Topic listings know no with_count: as in the original, it is
// one more metadata filter there.
func (a *API) listQueues(ctx *fasthttp.RequestCtx, rq *request) {
	res := rq.res
	limit, detailed, marker, ok := listParams(ctx, "queues", a.opts.MaxQueuesPerPage)
	if !ok {
		return
	}
	withCount := false
	if res == queues {
		var pe *paramError
		if withCount, pe = queryBool(ctx, "with_count"); pe != nil {
			invalidParam(ctx, pe)
			return
		}
	}
	name, _ := queryString(ctx, "name")
	filter := map[string]string{}
	ctx.QueryArgs().VisitAll(func(k, v []byte) {
		if !res.listParams[string(k)] && len(v) > 0 {
			filter[string(k)] = string(v)
		}
	})
	c := context.Background()
	listed, err := a.store.ListQueues(c, rq.project, storage.ListQueuesOptions{
		Marker: res.storageName(marker), Limit: limit, Detailed: detailed, Name: name, Filter: filter, Topics: res == topics,
	})
	if err != nil {
		a.storageError(ctx, rq, err, res.titlePlural+" could not be listed.")
		return
	}
	items := make([]any, len(listed))
	for i, q := range listed {
		name := storage.PublicName(q.Name)
		item := map[string]any{"name": name, "href": res.href(name)}
		if detailed {
			item["metadata"] = a.defaults(res, q.Metadata)
		}
		items[i], marker = item, name
	}
	var extra map[string]any
	if withCount {
		n, err := a.store.CountQueues(c, rq.project)
		if err != nil {
			a.storageError(ctx, rq, err, "Queues could not be listed.")
			return
		}
		if n > 0 {
			extra = map[string]any{"count": n}
		}
	}
	writeListing(ctx, res.collection, "/v2/"+res.collection, items, marker, extra)
}

// nextHref re-encodes the request's query with the new marker.
func nextHref(ctx *fasthttp.RequestCtx, path, marker string) string {
	vals := url.Values{}
	ctx.QueryArgs().VisitAll(func(k, v []byte) {
		if string(k) != "marker" && len(v) > 0 {
			vals.Set(string(k), string(v))
		}
	})
	vals.Set("marker", marker)
	return path + "?" + vals.Encode()
}

func (a *API) metadataBody(ctx *fasthttp.RequestCtx) (storage.Metadata, bool) {
	body := ctx.Request.Body()
	if len(body) > a.opts.MaxQueueMetadata {
		badRequest(ctx, "Queue metadata is too large. Max size: "+itoa(a.opts.MaxQueueMetadata))
		return nil, false
	}
	meta, msg := decodeMetadata(body)
	if msg != "" {
		badBody(ctx, msg)
		return nil, false
	}
	if msg := a.validateMetadata(meta); msg != "" {
		badRequest(ctx, msg)
		return nil, false
	}
	return meta, true
}

func (a *API) createQueue(ctx *fasthttp.RequestCtx, rq *request) {
	meta, ok := a.metadataBody(ctx)
	if !ok {
		return
	}
	created, err := a.store.CreateQueue(context.Background(), rq.project, rq.queue, meta)
	if err != nil {
		a.storageError(ctx, rq, err, rq.res.title+" could not be created.")
		return
	}
	setHeader(ctx, "location", rq.href())
	if created {
		// The original names a JSON type even on this bodiless answer.
		ctx.SetContentType("application/json")
		ctx.SetStatusCode(fasthttp.StatusCreated)
	} else {
		ctx.SetStatusCode(fasthttp.StatusNoContent)
	}
}

func (a *API) getQueue(ctx *fasthttp.RequestCtx, rq *request) {
	meta, err := a.store.GetQueueMetadata(context.Background(), rq.project, rq.queue)
	if err != nil {
		a.storageError(ctx, rq, err, rq.res.title+" metadata could not be retrieved.")
		return
	}
	writeValue(ctx, fasthttp.StatusOK, a.defaults(rq.res, meta))
}

func (a *API) patchQueue(ctx *fasthttp.RequestCtx, rq *request) {
	if ct := strings.TrimSpace(string(ctx.Request.Header.ContentType())); ct != patchContentType {
		writeError(ctx, fasthttp.StatusUnsupportedMediaType,
			"Accepted media type for PATCH: {'Accept-Patch': '"+patchContentType+"'}.", "")
		return
	}
	if len(ctx.Request.Body()) > a.opts.MaxQueueMetadata {
		badRequest(ctx, "Queue metadata is too large. Max size: "+itoa(a.opts.MaxQueueMetadata))
		return
	}
	ops, msg := parsePatch(ctx.Request.Body())
	if msg != "" {
		badBody(ctx, msg)
		return
	}
	c := context.Background()
	cur, err := a.store.GetQueueMetadata(c, rq.project, rq.queue)
	if err != nil {
		a.storageError(ctx, rq, err, rq.res.title+" could not be updated.")
		return
	}
	next, conflict := applyPatch(cur, ops, rq.res.reserved)
	if conflict != "" {
		writeError(ctx, fasthttp.StatusConflict, "Resource conflict", conflict)
		return
	}
	if msg := a.validateMetadata(next); msg != "" {
		badRequest(ctx, msg)
		return
	}
	if err := a.store.SetQueueMetadata(c, rq.project, rq.queue, next); err != nil {
		a.storageError(ctx, rq, err, rq.res.title+" could not be updated.")
		return
	}
	writeValue(ctx, fasthttp.StatusOK, a.defaults(rq.res, next))
}

func (a *API) deleteQueue(ctx *fasthttp.RequestCtx, rq *request) {
	if err := a.store.DeleteQueue(context.Background(), rq.project, rq.queue); err != nil {
		a.storageError(ctx, rq, err, rq.res.title+" could not be deleted.")
		return
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

func (a *API) queueStats(ctx *fasthttp.RequestCtx, rq *request) {
	c := context.Background()
	st, err := a.store.QueueStats(c, rq.project, rq.queue)
	if err != nil && !errors.Is(err, storage.ErrQueueNotFound) {
		a.storageError(ctx, rq, err, rq.res.title+" stats could not be read.")
		return
	}
	msgs := map[string]any{"claimed": st.Claimed, "free": st.Free, "total": st.Total}
	if st.Total > 0 && st.Oldest != nil && st.Newest != nil {
		now := time.Now()
		oldest, ok1 := a.statMessage(c, rq, st.Oldest, now)
		newest, ok2 := a.statMessage(c, rq, st.Newest, now)
		if ok1 && ok2 {
			msgs["oldest"], msgs["newest"] = oldest, newest
		}
	}
	// The partition is for operators: Zaqar's clients compare the stats
	// document whole, so it goes in a header of ours.
	if st.Partition >= 0 && err == nil {
		setHeader(ctx, partitionHeader, itoa(st.Partition))
	}
	writeValue(ctx, fasthttp.StatusOK, map[string]any{"messages": msgs})
}

// partitionHeader names the engine partition that owns a queue on stats
// answers.
const partitionHeader = "x-zaqar-partition"

// statMessage describes the oldest or newest message as Zaqar's Redis
// store does (the message as listed, with its creation time and claim);
// ok is false when the message went between the two reads.
func (a *API) statMessage(c context.Context, rq *request, s *storage.MessageStat, now time.Time) (map[string]any, bool) {
	m, err := a.store.GetMessage(c, rq.project, rq.queue, s.ID)
	if err != nil {
		return nil, false
	}
	var claimID any
	if m.ClaimID != "" {
		claimID = m.ClaimID
	}
	doc := map[string]any{
		"href": rq.href() + "/messages/" + m.ID,
		"age":  int64(now.Sub(m.Created) / time.Second), "ttl": m.TTL,
		"created": m.Created.UTC().Format("2006-01-02T15:04:05Z"),
		"body":    json.RawMessage(m.Body), "claim_id": claimID, "claim_count": m.ClaimCount,
	}
	if m.Checksum != "" {
		doc["checksum"] = m.Checksum
	}
	return doc, true
}

func (a *API) purgeQueue(ctx *fasthttp.RequestCtx, rq *request) {
	opts := storage.PurgeOptions{Messages: true, Subscriptions: true}
	if body := ctx.Request.Body(); len(body) > 0 {
		var doc map[string]any
		if err := numberAPI.Unmarshal(body, &doc); err != nil {
			badBody(ctx, "Request body could not be parsed.")
			return
		}
		raw, ok := doc["resource_types"]
		if !ok {
			badRequest(ctx, `Post body must contain key "resource_types".`)
			return
		}
		list, ok := raw.([]any)
		if !ok {
			badRequest(ctx, "Resource types must be a sub set of {'subscriptions', 'messages'}.")
			return
		}
		opts = storage.PurgeOptions{}
		for _, t := range list {
			switch t {
			case "messages":
				opts.Messages = true
			case "subscriptions":
				opts.Subscriptions = true
			default:
				badRequest(ctx, "Resource types must be a sub set of {'subscriptions', 'messages'}.")
				return
			}
		}
	}
	if err := a.store.PurgeQueue(context.Background(), rq.project, rq.queue, opts); err != nil {
		a.storageError(ctx, rq, err, rq.res.title+" could not be purged.")
		return
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}
