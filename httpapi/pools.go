package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/valyala/fasthttp"

	"github.com/zaqar-go/zaqar/catalog"
	"github.com/zaqar-go/zaqar/pooling"
	"github.com/zaqar-go/zaqar/storage"
)

// PoolAdmin manages pools and flavors in pooling mode (pooling.Store).
type PoolAdmin interface {
	PutPool(ctx context.Context, p catalog.Pool) (created bool, err error)
	GetPool(ctx context.Context, name string) (catalog.Pool, error)
	ListPools(ctx context.Context, marker string, limit int) ([]catalog.Pool, error)
	UpdatePool(ctx context.Context, name string, u catalog.PoolUpdate) (catalog.Pool, error)
	DeletePool(ctx context.Context, name string) error
	PutFlavor(ctx context.Context, f catalog.Flavor) (created bool, err error)
	GetFlavor(ctx context.Context, project, name string) (catalog.Flavor, error)
	ListFlavors(ctx context.Context, project, marker string, limit int) ([]catalog.Flavor, error)
	UpdateFlavor(ctx context.Context, project, name string, pools []string) (catalog.Flavor, error)
	DeleteFlavor(ctx context.Context, project, name string) error
	FlavorCapabilities(ctx context.Context, f catalog.Flavor) []string
	PoolHealth(ctx context.Context) (catalogReachable bool, pools map[string]bool)
}

const maxPoolNameLength = 64

func (a *API) poolRoutes() {
	v := func(method, path, name, rule string, h handler) { a.router.Handle(method, path, a.wrap(name, rule, h)) }
	v("GET", "/v2/pools", "pool_list", "pools:get_all", a.listPools)
	v("PUT", "/v2/pools/{pool}", "pool_create", "pools:create", a.named("pool", a.putPool))
	v("GET", "/v2/pools/{pool}", "pool_get", "pools:get", a.named("pool", a.getPool))
	v("PATCH", "/v2/pools/{pool}", "pool_update", "pools:update", a.named("pool", a.patchPool))
	v("DELETE", "/v2/pools/{pool}", "pool_delete", "pools:delete", a.named("pool", a.deletePool))
	v("GET", "/v2/flavors", "flavor_list", "flavors:get_all", a.listFlavors)
	v("PUT", "/v2/flavors/{flavor}", "flavor_create", "flavors:create", a.named("flavor", a.putFlavor))
	v("GET", "/v2/flavors/{flavor}", "flavor_get", "flavors:get", a.named("flavor", a.getFlavor))
	v("PATCH", "/v2/flavors/{flavor}", "flavor_update", "flavors:update", a.named("flavor", a.patchFlavor))
	v("DELETE", "/v2/flavors/{flavor}", "flavor_delete", "flavors:delete", a.named("flavor", a.deleteFlavor))
}

// named puts the {pool} or {flavor} path segment in rq.id after checking
// it fits the catalogue.
func (a *API) named(param string, h handler) handler {
	return func(ctx *fasthttp.RequestCtx, rq *request) {
		name, _ := ctx.UserValue(param).(string)
		if name == "" || len(name) > maxPoolNameLength {
			badRequest(ctx, fmt.Sprintf("The %s name must be 1 to %d characters long.", param, maxPoolNameLength))
			return
		}
		rq.id = name
		h(ctx, rq)
	}
}

