package encrypt

import (
	"context"
	"errors"
	"hash/maphash"
	"sync"

	"github.com/zaqar-go/zaqar/storage"
)

// flags knows, per queue, whether posts must be encrypted, so that a post
// does not read the queue's metadata each time.
//
// The guarantee: once a metadata change that turns encryption on has been
// acknowledged, no post stores plaintext in the queue. Posts and metadata
// changes of one queue go through one of a fixed set of read-write locks:
// a post holds it shared from reading the flag to the end of its write, a
// metadata change (create, set, delete) holds it exclusively while the
// store changes and the remembered flag is dropped. So a change waits for
// the posts that read the old flag, and posts after it read the new one.
//
// A flag is remembered only over a store that owns its metadata
// (storage.MetadataOwner: the embedded engine). Over a store other
// processes share (Redis, pools), another server may change the metadata
// unseen, so every post reads it, as without this cache; the guarantee
// then holds for changes made through this server.
type flags struct {
	inner storage.Store
	owned bool // remember flags: inner owns its metadata
	seed  maphash.Seed

	stripes [64]struct {
		sync.RWMutex
		// known is read and written under mu while the stripe is held
		// shared, and emptied of a queue while it is held exclusively.
		known map[queueRef]bool
		mu    sync.Mutex
	}
}

type queueRef struct{ project, queue string }

func newFlags(inner storage.Store) *flags {
	f := &flags{inner: inner, seed: maphash.MakeSeed()}
	if o, ok := inner.(storage.MetadataOwner); ok && o.OwnsMetadata() {
		f.owned = true
	}
	for i := range f.stripes {
		f.stripes[i].known = map[queueRef]bool{}
	}
	return f
}

func (f *flags) stripe(ref queueRef) int {
	var h maphash.Hash
	h.SetSeed(f.seed)
	h.WriteString(ref.project)
	h.WriteByte('/')
	h.WriteString(ref.queue)
	return int(h.Sum64() % uint64(len(f.stripes)))
}

// whilePosting runs post with the queue's flag, holding its stripe shared.
func (f *flags) whilePosting(ctx context.Context, project, queue string, post func(encrypted bool) error) error {
	ref := queueRef{project, queue}
	st := &f.stripes[f.stripe(ref)]
	st.RLock()
	defer st.RUnlock()
	if f.owned {
		st.mu.Lock()
		on, ok := st.known[ref]
		st.mu.Unlock()
		if ok {
			return post(on)
		}
	}
	meta, err := f.inner.GetQueueMetadata(ctx, project, queue)
	if err != nil && !errors.Is(err, storage.ErrQueueNotFound) {
		return err
	}
	on := Enabled(meta)
	if f.owned {
		st.mu.Lock()
		st.known[ref] = on
		st.mu.Unlock()
	}
	return post(on)
}

// changing runs a metadata change of the queue, holding its stripe
// exclusively, and forgets the queue's flag.
func (f *flags) changing(project, queue string, change func() error) error {
	ref := queueRef{project, queue}
	st := &f.stripes[f.stripe(ref)]
	st.Lock()
	defer st.Unlock()
	delete(st.known, ref)
	return change()
}
