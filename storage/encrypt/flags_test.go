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

// metadataReads counts the metadata reads that reach the store; with
// owned it reports, as the engine does, that it owns its metadata.
type metadataReads struct {
	storage.Store
	reads atomic.Int64
	owned bool
}

func (m *metadataReads) GetQueueMetadata(ctx context.Context, project, queue string) (storage.Metadata, error) {
	m.reads.Add(1)
	return m.Store.GetQueueMetadata(ctx, project, queue)
}

func (m *metadataReads) OwnsMetadata() bool { return m.owned }

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

// Over a store that owns its metadata, posts read it once per queue, and
// a change made through the layer applies to the next post.
func TestPostsReadTheFlagOnce(t *testing.T) {
	e := openEngine(t, t.TempDir(), nil)
	t.Cleanup(func() { e.Close() })
	counted := &metadataReads{Store: e, owned: true}
	s := encrypt.Wrap(counted, "AES256")
	ctx := context.Background()
	if _, err := s.CreateQueue(ctx, "p", "q", storage.Metadata{}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		post(t, s, "q", `"open"`)
	}
	if n := counted.reads.Load(); n != 1 {
		t.Fatalf("50 posts read the metadata %d times, want 1", n)
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
	// Deleted and created again with encryption: no flag survives.
	if err := s.DeleteQueue(ctx, "p", "q"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateQueue(ctx, "p", "q", storage.Metadata{storage.MetaEnableEncryption: true}); err != nil {
		t.Fatal(err)
	}
	if id := post(t, s, "q", `"`+secret+`"`); !sealed(stored(t, e, "q", id)) {
		t.Fatal("a queue created again with encryption got plaintext")
	}
}

// Over a store other processes share, every post reads the metadata: a
// change made elsewhere (here, on the store directly) applies at once.
func TestSharedStoresAreAskedEveryPost(t *testing.T) {
	e := openEngine(t, t.TempDir(), nil)
	t.Cleanup(func() { e.Close() })
	shared := &metadataReads{Store: e}
	s := encrypt.Wrap(shared, "AES256")
	post(t, s, "q", `"open"`)
	post(t, s, "q", `"open"`)
	if n := shared.reads.Load(); n != 2 {
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
	s := encrypt.Wrap(&metadataReads{Store: e, owned: true}, "AES256")
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
