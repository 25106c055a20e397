package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/zaqar-go/zaqar/storage"
)

// ---- queues

func (s *Store) CreateQueue(ctx context.Context, project, queue string, meta storage.Metadata) (bool, error) {
	res, err := s.indexedRun(ctx, project, queue, createQueueScript, s.qk(project, queue).list(), nil, metaArgs(meta)...)
	if err != nil {
		return false, err
	}
	n, err := res.Int()
	return n == 1, s.fail(err)
}

func (s *Store) GetQueueMetadata(ctx context.Context, project, queue string) (storage.Metadata, error) {
	raw, err := s.rdb.HGet(ctx, s.qk(project, queue).q, "meta").Result()
	if errors.Is(err, redis.Nil) {
		return nil, storage.ErrQueueNotFound
	}
	if err != nil {
		return nil, s.fail(err)
	}
	return decodeMeta(raw), nil
}

func (s *Store) SetQueueMetadata(ctx context.Context, project, queue string, meta storage.Metadata) error {
	res, err := s.runScript(ctx, setMetaScript, s.qk(project, queue).list(), metaArgs(meta))
	if err != nil {
		return err
	}
	n, err := res.Int()
	if err != nil {
		return s.fail(err)
	}
	if n == 0 {
		return storage.ErrQueueNotFound
	}
	return nil
}

// DeleteQueue removes the queue, its messages and claims; subscriptions
// stay (storage contract).
func (s *Store) DeleteQueue(ctx context.Context, project, queue string) error {
	k := s.qk(project, queue)
	return s.fail(s.write(ctx,
		step{key: k.q, add: func(p redis.Pipeliner) { p.Del(ctx, append(k.list(), k.d)...) }},
		step{key: s.projectIndex(project), add: func(p redis.Pipeliner) { p.ZRem(ctx, s.projectIndex(project), queue) }}))
}

func (s *Store) ListQueues(ctx context.Context, project string, opts storage.ListQueuesOptions) ([]storage.QueueInfo, error) {
	return storage.PageQueues(opts,
		func(marker string, n int) ([]string, error) {
			min := "-"
			if marker != "" {
				min = "(" + marker
			}
			// Topics sort after every queue (storage.TopicPrefix).
			max := "(" + storage.TopicPrefix
			if opts.Topics {
				max = "+"
			}
			names, err := s.rdb.ZRangeByLex(ctx, s.projectIndex(project), &redis.ZRangeBy{Min: min, Max: max, Count: int64(n)}).Result()
			return names, s.fail(err)
		},
		func(names []string) ([]storage.Metadata, error) {
			p := s.rdb.Pipeline()
			cmds := make([]*redis.StringCmd, len(names))
			for i, n := range names {
				cmds[i] = p.HGet(ctx, s.qk(project, n).q, "meta")
			}
			if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
				return nil, s.fail(err)
			}
			metas := make([]storage.Metadata, len(names))
			for i, c := range cmds {
				if raw, err := c.Result(); err == nil {
					metas[i] = decodeMeta(raw) // else deleted meanwhile: nil
				}
			}
			return metas, nil
		})
}

func (s *Store) CountQueues(ctx context.Context, project string) (int64, error) {
	n, err := s.rdb.ZLexCount(ctx, s.projectIndex(project), "-", "("+storage.TopicPrefix).Result()
	return n, s.fail(err)
}

func (s *Store) QueueStats(ctx context.Context, project, queue string) (storage.QueueStats, error) {
	st := storage.QueueStats{Partition: -1}
	v, err := statsScript.Run(ctx, s.rdb, s.qk(project, queue).list(), s.now()).Slice()
	if err != nil {
		return st, s.fail(err)
	}
	if len(v) < 7 {
		return st, storage.ErrQueueNotFound
	}
	st.Total, _ = v[1].(int64)
	st.Claimed, _ = v[2].(int64)
	st.Free = st.Total - st.Claimed
	if len(v) > 7 {
		st.Delayed, _ = v[7].(int64)
	}
	if st.Total > 0 {
		str := func(i int) string { x, _ := v[i].(string); return x }
		oc, _ := strconv.ParseInt(str(4), 10, 64)
		nc, _ := strconv.ParseInt(str(6), 10, 64)
		st.Oldest = &storage.MessageStat{ID: str(3), Created: time.UnixMilli(oc)}
		st.Newest = &storage.MessageStat{ID: str(5), Created: time.UnixMilli(nc)}
	}
	return st, nil
}

