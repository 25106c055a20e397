package wsapi

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/zaqar-go/zaqar/internal/testenv"
	"github.com/zaqar-go/zaqar/keystone"
	"github.com/zaqar-go/zaqar/policy"
	"github.com/zaqar-go/zaqar/signedurl"
)

const (
	ksServicePassword = "zaqar-service-secret"
	ksUserPassword    = "user-secret"
	shareKey          = "share-secret"
)

type keystoneEnv struct {
	ks    *testenv.Keystone
	clock *testenv.Clock
}

func newKeystoneEnv(t *testing.T) *keystoneEnv {
	ks := testenv.StartKeystone(t)
	ks.User("zaqar", ksServicePassword, "service", "service")
	ks.User("alice", ksUserPassword, "project-a", "member")
	ks.User("bob", ksUserPassword, "project-b", "member")
	return &keystoneEnv{ks: ks, clock: testenv.NewClock(time.Now())}
}

func (e *keystoneEnv) validator(t *testing.T) *keystone.Validator {
	v, err := keystone.New(keystone.Options{AuthURL: e.ks.URL(), Username: "zaqar", Password: ksServicePassword,
		ProjectName: "service", TokenCacheTime: time.Minute, HTTPConnectTimeout: 20 * time.Second, // a loaded machine can starve the test Keystone for seconds Now: e.clock.Now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (c *client) authenticate(token, project string) response {
	c.t.Helper()
	c.sendDoc(map[string]any{"action": "authenticate", "headers": map[string]any{"X-Auth-Token": token, "X-Project-ID": project}})
	return c.readResponse()
}

// TestKeystone: with auth_strategy = keystone a socket acts only after
// authenticate, with its token's project (never the frames' headers),
// each action under its HTTP route's policy rule; pre-signed URL headers
// open message actions on the signed queue only; token expiry closes the
// socket with 4003.
func TestKeystone(t *testing.T) {
	ke := newKeystoneEnv(t)
	validator := ke.validator(t)
	// Listing queues is for admins only in this deployment's policy.
	enforcer, err := policy.LoadBytes("policy.yaml", []byte(`"queues:get_all": "role:admin"`+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *Options) {
		o.API.Auth, o.API.SignedURLKey, o.API.Policy, o.Now = validator, shareKey, enforcer, ke.clock.Now
	})
	projectA := ke.ks.Project("project-a")
	aliceToken := ke.ks.Token("alice", ksUserPassword, "project-a")
	bobToken := ke.ks.Token("bob", ksUserPassword, "project-b")

	alice := e.dial(false)
	alice.expect("before authenticate", alice.call("queue_create", map[string]any{"queue_name": "orders"}), 403, `{"error":"Not authentified."}`)
	r := alice.expect("bad token", alice.authenticate("not-a-token", projectA), 401, `{"error":"Authentication failed."}`)
	if r.Request["action"] != "authenticate" {
		t.Fatalf("authenticate echo %v", r.Request)
	}
	alice.expect("authenticate", alice.authenticate(aliceToken, projectA), 200, `{"message":"Authentified."}`)
	alice.expect("create", alice.call("queue_create", map[string]any{"queue_name": "orders"}), 201)
	r = alice.expect("post", alice.call("message_post", map[string]any{"queue_name": "orders", "messages": []any{map[string]any{"body": "secret"}}}), 201)
	msgID := field(r.Body, "message_ids").([]any)[0].(string)
	alice.expect("policy denies list", alice.call("queue_list", nil), 403, "You are not authorized to complete this action.")

	// Bob claims Alice's project in every header; he still acts in his own.
	bob := e.dial(true)
	bob.headers = map[string]any{"Client-ID": testClient, "X-Project-ID": projectA, "X-Roles": "admin", "X-User-ID": "alice"}
	bob.expect("bob authenticates", bob.authenticate(bobToken, projectA), 200)
	bob.expect("bob gets orders", bob.call("queue_get_stats", map[string]any{"queue_name": "orders"}), 404, `"total":0`)
	r = bob.expect("bob lists orders", bob.call("message_list", map[string]any{"queue_name": "orders", "echo": true}), 200)
	if n := len(field(r.Body, "messages").([]any)); n != 0 {
		t.Fatalf("bob sees %d of alice's messages", n)
	}
	bob.expect("bob gets message", bob.call("message_get", map[string]any{"queue_name": "orders", "message_id": msgID}), 404)
	bob.expect("bob claims", bob.call("claim_create", map[string]any{"queue_name": "orders"}), 204)
	bob.expect("bob deletes queue", bob.call("queue_delete", map[string]any{"queue_name": "orders"}), 204)
	bob.expect("bob is no admin", bob.call("queue_list", nil), 403)
	alice.expect("alice's message survives", alice.call("message_get", map[string]any{"queue_name": "orders", "message_id": msgID}), 200, `"body":"secret"`)

	// Pre-signed URL headers, without a token.
	signed := signedurl.Sign(shareKey, []string{"/v2/queues/orders/messages"}, []string{"GET", "POST"}, projectA, time.Now().Add(time.Hour))
	guest := e.dial(false)
	guest.headers = map[string]any{"Client-ID": testClient, "X-Project-ID": projectA, "URL-Signature": signed.Signature,
		"URL-Expires": signed.Expires.Format(signedurl.ExpiresFormat), "URL-Methods": []any{"GET", "POST"}, "URL-Paths": "/v2/queues/orders/messages"}
	guest.expect("signed post", guest.call("message_post", map[string]any{"queue_name": "orders", "messages": []any{map[string]any{"body": "guest"}}}), 201)
	guest.expect("signed list", guest.call("message_list", map[string]any{"queue_name": "orders", "echo": true}), 200, `"body":"guest"`)
	guest.expect("signed delete not allowed", guest.call("message_delete", map[string]any{"queue_name": "orders", "message_id": msgID}), 403, "Not authentified.")
	guest.expect("signed other queue", guest.call("message_list", map[string]any{"queue_name": "other"}), 403, "Not authentified.")
	guest.expect("signed queue action", guest.call("queue_get", map[string]any{"queue_name": "orders"}), 403, "Not authentified.")
	guest.headers["URL-Signature"] = strings.Repeat("0", 64)
	guest.expect("bad signature", guest.call("message_list", map[string]any{"queue_name": "orders"}), 403, "Not authentified.")

	// Expiry: the socket is closed with 4003 when the token expires.
	id, err := validator.Validate([]byte(aliceToken))
	if err != nil {
		t.Fatal(err)
	}
	ke.clock.Set(id.ExpiresAt.Add(-time.Second))
	late := e.dial(false)
	late.expect("authenticate near expiry", late.authenticate(aliceToken, projectA), 200)
	_ = late.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err = late.ws.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != CloseAuthExpired || ce.Text != "Authentication expired." {
		t.Fatalf("after expiry: %v, want close 4003", err)
	}
}
