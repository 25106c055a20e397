package encrypt

import (
	"context"
	"errors"
	"hash/maphash"
	"sync"
	"time"

	"github.com/zaqar-go/zaqar/storage"
)

// flags knows, per queue, whether posts must be encrypted, so that a post
// does not read the queue's metadata each time.
//
// The guarantee: no post stores plaintext in a queue whose metadata sets
// _enable_encrypt_messages when the post is applied. Plaintext goes
// through the store's PlaintextGuard, which checks the flag in the same
// step as the post and refuses if it is on; the post is then encrypted,
// and "on" remembered. So a change made by any server sharing the store
// applies to every post applied after it, and posts to queues without
// encryption cost no metadata read. A remembered "on" only makes posts
// encrypted, which reads undo whatever the flag says later; it is dropped
// when this server changes the queue's metadata, and after onMemory, for
// changes made by other servers.
//
// Posts and metadata changes made through this layer are also ordered:
// one of a fixed set of read-write locks is held shared by a post, from
// looking up the flag to the end of its write, and exclusively by a
// create, metadata change or delete of the queue, which forgets the flag.
//
// Over a store without the guard nothing is remembered: each post reads
// the metadata, and the order above is all there is.
type flags struct {
	inner   storage.Store
	guard   storage.PlaintextGuard // nil: the store has none
	now     func() time.Time
	seed    maphash.Seed
	stripes [64]stripe
}

type stripe struct {
	sync.RWMutex
	// known is read and written under mu while the stripe is held shared,
	// and emptied of a queue while it is held exclusively.
	known map[queueRef]time.Time // queue -> until when it is taken to be encrypted
	mu    sync.Mutex
}

type queueRef struct{ project, queue string }

// onMemory is how long a queue is taken to be encrypted without reading
// its metadata again: the longest another server's turning encryption
// off goes unseen here (posts stay encrypted meanwhile, which is safe).
const onMemory = 10 * time.Second

func newFlags(inner storage.Store) *flags {
	f := &flags{inner: inner, now: time.Now, seed: maphash.MakeSeed()}
	f.guard, _ = inner.(storage.PlaintextGuard)
	for i := range f.stripes {
		f.stripes[i].known = map[queueRef]time.Time{}
	}
	return f
}

func (f *flags) stripe(ref queueRef) *stripe {
	var h maphash.Hash
	h.SetSeed(f.seed)
	h.WriteString(ref.project)
	h.WriteByte('/')
	h.WriteString(ref.queue)
	return &f.stripes[h.Sum64()%uint64(len(f.stripes))]
}

// post stores msgs in plaintext or through seal, as the queue's flag
// says, holding the queue's stripe shared.
func (f *flags) post(ctx context.Context, project, queue, clientID string, msgs []storage.NewMessage,
	seal func([]storage.NewMessage) ([]storage.NewMessage, error)) ([]string, error) {
	ref := queueRef{project, queue}
	st := f.stripe(ref)
	st.RLock()
	defer st.RUnlock()
	sealed := func() ([]string, error) {
		out, err := seal(msgs)
		if err != nil {
			return nil, err
		}
		return f.inner.PostMessages(ctx, project, queue, clientID, out)
	}
	if f.guard == nil {
		meta, err := f.inner.GetQueueMetadata(ctx, project, queue)
		if err != nil && !errors.Is(err, storage.ErrQueueNotFound) {
			return nil, err
		}
		if Enabled(meta) {
			return sealed()
		}
		return f.inner.PostMessages(ctx, project, queue, clientID, msgs)
	}
	st.mu.Lock()
	until, on := st.known[ref]
	st.mu.Unlock()
	if on && f.now().Before(until) {
		return sealed()
	}
	ids, err := f.guard.PostPlaintext(ctx, project, queue, clientID, msgs)
	if !errors.Is(err, storage.ErrEncryptionRequired) {
		return ids, err
	}
	st.mu.Lock()
	st.known[ref] = f.now().Add(onMemory)
	st.mu.Unlock()
	return sealed()
}

// changing runs a create, metadata change or delete of the queue, holding
// its stripe exclusively, and forgets the queue's flag.
func (f *flags) changing(project, queue string, change func() error) error {
	ref := queueRef{project, queue}
	st := f.stripe(ref)
	st.Lock()
	defer st.Unlock()
	delete(st.known, ref)
	return change()
}