func (s *Store) PurgeQueue(ctx context.Context, project, queue string, opts storage.PurgeOptions) error {
	k := s.qk(project, queue)
	exists, err := s.rdb.HExists(ctx, k.q, "meta").Result()
	if err != nil {
		return s.fail(err)
	}
	if !exists {
		return storage.ErrQueueNotFound
	}
	var doomed []string
	if opts.Messages {
		doomed = append(doomed, k.m, k.ids, k.c, k.x, k.cx, k.d)
	}
	if opts.Subscriptions {
		doomed = append(doomed, s.subKeys(project, queue)...)
	}
	if len(doomed) == 0 {
		return nil
	}
	return s.fail(s.write(ctx, step{key: k.q, add: func(p redis.Pipeliner) { p.Del(ctx, doomed...) }}))
}

// ---- messages

func (s *Store) PostMessages(ctx context.Context, project, queue, clientID string, msgs []storage.NewMessage) ([]string, error) {
	return s.post(ctx, postScript, project, queue, clientID, msgs)
}

// PostPlaintext implements storage.PlaintextGuard: the post script checks
// the flag where it writes.
func (s *Store) PostPlaintext(ctx context.Context, project, queue, clientID string, msgs []storage.NewMessage) ([]string, error) {
	return s.post(ctx, plaintextPostScript, project, queue, clientID, msgs)
}

