package httpapi

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/bytedance/sonic"
	"github.com/google/uuid"
	"github.com/valyala/fasthttp"

	"github.com/zaqar-go/zaqar/storage"
)

func itoa(n int) string { return strconv.Itoa(n) }

// postDoc is a POST .../messages document. Raw fields alias the request
// buffer and are used only during the request.
type postDoc struct {
	Messages *[]postMessage `json:"messages"`
}

type postMessage struct {
	Body  sonic.NoCopyRawMessage `json:"body"`
	TTL   sonic.NoCopyRawMessage `json:"ttl"`
	Delay sonic.NoCopyRawMessage `json:"delay"`
}

// postBuf is a post's decoding state, recycled: decoding into a new list
// grows it four times for ten messages, which costs twice the time and
// allocations of decoding into a reused one.
type postBuf struct {
	pooled []postMessage // the reused array, empty before decoding
	list   []postMessage // what the decoder made of it
	doc    postDoc
}

var postBufs = sync.Pool{New: func() any { return &postBuf{pooled: make([]postMessage, 0, 32)} }}

// decodePost decodes a post document. list is nil when the document has
// no "messages" (or null); it aliases pb, which the caller releases once
// nothing refers to it any more.
func decodePost(body []byte) (pb *postBuf, list []postMessage, err error) {
	pb = postBufs.Get().(*postBuf)
	pb.list = pb.pooled
	pb.doc.Messages = &pb.list
	err = rawAPI.UnmarshalFromString(unsafe.String(unsafe.SliceData(body), len(body)), &pb.doc)
	// The decoder leaves the list alone when "messages" is absent and
	// replaces it when the array is empty (TestMessages pins both).
	if pb.doc.Messages == nil || (len(pb.list) == 0 && unsafe.SliceData(pb.list) == unsafe.SliceData(pb.pooled)) {
		return pb, nil, err
	}
	return pb, pb.list, err
}

func (pb *postBuf) release() {
	// The decoder reuses slots without zeroing them: clear every slot,
	// wherever a failed decode may have stopped, which also drops the
	// bodies' references into the request buffer.
	clear(pb.pooled[:cap(pb.pooled)])
	clear(pb.list[:cap(pb.list)])
	if cap(pb.list) > cap(pb.pooled) && cap(pb.list) <= 1024 {
		pb.pooled = pb.list[:0]
	}
	pb.list, pb.doc = nil, postDoc{}
	postBufs.Put(pb)
}

// rawInt reads an integer field; JSON booleans count as 0/1 (Python's bool
// is an int, so Zaqar accepts them and the range check rejects them).
func rawInt(raw []byte, name string) (int64, bool, string) {
	if len(raw) == 0 {
		return 0, false, ""
	}
	switch string(raw) {
	case "true":
		return 1, true, ""
	case "false":
		return 0, true, ""
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, true, fmt.Sprintf(`The value of the "%s" field must be a int.`, name)
	}
	return n, true, ""
}

// boundedField reads an optional integer field (def when absent) that must
// lie in lo..hi, answering Zaqar's errors itself: a wrong type is a body
// error, a value out of range an API error with rangeText, a format whose
// one %d is hi (formatted only then: this runs for every posted message).
func boundedField(ctx *fasthttp.RequestCtx, raw []byte, name string, def, lo, hi int64, rangeText string) (int64, bool) {
	n, has, msg := rawInt(raw, name)
	if msg != "" {
		badBody(ctx, msg)
		return 0, false
	}
	if !has {
		n = def
	}
	if n < lo || n > hi {
		badRequest(ctx, fmt.Sprintf(rangeText, hi))
		return 0, false
	}
	return n, true
}