// adminError is the one table from pool and flavor errors to answers.
func (a *API) adminError(ctx *fasthttp.RequestCtx, rq *request, err error, what string) {
	var inUse *catalog.PoolInUseError
	var noConn *pooling.CannotConnectError
	switch {
	case errors.Is(err, catalog.ErrPoolNotFound):
		writeError(ctx, fasthttp.StatusNotFound, "Not found", "Pool "+rq.id+" does not exist")
	case errors.Is(err, catalog.ErrFlavorNotFound):
		writeError(ctx, fasthttp.StatusNotFound, "Not found", "Flavor "+rq.id+" does not exist")
	case errors.Is(err, catalog.ErrPoolURIInUse):
		writeError(ctx, fasthttp.StatusConflict, "Resource conflict", "The database URI is in use by another pool.")
	case errors.Is(err, catalog.ErrFlavorNameTaken):
		writeError(ctx, fasthttp.StatusConflict, "Resource conflict", "Flavor "+rq.id+" already exists in another project.")
	case errors.As(err, &inUse):
		desc := "This pool is used by flavors " + inUse.Flavor + "; It cannot be deleted."
		if inUse.Flavor == "" {
			desc = "This pool holds queues; It cannot be deleted."
		}
		writeError(ctx, fasthttp.StatusForbidden, "Unable to delete", desc)
	case errors.As(err, &noConn):
		a.log.Warn("pool store unreachable", "uri", noConn.URI, "err", noConn.Err)
		badBody(ctx, noConn.Error())
	case errors.Is(err, pooling.ErrCapabilitiesMismatch):
		writeError(ctx, fasthttp.StatusBadRequest, "Unable to create pool",
			"The pool being added does not support the minimum set of capabilities")
	default:
		a.log.Error("management store failure", "op", what, "name", rq.id, "err", err)
		writeError(ctx, fasthttp.StatusServiceUnavailable, "Service temporarily unavailable",
			what+" Please try again in a few seconds.")
	}
}

func poolDoc(p catalog.Pool, detailed bool) map[string]any {
	doc := map[string]any{"name": p.Name, "uri": p.URI, "weight": p.Weight, "href": "/v2/pools/" + p.Name}
	if p.Flavor != "" {
		doc["flavor"] = p.Flavor
	} else {
		doc["flavor"] = nil
	}
	if detailed {
		opts := p.Options
		if opts == nil {
			opts = map[string]any{}
		}
		doc["options"] = opts
	}
	return doc
}

// adminBody decodes a JSON object body, answering 400 when it is not one.
func (a *API) adminBody(ctx *fasthttp.RequestCtx) (map[string]any, bool) {
	body := ctx.Request.Body()
	if len(body) > a.opts.MaxQueueMetadata {
		badBody(ctx, "Request body is too large.")
		return nil, false
	}
	var doc map[string]any
	if len(body) == 0 || numberAPI.Unmarshal(body, &doc) != nil || doc == nil {
		badBody(ctx, "Request body could not be parsed.")
		return nil, false
	}
	return doc, true
}

// poolFields validates the pool document (Zaqar's JSON schema: weight
// 0..2^32-1, uri of at most 255 characters with a scheme, flavor string,
// options object, nothing else).
func poolFields(ctx *fasthttp.RequestCtx, doc map[string]any, u *catalog.PoolUpdate) bool {
	for k, v := range doc {
		switch k {
		case "weight":
			n, ok := jsonInt(v)
			if !ok || n < 0 || n > 1<<32-1 {
				badBody(ctx, "weight must be an integer from 0 to 4294967295.")
				return false
			}
			u.Weight = &n
		case "uri":
			s, ok := v.(string)
			parsed, err := url.Parse(s)
			if !ok || s == "" || len(s) > 255 || err != nil || parsed.Scheme == "" {
				badBody(ctx, "uri must be a URI of at most 255 characters.")
				return false
			}
			u.URI = &s
		case "flavor":
			if v == nil {
				empty := ""
				u.Flavor = &empty
				continue
			}
			s, ok := v.(string)
			if !ok || len(s) > maxPoolNameLength {
				badBody(ctx, fmt.Sprintf("flavor must be a string of at most %d characters.", maxPoolNameLength))
				return false
			}
			u.Flavor = &s
		case "options":
			m, ok := v.(map[string]any)
			if !ok {
				badBody(ctx, "options must be an object.")
				return false
			}
			u.Options = m
		default:
			badBody(ctx, fmt.Sprintf("Additional properties are not allowed (%q was unexpected).", k))
			return false
		}
	}
	return true
}

// poolBody reads and validates a pool document.
func (a *API) poolBody(ctx *fasthttp.RequestCtx) (catalog.PoolUpdate, bool) {
	var u catalog.PoolUpdate
	doc, ok := a.adminBody(ctx)
	return u, ok && poolFields(ctx, doc, &u)
}

