// Package keystone authenticates requests with OpenStack Keystone tokens the
// way keystonemiddleware's auth_token does: the server holds a service token
// (password authentication from [keystone_authtoken]) and validates each
// user token with GET /v3/auth/tokens. Validated tokens are cached in
// memory, bounded, until the sooner of the token's expiry and
// token_cache_time, and concurrent first uses of one token share a single
// request to Keystone.
//
// Invariants: identity comes from Keystone's answer only; a token without a
// project scope, an expired one, or one whose application-credential access
// rules do not cover the request is invalid (401); when Keystone cannot give
// an answer (unreachable, slow, failing, or refusing the service
// credentials) the error is ErrUnavailable (503), never "allowed"; nothing
// about a failure is cached, so service resumes as soon as Keystone answers.
package keystone
