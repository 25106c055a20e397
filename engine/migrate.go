package engine

import (
	"fmt"

	"github.com/zaqar-go/zaqar/storage"
)

// Migrations of the Badger schema, run at open by load.

type legacyMessage struct {
	qk string
	e  *entry
}

// migrateMessageKeys rewrites per-message 'm' keys (the format before
// batch keys) as batches of one, then syncs: later changes rewrite 'g'
// keys only, so an 'm' key left behind would bring a deleted message back.
func (e *Engine) migrateMessageKeys(legacy []legacyMessage) error {
	if len(legacy) == 0 {
		return nil
	}
	wb := e.db.NewWriteBatch()
	defer wb.Cancel()
	for _, m := range legacy {
		seq := seqBytes(m.e.seq)
		if err := wb.Set(childKey(kBatch, m.qk, seq), appendBatch(nil, m.e.seq, []*entry{m.e})); err != nil {
			return fmt.Errorf("%w: migrate: %v", storage.ErrUnavailable, err)
		}
		if err := wb.Delete(childKey(kMeta, m.qk, seq)); err != nil {
			return fmt.Errorf("%w: migrate: %v", storage.ErrUnavailable, err)
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("%w: migrate: %v", storage.ErrUnavailable, err)
	}
	if err := e.db.Sync(); err != nil {
		return fmt.Errorf("%w: migrate: %v", storage.ErrUnavailable, err)
	}
	e.opts.Logger.Info("migrated message index to batch keys", "messages", len(legacy))
	return nil
}