func (a *API) putPool(ctx *fasthttp.RequestCtx, rq *request) {
	u, ok := a.poolBody(ctx)
	if !ok {
		return
	}
	if u.URI == nil || u.Weight == nil {
		badBody(ctx, "Missing required properties: uri and weight.")
		return
	}
	p := catalog.Pool{Name: rq.id, URI: *u.URI, Weight: *u.Weight, Options: u.Options}
	if u.Flavor != nil {
		p.Flavor = *u.Flavor
	}
	if _, err := a.opts.Pools.PutPool(context.Background(), p); err != nil {
		if errors.Is(err, catalog.ErrFlavorNotFound) {
			badBody(ctx, "Flavor "+p.Flavor+" does not exist")
			return
		}
		a.adminError(ctx, rq, err, "Pool could not be created.")
		return
	}
	setHeader(ctx, "location", "/v2/pools/"+rq.id)
	ctx.SetStatusCode(fasthttp.StatusCreated)
}

func (a *API) getPool(ctx *fasthttp.RequestCtx, rq *request) {
	detailed, pe := queryBool(ctx, "detailed")
	if pe != nil {
		invalidParam(ctx, pe)
		return
	}
	p, err := a.opts.Pools.GetPool(context.Background(), rq.id)
	if err != nil {
		a.adminError(ctx, rq, err, "Pool could not be read.")
		return
	}
	writeValue(ctx, fasthttp.StatusOK, poolDoc(p, detailed))
}

func (a *API) listPools(ctx *fasthttp.RequestCtx, rq *request) {
	limit, detailed, marker, ok := listParams(ctx, "pools", a.opts.MaxPoolsPerPage)
	if !ok {
		return
	}
	pools, err := a.opts.Pools.ListPools(context.Background(), marker, limit)
	if err != nil {
		a.adminError(ctx, rq, err, "Pools could not be listed.")
		return
	}
	items := make([]any, len(pools))
	for i, p := range pools {
		items[i], marker = poolDoc(p, detailed), p.Name
	}
	setHeader(ctx, "content-location", string(ctx.RequestURI()))
	writeListing(ctx, "pools", "/v2/pools", items, marker, nil)
}

func (a *API) patchPool(ctx *fasthttp.RequestCtx, rq *request) {
	u, ok := a.poolBody(ctx)
	if !ok {
		return
	}
	if u.URI == nil && u.Weight == nil && u.Flavor == nil && u.Options == nil {
		badBody(ctx, "One of `uri`, `weight`, `flavor`, or `options` needs to be specified")
		return
	}
	p, err := a.opts.Pools.UpdatePool(context.Background(), rq.id, u)
	if err != nil {
		if errors.Is(err, catalog.ErrFlavorNotFound) && u.Flavor != nil {
			badBody(ctx, "Flavor "+*u.Flavor+" does not exist")
			return
		}
		a.adminError(ctx, rq, err, "Pool could not be updated.")
		return
	}
	writeValue(ctx, fasthttp.StatusOK, poolDoc(p, false))
}

