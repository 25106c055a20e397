package httpapi

import (
	"errors"
	"fmt"

	"github.com/valyala/fasthttp"

	"github.com/zaqar-go/zaqar/storage"
)

// writeError answers with Zaqar's error document, as Falcon serialises
// it: varying on Accept.
func writeError(ctx *fasthttp.RequestCtx, status int, title, description string) {
	writeMiddlewareError(ctx, status, title, description)
	setHeader(ctx, "vary", "Accept")
}

// writeMiddlewareError answers with Zaqar's error document as the
// middleware in front of Falcon (keystonemiddleware) does: no Vary.
func writeMiddlewareError(ctx *fasthttp.RequestCtx, status int, title, description string) {
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	b := append(make([]byte, 0, 64+len(title)+len(description)), `{"title":`...)
	b = appendJSONString(b, title)
	if description != "" {
		b = append(b, `,"description":`...)
		b = appendJSONString(b, description)
	}
	ctx.SetBody(append(b, '}'))
}

func badRequest(ctx *fasthttp.RequestCtx, description string) {
	writeError(ctx, fasthttp.StatusBadRequest, "Invalid API request", description)
}

func badBody(ctx *fasthttp.RequestCtx, description string) {
	writeError(ctx, fasthttp.StatusBadRequest, "Invalid request body", description)
}

// storageError is the one table from storage errors to HTTP answers.
// what completes Zaqar's 503 text ("Messages could not be listed.").
func (a *API) storageError(ctx *fasthttp.RequestCtx, rq *request, err error, what string) {
	switch {
	case errors.Is(err, storage.ErrQueueNotFound):
		writeError(ctx, fasthttp.StatusNotFound, "Not found",
			fmt.Sprintf("%s %s does not exist for project %s", rq.res.title, rq.name, rq.project))
	case errors.Is(err, storage.ErrMessageNotFound):
		writeError(ctx, fasthttp.StatusNotFound, "Not found",
			fmt.Sprintf("Message %s does not exist in %s %s for project %s", rq.id, rq.res.singular, rq.name, rq.project))
	case errors.Is(err, storage.ErrClaimNotFound):
		writeError(ctx, fasthttp.StatusNotFound, "Not found",
			fmt.Sprintf("Claim %s does not exist in queue %s for project %s", rq.id, rq.name, rq.project))
	case errors.Is(err, storage.ErrSubscriptionNotFound):
		writeError(ctx, fasthttp.StatusNotFound, "Not found",
			fmt.Sprintf("Subscription %s does not exist", rq.id))
	case errors.Is(err, storage.ErrMessageClaimed):
		writeError(ctx, fasthttp.StatusForbidden, "Unable to delete",
			"This message is claimed; it cannot be deleted without a valid claim ID.")
	case errors.Is(err, storage.ErrMessageNotClaimed):
		writeError(ctx, fasthttp.StatusBadRequest, "Unable to delete",
			"A claim was specified, but the message is not currently claimed.")
	case errors.Is(err, storage.ErrDuplicate):
		writeError(ctx, fasthttp.StatusConflict, "Resource conflict", "The resource already exists.")
	case errors.Is(err, storage.ErrLimitExceeded):
		var le *storage.LimitError
		if errors.As(err, &le) {
			badRequest(ctx, le.Msg)
		} else {
			badRequest(ctx, err.Error())
		}
	case errors.Is(err, storage.ErrStorageFull):
		var full *storage.StorageFullError
		reason := "no room for new messages"
		if errors.As(err, &full) {
			reason = full.Reason
		}
		writeError(ctx, fasthttp.StatusServiceUnavailable, "Service temporarily unavailable",
			what+" The server's storage is full ("+reason+"). Please try again in a few seconds.")
	case errors.Is(err, storage.ErrFlavorNotFound):
		var fe *storage.FlavorNotFoundError
		if errors.As(err, &fe) {
			badRequest(ctx, fe.Error())
		} else {
			badRequest(ctx, "Flavor does not exist")
		}
	default:
		a.log.Error("storage failure", "op", what, "project", rq.project, rq.res.singular, rq.name, "err", err)
		writeError(ctx, fasthttp.StatusServiceUnavailable, "Service temporarily unavailable",
			what+" Please try again in a few seconds.")
	}
}

// ServerErrorHandler answers requests fasthttp rejects before any handler
// runs (body over MaxRequestBodySize, malformed HTTP) in Zaqar's error
// shape instead of fasthttp's plain text.
func ServerErrorHandler(ctx *fasthttp.RequestCtx, err error) {
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		badRequest(ctx, "Request body is too large.")
		return
	}
	writeError(ctx, fasthttp.StatusBadRequest, "Invalid request", "The request could not be read: "+err.Error())
}
