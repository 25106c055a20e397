package notify

import (
	"context"
	"testing"
	"time"

	"github.com/zaqar-go/zaqar/storage"
)

// TestChangesForwarded: waiters behind the notifier are woken by a post
// through it, as the engine's own would be.
func TestChangesForwarded(t *testing.T) {
	e := newEnv(t, nil, nil)
	ch, done, ok := storage.Changes(e.n, "proj", "q")
	if !ok {
		t.Fatal("the notifier over the engine must offer Changes")
	}
	defer done()
	if _, err := e.n.PostMessages(context.Background(), "proj", "q", clientID,
		[]storage.NewMessage{{Body: []byte(`1`), TTL: 60}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("a post did not wake the waiter")
	}
}

// plain is a store that cannot wake (only its Close is called).
type plain struct{ storage.Store }

func (plain) Close() error { return nil }

func TestChangesOfAStoreThatCannotWake(t *testing.T) {
	n, err := Wrap(plain{}, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if _, done, ok := storage.Changes(n, "p", "q"); ok {
		t.Fatal("the notifier must report that its store cannot wake")
	} else {
		done()
	}
}