func (a *API) deletePool(ctx *fasthttp.RequestCtx, rq *request) {
	if err := a.opts.Pools.DeletePool(context.Background(), rq.id); err != nil {
		a.adminError(ctx, rq, err, "Pool could not be deleted.")
		return
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

func (a *API) flavorDoc(f catalog.Flavor, href string, withCaps bool) map[string]any {
	pools := f.Pools
	if pools == nil {
		pools = []string{}
	}
	doc := map[string]any{"name": f.Name, "href": href, "pool_list": pools}
	if withCaps {
		doc["capabilities"] = a.opts.Pools.FlavorCapabilities(context.Background(), f)
	}
	return doc
}

// poolList reads the required pool_list array of names.
func poolList(ctx *fasthttp.RequestCtx, doc map[string]any) ([]string, bool) {
	for k := range doc {
		if k != "pool_list" && k != "capabilities" {
			badBody(ctx, fmt.Sprintf("Additional properties are not allowed (%q was unexpected).", k))
			return nil, false
		}
	}
	raw, ok := doc["pool_list"].([]any)
	if !ok {
		badBody(ctx, "pool_list must be an array of pool names.")
		return nil, false
	}
	names := make([]string, 0, len(raw))
	for _, v := range raw {
		s, ok := v.(string)
		if !ok || s == "" || len(s) > maxPoolNameLength {
			badBody(ctx, "pool_list must be an array of pool names.")
			return nil, false
		}
		names = append(names, s)
	}
	return names, true
}

func (a *API) putFlavor(ctx *fasthttp.RequestCtx, rq *request) {
	doc, ok := a.adminBody(ctx)
	if !ok {
		return
	}
	pools, ok := poolList(ctx, doc)
	if !ok {
		return
	}
	caps, _ := doc["capabilities"].(map[string]any)
	f := catalog.Flavor{Name: rq.id, Project: rq.project, Pools: pools, Capabilities: caps}
	if a.storeFlavor(ctx, rq, pools, func() error { _, err := a.opts.Pools.PutFlavor(context.Background(), f); return err }) {
		setHeader(ctx, "location", "/v2/flavors/"+rq.id)
		ctx.SetStatusCode(fasthttp.StatusCreated)
	}
}

// storeFlavor runs a flavor change and answers its errors as Zaqar does;
// it reports whether the change was made.
func (a *API) storeFlavor(ctx *fasthttp.RequestCtx, rq *request, pools []string, change func() error) bool {
	if len(pools) == 0 {
		writeError(ctx, fasthttp.StatusBadRequest, "Unable to create", "Bad Request")
		return false
	}
	err := change()
	var missing *catalog.MissingPoolError
	switch {
	case err == nil:
		return true
	case errors.As(err, &missing):
		writeError(ctx, fasthttp.StatusBadRequest, "Unable to create",
			fmt.Sprintf("Flavor %s could not be created, error:%s", rq.id, missing.Error()))
	case errors.Is(err, pooling.ErrCapabilitiesMismatch):
		writeError(ctx, fasthttp.StatusBadRequest, "Unable to create",
			"The pool being added does not support the minimum set of capabilities")
	default:
		a.adminError(ctx, rq, err, "Flavor could not be created.")
	}
	return false
}

func (a *API) getFlavor(ctx *fasthttp.RequestCtx, rq *request) {
	f, err := a.opts.Pools.GetFlavor(context.Background(), rq.project, rq.id)
	if err != nil {
		a.adminError(ctx, rq, err, "Flavor could not be read.")
		return
	}
	writeValue(ctx, fasthttp.StatusOK, a.flavorDoc(f, "/v2/flavors/"+f.Name, true))
}

func (a *API) listFlavors(ctx *fasthttp.RequestCtx, rq *request) {
	limit, detailed, marker, ok := listParams(ctx, "flavors", a.opts.MaxFlavorsPerPage)
	if !ok {
		return
	}
	flavors, err := a.opts.Pools.ListFlavors(context.Background(), rq.project, marker, limit)
	if err != nil {
		a.adminError(ctx, rq, err, "Flavors could not be listed.")
		return
	}
	items := make([]any, len(flavors))
	for i, f := range flavors {
		items[i], marker = a.flavorDoc(f, "/v2/flavors/"+f.Name, detailed), f.Name
	}
	writeListing(ctx, "flavors", "/v2/flavors", items, marker, nil)
}

func (a *API) patchFlavor(ctx *fasthttp.RequestCtx, rq *request) {
	doc, ok := a.adminBody(ctx)
	if !ok {
		return
	}
	if _, present := doc["pool_list"]; !present {
		badBody(ctx, "Missing required property: pool_list.")
		return
	}
	pools, ok := poolList(ctx, doc)
	if !ok {
		return
	}
	if _, err := a.opts.Pools.GetFlavor(context.Background(), rq.project, rq.id); err != nil {
		a.adminError(ctx, rq, err, "Flavor could not be updated.")
		return
	}
	var f catalog.Flavor
	if a.storeFlavor(ctx, rq, pools, func() error {
		var err error
		f, err = a.opts.Pools.UpdateFlavor(context.Background(), rq.project, rq.id, pools)
		return err
	}) {
		writeValue(ctx, fasthttp.StatusOK, a.flavorDoc(f, "/v2/flavors/"+f.Name, true))
	}
}

func (a *API) deleteFlavor(ctx *fasthttp.RequestCtx, rq *request) {
	if err := a.opts.Pools.DeleteFlavor(context.Background(), rq.project, rq.id); err != nil {
		a.adminError(ctx, rq, err, "Flavor could not be deleted.")
		return
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

func jsonInt(v any) (int64, bool) { return storage.Metadata{"v": v}.Int("v") }
