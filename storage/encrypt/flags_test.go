package encrypt_test

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/zaqar-go/zaqar/storage"
	"github.com/zaqar-go/zaqar/storage/encrypt"
)

// metadataReads counts the metadata reads that reach the store. It has no
// PlaintextGuard, whatever the store under it has.
type metadataReads struct {
	storage.Store
	reads atomic.Int64
}

func (m *metadataReads) GetQueueMetadata(ctx context.Context, project, queue string) (storage.Metadata, error) {
	m.reads.Add(1)
	return m.Store.GetQueueMetadata(ctx, project, queue)
}

// guarded is metadataReads over a store with the guard, forwarded.
type guarded struct {
	*metadataReads
	guard storage.PlaintextGuard
}

func (g guarded) PostPlaintext(ctx context.Context, project, queue, clientID string, msgs []storage.NewMessage) ([]string, error) {
	return g.guard.PostPlaintext(ctx, project, queue, clientID, msgs)
}

func post(t *testing.T, s storage.Store, queue, body string) string {
	t.Helper()
	ids, err := s.PostMessages(context.Background(), "p", queue, "c", []storage.NewMessage{{Body: []byte(body), TTL: 300}})
	if err != nil {
		t.Fatal(err)
	}
	return ids[0]
}

func stored(t *testing.T, inner storage.Store, queue, id string) []byte {
	t.Helper()
	m, err := inner.GetMessage(context.Background(), "p", queue, id)
	if err != nil {
		t.Fatal(err)
	}
	return m.Body
}

func sealed(body []byte) bool { return bytes.HasPrefix(body, []byte(`"zaqar-aes256:`)) }

// Over a store with the guard, posts read no metadata, and a change of the
// flag, through the layer or not (another server's), applies to the next
// post.
func TestPostsReadNoMetadata(t *testing.T) {
	e := openEngine(t, t.TempDir(), nil)
	t.Cleanup(func() { e.Close() })
	counted := guarded{&metadataReads{Store: e}, e}
	s := encrypt.Wrap(counted, "AES256")
	ctx := context.Background()
	if _, err := s.CreateQueue(ctx, "p", "q", storage.Metadata{}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		post(t, s, "q", `"open"`)
	}
	if n := counted.reads.Load(); n != 0 {
		t.Fatalf("50 posts read the metadata %d times, want none", n)
	}
	if err := s.SetQueueMetadata(ctx, "p", "q", storage.Metadata{storage.MetaEnableEncryption: true}); err != nil {
		t.Fatal(err)
	}
	if id := post(t, s, "q", `"`+secret+`"`); !sealed(stored(t, e, "q", id)) {
		t.Fatal("the first post after encryption was turned on is stored in plaintext")
	}
	if err := s.SetQueueMetadata(ctx, "p", "q", storage.Metadata{}); err != nil {
		t.Fatal(err)
	}
	if id := post(t, s, "q", `"open"`); sealed(stored(t, e, "q", id)) {
		t.Fatal("encryption stayed on after it was turned off")
	}
	// Turned on under the layer, as another server sharing the store would.
	if err := e.SetQueueMetadata(ctx, "p", "q", storage.Metadata{storage.MetaEnableEncryption: true}); err != nil {
		t.Fatal(err)
	}
	if id := post(t, s, "q", `"`+secret+`"`); !sealed(stored(t, e, "q", id)) {
		t.Fatal("a change made by another server was not seen")
	}
	// Deleted and created again without encryption: no flag survives.
	if err := s.DeleteQueue(ctx, "p", "q"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateQueue(ctx, "p", "q", storage.Metadata{}); err != nil {
		t.Fatal(err)
	}
	if id := post(t, s, "q", `"open"`); sealed(stored(t, e, "q", id)) {
		t.Fatal("a queue created again without encryption got encrypted bodies")
	}
	if n := counted.reads.Load(); n != 0 {
		t.Fatalf("posts read the metadata %d times, want none", n)
	}
}

// Over a store without the guard, every post reads the metadata: a
// change made elsewhere (here, on the store directly) applies at once.
func TestUnguardedStoresAreAskedEveryPost(t *testing.T) {
	e := openEngine(t, t.TempDir(), nil)
	t.Cleanup(func() { e.Close() })
	unguarded := &metadataReads{Store: e}
	s := encrypt.Wrap(unguarded, "AES256")
	post(t, s, "q", `"open"`)
	post(t, s, "q", `"open"`)
	if n := unguarded.reads.Load(); n != 2 {
		t.Fatalf("2 posts read the metadata %d times, want 2", n)
	}
	if err := e.SetQueueMetadata(context.Background(), "p", "q", storage.Metadata{storage.MetaEnableEncryption: true}); err != nil {
		t.Fatal(err)
	}
	if id := post(t, s, "q", `"`+secret+`"`); !sealed(stored(t, e, "q", id)) {
		t.Fatal("a change made by another server was not seen")
	}
}

// Posts racing the change that turns encryption on: every post that
// starts after the change returned is encrypted.
func TestNoPlaintextAfterEncryptionIsOn(t *testing.T) {
	e := openEngine(t, t.TempDir(), nil)
	t.Cleanup(func() { e.Close() })
	s := encrypt.Wrap(e, "AES256")
	ctx := context.Background()
	if _, err := s.CreateQueue(ctx, "p", "q", storage.Metadata{}); err != nil {
		t.Fatal(err)
	}
	var on atomic.Bool
	type posted struct {
		id    string
		after bool // started after the change returned
	}
	results := make(chan posted, 10000)
	var wg sync.WaitGroup
	var done atomic.Int64
	halfway := make(chan struct{}) // closed when 200 posts are done: the change comes amid the posts
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				after := on.Load()
				ids, err := s.PostMessages(ctx, "p", "q", "c", []storage.NewMessage{{Body: []byte(`"` + secret + `"`), TTL: 300}})
				if err != nil {
					t.Error(err)
					return
				}
				results <- posted{ids[0], after}
				if done.Add(1) == 200 {
					close(halfway)
				}
			}
		}()
	}
	<-halfway
	if err := s.SetQueueMetadata(ctx, "p", "q", storage.Metadata{storage.MetaEnableEncryption: true}); err != nil {
		t.Fatal(err)
	}
	on.Store(true)
	wg.Wait()
	close(results)
	var after, plain int
	for r := range results {
		if !sealed(stored(t, e, "q", r.id)) {
			plain++
		}
		if r.after {
			after++
			if !sealed(stored(t, e, "q", r.id)) {
				t.Fatalf("message %s, posted after encryption was on, is stored in plaintext", r.id)
			}
		}
	}
	if after == 0 || plain < 200 {
		t.Fatalf("%d posts started after the change, %d stored in plaintext: the change did not come amid the posts", after, plain)
	}
}
