package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zaqar-go/zaqar/storage"
)

// Replicated acknowledgements. Redis replicates asynchronously: a master
// that dies right after answering may take the last writes with it, and
// the replica promoted in its place never saw them. With WaitReplicas =
// N > 0 every change a request makes is followed, on the same connection,
// by WAIT N timeout, and the request succeeds only when N replicas
// confirmed it; otherwise it fails with storage.ErrUnavailable (503): the
// change may or may not survive a failover, and the client retries. The
// price is a replica round trip per write, and no writes at all while
// fewer than N replicas are connected.

// DefaultWaitTimeout bounds WAIT when Options.WaitTimeout is zero.
const DefaultWaitTimeout = time.Second

// step is commands on keys of one Cluster slot, queued on a pipeline.
type step struct {
	key string // a key of the slot the commands touch
	add func(p redis.Pipeliner)
}

// write sends the steps in one round trip per Redis node (one pipeline),
// then, with WaitReplicas, a WAIT on each node's connection. The commands'
// own errors are left in their Cmds for the caller; write returns the
// pipeline's transport error or the replication shortfall.
func (s *Store) write(ctx context.Context, steps ...step) error {
	n := s.o.WaitReplicas
	if n <= 0 {
		p := s.rdb.Pipeline()
		for _, st := range steps {
			st.add(p)
		}
		_, err := p.Exec(ctx)
		return execErr(err)
	}
	// WAIT counts the writes of its own connection, so it must follow them
	// on the connection of the master that took them: on a Cluster, group
	// the steps by master (a pipeline of a Cluster client would send a
	// keyless WAIT to any node).
	groups := map[redis.Cmdable][]step{}
	var order []redis.Cmdable
	for _, st := range steps {
		var c redis.Cmdable = s.rdb
		if cc, ok := s.rdb.(*redis.ClusterClient); ok {
			m, err := cc.MasterForKey(ctx, st.key)
			if err != nil {
				return err
			}
			c = m
		}
		if groups[c] == nil {
			order = append(order, c)
		}
		groups[c] = append(groups[c], st)
	}
	for _, c := range order {
		p := c.Pipeline()
		for _, st := range groups[c] {
			st.add(p)
		}
		wait := p.Do(ctx, "wait", n, s.o.WaitTimeout.Milliseconds())
		if _, err := p.Exec(ctx); execErr(err) != nil {
			if cc, ok := s.rdb.(*redis.ClusterClient); ok && redis.HasErrorPrefix(err, "MOVED") {
				cc.ReloadState(ctx) // a failover moved the slot: the retry finds its new master
			}
			return execErr(err)
		}
		if got, _ := wait.Int64(); got < int64(n) {
			return fmt.Errorf("%w: redis: the change reached %d of %d replicas within %s", storage.ErrUnavailable, got, n, s.o.WaitTimeout)
		}
	}
	return nil
}

// execErr drops the errors a pipeline reports for its commands' own
// answers (a missing key, an unknown script): callers read those from
// each Cmd. What remains is a failure to talk to Redis.
func execErr(err error) error {
	if err == nil || err == redis.Nil || redis.HasErrorPrefix(err, "NOSCRIPT") {
		return nil
	}
	return err
}

// runScript runs script on keys (of one slot) after the commands of
// before (e.g. index writes in other slots), as one write: EVALSHA, and
// the script's text only after a NOSCRIPT (Redis restarted, or a new
// master). The script's own answer is in the returned Cmd.
func (s *Store) runScript(ctx context.Context, script *redis.Script, keys []string, args []any, before ...step) (*redis.Cmd, error) {
	run := func(sha bool) (*redis.Cmd, error) {
		var c *redis.Cmd
		steps := append(append([]step(nil), before...), step{key: keys[0], add: func(p redis.Pipeliner) {
			if sha {
				c = script.EvalSha(ctx, p, keys, args...)
			} else {
				c = script.Eval(ctx, p, keys, args...)
			}
		}})
		err := s.write(ctx, steps...)
		return c, err
	}
	c, err := run(true)
	if err == nil && redis.HasErrorPrefix(c.Err(), "NOSCRIPT") {
		c, err = run(false)
	}
	if err != nil {
		return nil, s.fail(err)
	}
	if err := c.Err(); err != nil && err != redis.Nil {
		return nil, s.fail(err)
	}
	return c, nil
}