func (a *API) postMessages(ctx *fasthttp.RequestCtx, rq *request) {
	body := ctx.Request.Body()
	c := context.Background()
	meta, err := a.store.GetQueueMetadata(c, rq.project, rq.queue)
	if err != nil && !errors.Is(err, storage.ErrQueueNotFound) {
		a.storageError(ctx, rq, err, "Messages could not be enqueued.")
		return
	}
	maxSize := a.opts.MaxMessagesPostSize
	if n, ok := meta.Int(storage.MetaMaxPostSize); ok && n > 0 && int(n) < maxSize {
		maxSize = int(n)
	}
	if len(body) > maxSize {
		badRequest(ctx, "Message collection size is too large. Max size "+itoa(maxSize))
		return
	}
	if len(body) == 0 {
		badBody(ctx, "Request body can not be empty")
		return
	}
	// Decoded in place: the raw bodies point into the request buffer, which
	// outlives every use of them (the store copies what it keeps).
	pb, list, err := decodePost(body)
	defer pb.release()
	if err != nil {
		badBody(ctx, "Request body could not be parsed.")
		return
	}
	if list == nil {
		badRequest(ctx, "No messages were found in the request body.")
		return
	}
	if len(list) == 0 {
		badRequest(ctx, "No messages to enqueu.")
		return
	}
	defTTL := a.opts.DefaultMessageTTL
	if n, ok := meta.Int(storage.MetaDefaultMessageTTL); ok && n > 0 {
		defTTL = n
	}
	queueDelay, _ := meta.Int(storage.MetaDefaultDelay)
	msgs := make([]storage.NewMessage, len(list))
	for i := range list {
		m := &list[i]
		if m.Body == nil {
			badBody(ctx, `Missing "body" field.`)
			return
		}
		ttl, ok := boundedField(ctx, m.TTL, "ttl", defTTL, 60, a.opts.MaxMessageTTL,
			"The TTL for a message may not exceed %d seconds, and must be at least 60 seconds long.")
		if !ok {
			return
		}
		var delay int64
		if queueDelay > 0 {
			if delay, ok = boundedField(ctx, m.Delay, "delay", queueDelay, 0, a.opts.MaxMessageDelay,
				"The Delay TTL for a message may not exceed %d seconds,and must be at least 0 seconds long."); !ok {
				return
			}
		}
		msgs[i] = storage.NewMessage{Body: m.Body, TTL: ttl, Delay: delay}
		if a.opts.EnableChecksum {
			sum := md5.Sum(m.Body)
			msgs[i].Checksum = "MD5:" + hex.EncodeToString(sum[:])
		}
	}
	ids, err := a.store.PostMessages(c, rq.project, rq.queue, rq.clientID, msgs)
	if err != nil {
		a.storageError(ctx, rq, err, "Messages could not be enqueued.")
		return
	}
	bp := getBuf()
	defer putBuf(bp)
	b := *bp
	prefix := rq.href() + "/messages"
	loc := append(b, prefix...)
	loc = append(loc, "?ids="...)
	for i, id := range ids {
		if i > 0 {
			loc = append(loc, ',')
		}
		loc = append(loc, id...)
	}
	ctx.Response.Header.DisableNormalizing()
	ctx.Response.Header.SetBytesV("location", loc)
	b = append(loc[:0], `{"resources":[`...)
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, prefix...)
		b = append(b, '/')
		b = append(b, id...)
		b = append(b, '"')
	}
	b = append(b, "]}"...)
	writeJSONBuf(ctx, fasthttp.StatusCreated, bp, b)
}

// appendMessage appends Zaqar's message object. withHref selects the
// list/get shape; without it the pop shape (claim_id, claim_count).
func (a *API) appendMessage(b []byte, base string, m *storage.Message, now time.Time, withHref bool) []byte {
	b = append(b, `{"id":"`...)
	b = append(b, m.ID...)
	if withHref {
		b = append(b, `","href":"`...)
		b = append(b, base...)
		b = append(b, "/messages/"...)
		b = append(b, m.ID...)
		if m.ClaimID != "" {
			b = append(b, "?claim_id="...)
			b = append(b, m.ClaimID...)
		}
	}
	b = append(b, `","ttl":`...)
	b = appendInt(b, m.TTL)
	b = append(b, `,"age":`...)
	b = appendInt(b, int64(now.Sub(m.Created)/time.Second))
	b = append(b, `,"body":`...)
	b = append(b, m.Body...)
	if !withHref {
		b = append(b, `,"claim_id":`...)
		if m.ClaimID == "" {
			b = append(b, "null"...)
		} else {
			b = appendJSONString(b, m.ClaimID)
		}
		b = append(b, `,"claim_count":`...)
		b = appendInt(b, int64(m.ClaimCount))
	}
	if m.Checksum != "" {
		b = append(b, `,"checksum":`...)
		b = appendJSONString(b, m.Checksum)
	}
	return append(b, '}')
}