func (s *Store) post(ctx context.Context, script *redis.Script, project, queue, clientID string, msgs []storage.NewMessage) ([]string, error) {
	k := s.qk(project, queue)
	args := make([]any, 0, 3+5*len(msgs))
	args = append(args, s.now(), clientID, k.wake)
	for _, m := range msgs {
		args = append(args, string(m.Body), m.TTL, m.Delay, m.Checksum, nonce())
	}
	res, err := s.runScript(ctx, script, append(k.list(), k.d), args)
	if err != nil {
		return nil, err
	}
	v, err := res.Slice()
	if err != nil || len(v) == 0 {
		return nil, s.fail(err)
	}
	if refused, _ := v[0].(int64); refused == -1 {
		return nil, storage.ErrEncryptionRequired
	}
	ids := make([]string, 0, len(v)-1)
	for _, id := range v[1:] {
		s, _ := id.(string)
		ids = append(ids, s)
	}
	if indexed, _ := v[0].(int64); indexed == 0 {
		if err := s.index(ctx, project, queue); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// index records a queue in the project's and the sweeper's indexes, then
// marks it indexed in its own hash (field ix), so that later posts skip
// the index writes: on a Cluster the indexes live on other masters, and
// writing them with every post would cost each post a round trip to each,
// and those masters a write per post. The mark goes only after the index
// writes succeeded (a failure in between leaves it unset, and the next
// post indexes again), and goes with the queue: DeleteQueue deletes the
// hash, so the next post re-indexes a re-created queue, whichever node
// deleted it.
func (s *Store) index(ctx context.Context, project, queue string) error {
	err := s.write(ctx,
		step{key: s.projectIndex(project), add: func(p redis.Pipeliner) { p.ZAdd(ctx, s.projectIndex(project), redis.Z{Member: queue}) }},
		step{key: s.allIndex(), add: func(p redis.Pipeliner) { p.ZAdd(ctx, s.allIndex(), redis.Z{Member: member(project, queue)}) }})
	if err != nil {
		return s.fail(err)
	}
	_, err = s.runScript(ctx, markIndexedScript, []string{s.qk(project, queue).q}, nil)
	return err
}

// indexedRun records the queue in the indexes and runs script, as one
// write (runScript). The index writes are idempotent.
func (s *Store) indexedRun(ctx context.Context, project, queue string, script *redis.Script, keys []string, extra *step, args ...any) (*redis.Cmd, error) {
	steps := []step{
		{key: s.projectIndex(project), add: func(p redis.Pipeliner) { p.ZAdd(ctx, s.projectIndex(project), redis.Z{Member: queue}) }},
		{key: s.allIndex(), add: func(p redis.Pipeliner) { p.ZAdd(ctx, s.allIndex(), redis.Z{Member: member(project, queue)}) }},
	}
	if extra != nil {
		steps = append(steps, *extra)
	}
	return s.runScript(ctx, script, keys, args, steps...)
}

// ListMessages pages through the queue in FIFO order, filtering in Go.
func (s *Store) ListMessages(ctx context.Context, project, queue string, opts storage.ListMessagesOptions) ([]storage.Message, string, error) {
	if opts.Limit <= 0 {
		return nil, "", nil
	}
	after := int64(0)
	if opts.Marker != "" {
		n, err := strconv.ParseInt(opts.Marker, 10, 64)
		if err != nil || n < 0 {
			return nil, "", nil
		}
		after = n
	}
	k := s.qk(project, queue).list()
	now := s.now()
	var out []storage.Message
	var last int64
	batch := max(opts.Limit*2, 50)
	for len(out) < opts.Limit {
		v, err := pageScript.Run(ctx, s.rdb, k, after, batch).Result()
		if err != nil {
			return nil, "", s.fail(err)
		}
		msgs, recs, err := pairs(v, now)
		if err != nil {
			return nil, "", err
		}
		for i, m := range msgs {
			r := recs[i]
			after = r.S
			switch {
			case r.E <= now,
				!opts.Echo && r.CL == opts.ClientID,
				!opts.IncludeClaimed && m.ClaimID != "",
				!opts.IncludeDelayed && r.D > now:
				continue
			}
			out = append(out, m)
			last = r.S
			if len(out) == opts.Limit {
				break
			}
		}
		if len(msgs) < batch {
			break
		}
	}
	if len(out) == 0 {
		return nil, "", nil
	}
	return out, strconv.FormatInt(last, 10), nil
}

func (s *Store) GetMessage(ctx context.Context, project, queue, id string) (storage.Message, error) {
	msgs, err := s.GetMessages(ctx, project, queue, []string{id})
	if err != nil {
		return storage.Message{}, err
	}
	if len(msgs) == 0 {
		return storage.Message{}, storage.ErrMessageNotFound
	}
	return msgs[0], nil
}

func (s *Store) GetMessages(ctx context.Context, project, queue string, ids []string) ([]storage.Message, error) {
	k := s.qk(project, queue)
	p := s.rdb.Pipeline()
	exists := p.HExists(ctx, k.q, "meta")
	var recs *redis.SliceCmd
	if len(ids) > 0 {
		recs = p.HMGet(ctx, k.m, ids...)
	}
	if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, s.fail(err)
	}
	if !exists.Val() {
		return nil, storage.ErrQueueNotFound
	}
	if recs == nil {
		return nil, nil
	}
	now := s.now()
	seen := map[string]bool{}
	var out []storage.Message
	for i, v := range recs.Val() {
		raw, ok := v.(string)
		if !ok || seen[ids[i]] {
			continue
		}
		m, r, err := decodeMessage(ids[i], raw, now)
		if err != nil {
			return nil, err
		}
		if r.E > now {
			seen[ids[i]] = true
			out = append(out, m)
		}
	}
	return out, nil
}

func (s *Store) DeleteMessage(ctx context.Context, project, queue, id, claimID string) error {
	n, err := s.runInt(ctx, deleteOneScript, s.qk(project, queue).list(), s.now(), id, claimID)
	if err != nil {
		return err
	}
	switch n {
	case 1:
		return storage.ErrMessageClaimed
	case 2:
		return storage.ErrMessageNotClaimed
	case 3:
		return storage.ErrClaimNotFound
	}
	return nil
}

func (s *Store) DeleteMessages(ctx context.Context, project, queue string, ids, claimIDs []string) error {
	if len(ids) == 0 {
		return nil
	}
	check := "0"
	if claimIDs != nil {
		check = "1"
	}
	args := []any{s.now(), check, len(ids)}
	for _, id := range ids {
		args = append(args, id)
	}
	for _, c := range claimIDs {
		args = append(args, c)
	}
	n, err := s.runInt(ctx, deleteManyScript, s.qk(project, queue).list(), args...)
	if err != nil {
		return err
	}
	if n == 1 {
		return storage.ErrMessageClaimed
	}
	return nil
}

func (s *Store) PopMessages(ctx context.Context, project, queue string, n int) ([]storage.Message, error) {
	now := s.now()
	res, err := s.runScript(ctx, popScript, s.qk(project, queue).list(), []any{now, n})
	if err != nil {
		return nil, err
	}
	msgs, _, err := pairs(res.Val(), now)
	return msgs, err
}

// ---- claims

// CreateClaim is one script run: the dead letter policy is read inside
// it, from fields kept next to the metadata.
func (s *Store) CreateClaim(ctx context.Context, project, queue string, opts storage.ClaimOptions) (storage.Claim, error) {
	claimID := uuid.NewString()
	now := s.now()
	res, err := s.runScript(ctx, claimScript, s.qk(project, queue).list(), []any{now, claimID, opts.TTL, opts.Grace, opts.Limit,
		uuid.NewString(), storage.DeadLetterHoldTTL})
	if err != nil {
		return storage.Claim{}, err
	}
	v, err := res.Slice()
	if err != nil {
		return storage.Claim{}, s.fail(err)
	}
	split := -1
	for i, x := range v {
		if x == "--" {
			split = i
			break
		}
	}
	if split < 0 || split+2 >= len(v) {
		return storage.Claim{}, nil // no such queue
	}
	taken, _, err := pairs(v[:split], now)
	if err != nil {
		return storage.Claim{}, err
	}
	if split+3 < len(v) {
		dlq, _ := v[split+1].(string)
		dlqTTL, _ := strconv.ParseInt(fmt.Sprint(v[split+2]), 10, 64)
		moving, _, err := pairs(v[split+3:], now)
		if err != nil {
			return storage.Claim{}, err
		}
		if err := s.moveToDeadLetter(ctx, project, queue, moving, dlq, dlqTTL, now); err != nil {
			return storage.Claim{}, err
		}
	}
	if len(taken) == 0 {
		return storage.Claim{}, nil
	}
	return storage.Claim{ID: claimID, TTL: opts.TTL, Grace: opts.Grace, Updated: time.UnixMilli(now), Messages: taken}, nil
}

// moveToDeadLetter posts the held messages to the dead letter queue, then
// deletes them: a failure in between duplicates rather than loses them.
func (s *Store) moveToDeadLetter(ctx context.Context, project, queue string, msgs []storage.Message, dlq string, dlqTTL, now int64) error {
	dl := storage.DeadLetter{Queue: dlq, TTL: dlqTTL}
	news := make([]storage.NewMessage, len(msgs))
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		news[i] = dl.Moved(m, time.UnixMilli(now))
		ids[i] = m.ID
	}
	// Two round trips: in a Redis Cluster the two queues' keys live in
	// different slots, which no single script may touch.
	if _, err := s.PostMessages(ctx, project, dlq, msgs[0].ClientID, news); err != nil {
		return err
	}
	return s.DeleteMessages(ctx, project, queue, ids, nil)
}

