package encrypt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zaqar-go/zaqar/engine"
	"github.com/zaqar-go/zaqar/internal/testenv"
	"github.com/zaqar-go/zaqar/redisstore"
	"github.com/zaqar-go/zaqar/storage"
	"github.com/zaqar-go/zaqar/storage/encrypt"
	"github.com/zaqar-go/zaqar/storage/storagetest"
	"github.com/zaqar-go/zaqar/wal"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func openEngine(t testing.TB, dir string, clock storage.Clock) *engine.Engine {
	t.Helper()
	o := engine.DefaultOptions(dir)
	o.Fsync, o.Partitions, o.Logger, o.Clock = wal.SyncNever, 1, quiet, clock
	e, err := engine.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// The layer changes nothing for queues that do not ask for encryption.
func TestConformanceThroughTheLayer(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, clock storage.Clock) storage.Store {
		e := openEngine(t, t.TempDir(), clock)
		t.Cleanup(func() { e.Close() })
		return encrypt.Wrap(e, "AES256")
	})
}

const (
	secret = "plaintext-7c1e-never-on-disk"
	open   = "plaintext-4b2d-stored-as-posted"
)

// exercise posts secret bodies to an encrypted queue (and open ones to a
// plain queue) and checks every read path decrypts them.
func exercise(t *testing.T, s storage.Store) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.CreateQueue(ctx, "p", "enc", storage.Metadata{storage.MetaEnableEncryption: true}); err != nil {
		t.Fatal(err)
	}
	bodies := []string{`"` + secret + `-string"`, `{"k":"` + secret + `-object","n":[1,2]}`, `7`, `"` + secret + `-popped"`}
	var msgs []storage.NewMessage
	for _, b := range bodies {
		msgs = append(msgs, storage.NewMessage{Body: []byte(b), TTL: 300})
	}
	ids, err := s.PostMessages(ctx, "p", "enc", "c", msgs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PostMessages(ctx, "p", "plain", "c", []storage.NewMessage{{Body: []byte(`"` + open + `"`), TTL: 300}}); err != nil {
		t.Fatal(err)
	}
	want := func(what string, got []storage.Message, idx ...int) {
		t.Helper()
		if len(got) != len(idx) {
			t.Fatalf("%s: %d messages, want %d", what, len(got), len(idx))
		}
		for i, m := range got {
			if string(m.Body) != bodies[idx[i]] {
				t.Fatalf("%s: body %s, want %s", what, m.Body, bodies[idx[i]])
			}
		}
	}
	page, _, err := s.ListMessages(ctx, "p", "enc", storage.ListMessagesOptions{Limit: 10, Echo: true})
	if err != nil {
		t.Fatal(err)
	}
	want("list", page, 0, 1, 2, 3)
	one, err := s.GetMessage(ctx, "p", "enc", ids[1])
	if err != nil {
		t.Fatal(err)
	}
	want("get", []storage.Message{one}, 1)
	some, err := s.GetMessages(ctx, "p", "enc", ids[:2])
	if err != nil {
		t.Fatal(err)
	}
	want("get by ids", some, 0, 1)
	cl, err := s.CreateClaim(ctx, "p", "enc", storage.ClaimOptions{TTL: 60, Grace: 60, Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	want("claim", cl.Messages, 0, 1, 2)
	got, err := s.GetClaim(ctx, "p", "enc", cl.ID)
	if err != nil {
		t.Fatal(err)
	}
	want("claim get", got.Messages, 0, 1, 2)
	popped, err := s.PopMessages(ctx, "p", "enc", 1)
	if err != nil {
		t.Fatal(err)
	}
	want("pop", popped, 3)
}

func TestEngineKeepsNoPlaintext(t *testing.T) {
	dir := t.TempDir()
	e := openEngine(t, dir, nil)
	s := encrypt.Wrap(e, "AES256")
	exercise(t, s)
	ctx := context.Background()
	raw, err := e.GetMessages(ctx, "p", "enc", nil)
	if err != nil {
		t.Fatal(err)
	}
	page, _, err := e.ListMessages(ctx, "p", "enc", storage.ListMessagesOptions{Limit: 10, Echo: true, IncludeClaimed: true})
	if err != nil || len(page) == 0 {
		t.Fatalf("raw list: %v %d", err, len(page))
	}
	for _, m := range append(raw, page...) {
		if bytes.Contains(m.Body, []byte(secret)) || !bytes.HasPrefix(m.Body, []byte(`"zaqar-aes256:`)) {
			t.Fatalf("stored body %s is not encrypted", m.Body)
		}
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	// The scan must see what is stored: the plain queue's body is there.
	if found := filesContaining(t, dir, open); len(found) == 0 {
		t.Fatalf("the plain body is in no file of %s: the scan proves nothing", dir)
	}
	if found := filesContaining(t, dir, secret); len(found) > 0 {
		t.Fatalf("plaintext of an encrypted queue on disk in %v", found)
	}
}

func filesContaining(t *testing.T, dir, text string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(text)) {
			found = append(found, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func TestRedisKeepsNoPlaintext(t *testing.T) {
	st, rdb, prefix := openRedisStore(t, "zqenc")
	exercise(t, encrypt.Wrap(st, "AES256"))
	stored := testenv.RedisText(t, rdb, "{"+prefix+"*")
	if !strings.Contains(stored, open) {
		t.Fatal("the plain body is in no key: the scan proves nothing")
	}
	if strings.Contains(stored, secret) {
		t.Fatal("plaintext of an encrypted queue stored in Redis")
	}
}

func TestWrongOrMissingKey(t *testing.T) {
	e := openEngine(t, t.TempDir(), nil)
	defer e.Close()
	ctx := context.Background()
	writer := encrypt.Wrap(e, "first key")
	if _, err := writer.CreateQueue(ctx, "p", "enc", storage.Metadata{storage.MetaEnableEncryption: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := writer.PostMessages(ctx, "p", "enc", "c", []storage.NewMessage{{Body: []byte(`{"a":1}`), TTL: 300}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := encrypt.Wrap(e, "another key").ListMessages(ctx, "p", "enc", storage.ListMessagesOptions{Limit: 10, Echo: true}); !errors.Is(err, encrypt.ErrCorrupted) {
		t.Fatalf("wrong key: %v, want ErrCorrupted", err)
	}
	noKey := encrypt.Wrap(e, "")
	if _, _, err := noKey.ListMessages(ctx, "p", "enc", storage.ListMessagesOptions{Limit: 10, Echo: true}); !errors.Is(err, encrypt.ErrNoKey) {
		t.Fatalf("no key, read: %v, want ErrNoKey", err)
	}
	if _, err := noKey.PostMessages(ctx, "p", "enc", "c", []storage.NewMessage{{Body: []byte(`1`), TTL: 300}}); !errors.Is(err, encrypt.ErrNoKey) {
		t.Fatalf("no key, post: %v, want ErrNoKey", err)
	}
	// Claims and pops that cannot decrypt leave the message for a server
	// with the right key.
	other := encrypt.Wrap(e, "another key")
	if _, err := other.CreateClaim(ctx, "p", "enc", storage.ClaimOptions{TTL: 60, Grace: 60, Limit: 5}); !errors.Is(err, encrypt.ErrCorrupted) {
		t.Fatalf("wrong key, claim: %v", err)
	}
	if _, err := other.PopMessages(ctx, "p", "enc", 5); !errors.Is(err, encrypt.ErrCorrupted) {
		t.Fatalf("wrong key, pop: %v", err)
	}
	popped, err := writer.PopMessages(ctx, "p", "enc", 5)
	if err != nil || len(popped) != 1 || string(popped[0].Body) != `{"a":1}` {
		t.Fatalf("right key after failed claim and pop: %v %v", err, popped)
	}
	if left, _, _ := e.ListMessages(ctx, "p", "enc", storage.ListMessagesOptions{Limit: 10, Echo: true, IncludeClaimed: true}); len(left) != 0 {
		t.Fatalf("popped message still listed: %v", left)
	}
	// A client's string that merely looks encrypted, in a plain queue, is
	// returned as posted.
	lookalike := `"zaqar-aes256:AAAA"`
	if _, err := writer.PostMessages(ctx, "p", "plain", "c", []storage.NewMessage{{Body: []byte(lookalike), TTL: 300}}); err != nil {
		t.Fatal(err)
	}
	page, _, err := writer.ListMessages(ctx, "p", "plain", storage.ListMessagesOptions{Limit: 10, Echo: true})
	if err != nil || len(page) != 1 || string(page[0].Body) != lookalike {
		t.Fatalf("look-alike in a plain queue: %v %v", err, page)
	}
}

// openRedisStore opens the Redis store under a fresh key prefix (name and
// the time) with a client to read its keys; both close, and the keys go,
// when the test ends.
func openRedisStore(tb testing.TB, name string) (*redisstore.Store, *redis.Client, string) {
	tb.Helper()
	uri := testenv.RedisURI(tb)
	prefix := fmt.Sprintf("%s-%d", name, time.Now().UnixNano())
	st, err := redisstore.Open(uri, redisstore.Options{Prefix: prefix, Logger: quiet, SweepInterval: -1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	ctx := context.Background()
	if err := st.Ping(ctx); err != nil {
		testenv.Unavailable(tb, "redis at %s: %v", uri, err)
	}
	opts, err := redis.ParseURL(uri)
	if err != nil {
		tb.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	tb.Cleanup(func() {
		iter := rdb.Scan(ctx, 0, "{"+prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		rdb.Close()
	})
	return st, rdb, prefix
}