func (a *API) appendMessages(b []byte, base string, msgs []storage.Message, withHref bool) []byte {
	now := time.Now()
	b = append(b, `"messages":[`...)
	for i := range msgs {
		if i > 0 {
			b = append(b, ',')
		}
		b = a.appendMessage(b, base, &msgs[i], now, withHref)
	}
	return append(b, ']')
}

func (a *API) listMessages(ctx *fasthttp.RequestCtx, rq *request) {
	if ids := queryList(ctx, "ids"); ids != nil {
		a.getMessagesByID(ctx, rq, ids)
		return
	}
	limit, ok := pageLimit(ctx, "messages", a.opts.MaxMessagesPerPage)
	if !ok {
		return
	}
	opts := storage.ListMessagesOptions{Limit: limit, ClientID: rq.clientID}
	opts.Marker, _ = queryString(ctx, "marker")
	for _, f := range []struct {
		name string
		dst  *bool
	}{{"echo", &opts.Echo}, {"include_claimed", &opts.IncludeClaimed}, {"include_delayed", &opts.IncludeDelayed}} {
		v, pe := queryBool(ctx, f.name)
		if pe != nil {
			invalidParam(ctx, pe)
			return
		}
		*f.dst = v
	}
	wait, ok := a.waitParam(ctx)
	if !ok {
		return
	}
	a.longPoll(ctx, rq, wait, storage.Changes, func() bool {
		msgs, marker, err := a.store.ListMessages(context.Background(), rq.project, rq.queue, opts)
		if err != nil {
			a.storageError(ctx, rq, err, "Messages could not be listed.")
			return true
		}
		if len(msgs) == 0 {
			return false
		}
		a.writeMessagePage(ctx, rq, msgs, marker)
		return true
	}, func() { a.writeMessagePage(ctx, rq, nil, "") })
}

// writeMessagePage answers a listing; an empty page has no "next" link.
func (a *API) writeMessagePage(ctx *fasthttp.RequestCtx, rq *request, msgs []storage.Message, marker string) {
	bp := getBuf()
	defer putBuf(bp)
	b := append((*bp)[:0], '{')
	b = a.appendMessages(b, rq.href(), msgs, true)
	b = append(b, `,"links":[`...)
	if len(msgs) > 0 {
		b = append(b, `{"rel":"next","href":`...)
		b = appendJSONString(b, nextHref(ctx, rq.href()+"/messages", marker))
		b = append(b, '}')
	}
	b = append(b, "]}"...)
	writeJSONBuf(ctx, fasthttp.StatusOK, bp, b)
}

func (a *API) getMessagesByID(ctx *fasthttp.RequestCtx, rq *request, ids []string) {
	if len(ids) > a.opts.MaxMessagesPerPage {
		badRequest(ctx, limitText("messages", a.opts.MaxMessagesPerPage))
		return
	}
	msgs, err := a.store.GetMessages(context.Background(), rq.project, rq.queue, ids)
	if err != nil && !errors.Is(err, storage.ErrQueueNotFound) {
		a.storageError(ctx, rq, err, "Messages could not be listed.")
		return
	}
	if len(msgs) == 0 {
		writeError(ctx, fasthttp.StatusNotFound, "Not found",
			fmt.Sprintf("No messages with IDs: %s found in the %s %s for project %s.", pyList(ids), rq.res.singular, rq.name, rq.project))
		return
	}
	a.writeMessages(ctx, fasthttp.StatusOK, rq.href(), msgs, true)
}