type claimRecord struct {
	T int64 `json:"t"`
	G int64 `json:"g"`
	U int64 `json:"u"`
	E int64 `json:"e"`
}

func (s *Store) GetClaim(ctx context.Context, project, queue, claimID string) (storage.Claim, error) {
	now := s.now()
	v, err := claimGetScript.Run(ctx, s.rdb, s.qk(project, queue).list(), now, claimID).Slice()
	if err != nil {
		return storage.Claim{}, s.fail(err)
	}
	if len(v) == 0 {
		return storage.Claim{}, storage.ErrClaimNotFound
	}
	var c claimRecord
	raw, _ := v[0].(string)
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		return storage.Claim{}, err
	}
	msgs, _, err := pairs(v[1:], now)
	if err != nil {
		return storage.Claim{}, err
	}
	return storage.Claim{ID: claimID, TTL: c.T, Grace: c.G, Updated: time.UnixMilli(c.U), Messages: msgs}, nil
}

func (s *Store) UpdateClaim(ctx context.Context, project, queue, claimID string, ttl, grace int64) error {
	n, err := s.runInt(ctx, claimUpdateScript, s.qk(project, queue).list(), s.now(), claimID, ttl, grace)
	if err != nil {
		return err
	}
	if n == 0 {
		return storage.ErrClaimNotFound
	}
	return nil
}

func (s *Store) DeleteClaim(ctx context.Context, project, queue, claimID string) error {
	k := s.qk(project, queue)
	_, err := s.runScript(ctx, claimDeleteScript, k.list(), []any{claimID, k.wake})
	return err
}

// ---- sweeper

// sweeper visits a bounded number of queues per tick, in index order,
// removing expired messages, claims and subscriptions; queues with
// nothing left leave the index.
func (s *Store) sweeper() {
	defer s.done.Done()
	t := time.NewTicker(s.o.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if _, err := s.Sweep(context.Background()); err != nil {
				s.log.Debug("redis sweep failed", "err", err)
			}
		}
	}
}

// Sweep runs one bounded sweep and returns the messages removed.
func (s *Store) Sweep(ctx context.Context) (int64, error) {
	members, err := s.rdb.ZRange(ctx, s.allIndex(), s.cursor, s.cursor+int64(s.o.SweepQueues)-1).Result()
	if err != nil {
		return 0, s.fail(err)
	}
	if len(members) < s.o.SweepQueues {
		s.cursor = 0
	} else {
		s.cursor += int64(len(members))
	}
	now := s.now()
	var removed int64
	for _, m := range members {
		project, queue, ok := splitMember(m)
		if !ok {
			s.rdb.ZRem(ctx, s.allIndex(), m)
			continue
		}
		k := s.qk(project, queue)
		keys := append(append(k.list(), s.subKeys(project, queue)...), k.d)
		v, err := sweepScript.Run(ctx, s.rdb, keys, now, s.o.SweepBatch, k.wake).Slice()
		if err != nil {
			return removed, s.fail(err)
		}
		n, _ := v[0].(int64)
		removed += n
		if keep, _ := v[1].(int64); keep == 0 {
			s.rdb.ZRem(ctx, s.allIndex(), m)
		}
	}
	return removed, nil
}

// runInt runs a write script (runScript) that answers a number.
func (s *Store) runInt(ctx context.Context, script *redis.Script, keys []string, args ...any) (int, error) {
	res, err := s.runScript(ctx, script, keys, args)
	if err != nil {
		return 0, err
	}
	n, err := res.Int()
	return n, s.fail(err)
}
