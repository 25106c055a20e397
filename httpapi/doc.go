// Package httpapi is the Zaqar Messaging API v2 over HTTP, on fasthttp.
//
// It checks that every request is well-formed (headers, queue names,
// limits, JSON shapes, Zaqar's validation rules and error texts) and hands
// typed calls to a storage.Store; it knows nothing of how data is stored.
// Every storage error maps to a status in one table (errors.go). Message
// bodies stay raw JSON bytes end to end: they are validated, never decoded
// into Go values and re-encoded.
//
// fasthttp reuses request buffers after a handler returns, and sonic's
// decoded strings and raw messages alias the input: nothing decoded from a
// request may outlive the handler. Stores copy what they keep.
package httpapi