// writeMessages answers {"messages":[...]}, in the list/get shape
// (withHref) or the pop shape.
func (a *API) writeMessages(ctx *fasthttp.RequestCtx, status int, base string, msgs []storage.Message, withHref bool) {
	bp := getBuf()
	defer putBuf(bp)
	b := append((*bp)[:0], '{')
	b = a.appendMessages(b, base, msgs, withHref)
	writeJSONBuf(ctx, status, bp, append(b, '}'))
}

func (a *API) getMessage(ctx *fasthttp.RequestCtx, rq *request) {
	rq.id, _ = ctx.UserValue("message").(string)
	m, err := a.store.GetMessage(context.Background(), rq.project, rq.queue, rq.id)
	if err != nil {
		a.storageError(ctx, rq, err, "Message could not be retrieved.")
		return
	}
	bp := getBuf()
	defer putBuf(bp)
	writeJSONBuf(ctx, fasthttp.StatusOK, bp, a.appendMessage((*bp)[:0], rq.href(), &m, time.Now(), true))
}

func (a *API) deleteMessage(ctx *fasthttp.RequestCtx, rq *request) {
	rq.id, _ = ctx.UserValue("message").(string)
	claimID, _ := queryString(ctx, "claim_id")
	err := a.store.DeleteMessage(context.Background(), rq.project, rq.queue, rq.id, claimID)
	if errors.Is(err, storage.ErrClaimNotFound) {
		writeError(ctx, fasthttp.StatusBadRequest, "Unable to delete", "The specified claim does not exist or has expired.")
		return
	}
	if err != nil {
		a.storageError(ctx, rq, err, "Message could not be deleted.")
		return
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

func (a *API) deleteMessages(ctx *fasthttp.RequestCtx, rq *request) {
	ids := queryList(ctx, "ids")
	pop, hasPop, pe := queryInt(ctx, "pop")
	if pe != nil {
		invalidParam(ctx, pe)
		return
	}
	switch {
	case ids != nil && hasPop:
		badRequest(ctx, "pop and id params cannot be present together in the delete request.")
		return
	case ids == nil && !hasPop:
		badRequest(ctx, `The request should have either "ids" or "pop" parameter in the request, to be able to delete.`)
		return
	}
	c := context.Background()
	if hasPop {
		if pop < 1 || pop > int64(a.opts.MaxMessagesPerClaimOrPop) {
			badRequest(ctx, fmt.Sprintf("Pop value must be at least 1 and may not be greater than %d.", a.opts.MaxMessagesPerClaimOrPop))
			return
		}
		msgs, err := a.store.PopMessages(c, rq.project, rq.queue, int(pop))
		if err != nil {
			a.storageError(ctx, rq, err, "Messages could not be popped.")
			return
		}
		// Zaqar pops by claiming (ttl 1, grace 0) then deleting: each
		// message comes back held by that claim.
		popClaim := uuid.NewString()
		for i := range msgs {
			msgs[i].ClaimID = popClaim
		}
		a.writeMessages(ctx, fasthttp.StatusOK, rq.href(), msgs, false)
		return
	}
	var claimIDs []string
	if a.opts.MessageDeleteWithClaimID {
		if claimIDs = queryList(ctx, "claim_ids"); claimIDs == nil {
			badRequest(ctx, `The request should have both "ids" and "claim_ids" parameter in the request when message_delete_with_claim_id is True.`)
			return
		}
	}
	if len(ids) > a.opts.MaxMessagesPerPage {
		badRequest(ctx, fmt.Sprintf("ids parameter should have at least 1 and not greater than %d values.", a.opts.MaxMessagesPerPage))
		return
	}
	if err := a.store.DeleteMessages(c, rq.project, rq.queue, ids, claimIDs); err != nil {
		a.storageError(ctx, rq, err, "Messages could not be deleted.")
		return
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}
