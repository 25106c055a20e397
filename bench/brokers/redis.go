package brokers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisStreams is a private redis-server the command starts: a stream per
// queue, one consumer group, XADD to produce, XREADGROUP + XACK + XDEL to
// consume.
type redisStreams struct {
	addr   string
	dir    string
	server *exec.Cmd
	exited chan struct{}
	admin  *redis.Client
}

const redisGroup = "bench"

// StartRedis starts bin (redis-server) on a free loopback port in a fresh
// temp dir with the append-only file fsync'd before every reply
// (appendfsync always): an acknowledged XADD is on disk, as a 201 from our
// server with fsync = always is. No RDB snapshots: the AOF is the store.
func StartRedis(bin string) (System, error) {
	dir, err := os.MkdirTemp("", "redis-brokers-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	log, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer log.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "yes", "--appendfsync", "always", "--dir", dir, "--daemonize", "no")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	r := &redisStreams{addr: loopbackAddr(port), dir: dir, server: cmd, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(r.exited) }()
	r.admin = r.client()
	deadline := time.Now().Add(15 * time.Second)
	for r.admin.Ping(context.Background()).Err() != nil {
		select {
		case <-r.exited:
			out, _ := os.ReadFile(filepath.Join(dir, "server.log"))
			r.Close()
			return nil, fmt.Errorf("redis-server exited during start-up:\n%s", out)
		default:
		}
		if time.Now().After(deadline) {
			r.Close()
			return nil, fmt.Errorf("redis-server on %s did not answer PING", r.addr)
		}
		time.Sleep(20 * time.Millisecond) // polling another process: nothing to wait on
	}
	return r, nil
}

func (r *redisStreams) Name() string { return "redis" }

// client is one worker's connection. Retries are off: a retried XADD
// could store a batch twice, and the ledger is to see what the system did.
func (r *redisStreams) client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: r.addr, PoolSize: 1, MaxRetries: -1,
		DialTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second})
}

func (r *redisStreams) Close() error {
	if r.admin != nil {
		r.admin.Close()
	}
	r.server.Process.Signal(syscall.SIGKILL) // nothing in it is kept
	<-r.exited
	return os.RemoveAll(r.dir)
}

type redisQueue struct {
	r      *redisStreams
	stream string
}

// NewQueue makes the stream and its group (reading from the start, so a
// backlog filled before the consumers connect is theirs).
func (r *redisStreams) NewQueue(ctx context.Context, name string) (Queue, error) {
	if err := r.admin.XGroupCreateMkStream(ctx, name, redisGroup, "0").Err(); err != nil {
		return nil, fmt.Errorf("redis: XGROUP CREATE %s: %w", name, err)
	}
	return &redisQueue{r: r, stream: name}, nil
}

// Depth is XLEN: consumers XDEL what they acknowledge, so the stream holds
// exactly the unread and the read-but-unacknowledged entries.
func (q *redisQueue) Depth(ctx context.Context) (int64, error) {
	return q.r.admin.XLen(ctx, q.stream).Result()
}

func (q *redisQueue) Delete(ctx context.Context) error {
	return q.r.admin.Del(ctx, q.stream).Err()
}

type redisProducer struct {
	q *redisQueue
	c *redis.Client
}

func (q *redisQueue) NewProducer(ctx context.Context) (Producer, error) {
	return &redisProducer{q: q, c: q.r.client()}, nil
}

// Send pipelines one XADD per message in a single round trip. Redis runs
// them in one event-loop pass and, with appendfsync always, fsyncs the AOF
// once before it writes any of the replies: the batch is group-committed,
// as our server's POST is.
func (p *redisProducer) Send(ctx context.Context, bodies [][]byte) error {
	pipe := p.c.Pipeline()
	for _, b := range bodies {
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: p.q.stream, Values: []any{"b", b}})
	}
	cmds, err := pipe.Exec(ctx)
	if err != nil {
		return fmt.Errorf("XADD: %w", err)
	}
	for _, c := range cmds {
		if c.Err() != nil {
			return fmt.Errorf("XADD: %w", c.Err())
		}
	}
	return nil
}

func (p *redisProducer) Close() error { return p.c.Close() }

type redisConsumer struct {
	q      *redisQueue
	c      *redis.Client
	name   string
	ids    []string
	bodies [][]byte
}

func (q *redisQueue) NewConsumer(ctx context.Context, worker int) (Consumer, error) {
	return &redisConsumer{q: q, c: q.r.client(), name: "c" + strconv.Itoa(worker)}, nil
}

// Take is XREADGROUP COUNT limit BLOCK 100 ms on new entries (">").
func (c *redisConsumer) Take(ctx context.Context, limit int) ([][]byte, error) {
	c.ids, c.bodies = c.ids[:0], c.bodies[:0]
	res, err := c.c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: redisGroup, Consumer: c.name,
		Streams: []string{c.q.stream, ">"}, Count: int64(limit), Block: 100 * time.Millisecond}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("XREADGROUP: %w", err)
	}
	for _, s := range res {
		for _, m := range s.Messages {
			b, _ := m.Values["b"].(string)
			c.ids = append(c.ids, m.ID)
			c.bodies = append(c.bodies, []byte(b))
		}
	}
	return c.bodies, nil
}

// Ack is XACK and XDEL of the batch in one pipelined round trip. XACK alone
// would leave every entry in the stream (Streams are logs, not queues);
// XDEL makes an acknowledged message gone, as a Zaqar delete or a RabbitMQ
// ack does, and keeps the memory bounded.
func (c *redisConsumer) Ack(ctx context.Context) error {
	if len(c.ids) == 0 {
		return nil
	}
	pipe := c.c.Pipeline()
	ack := pipe.XAck(ctx, c.q.stream, redisGroup, c.ids...)
	del := pipe.XDel(ctx, c.q.stream, c.ids...)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("XACK/XDEL: %w", err)
	}
	if n := ack.Val(); n != int64(len(c.ids)) {
		return fmt.Errorf("XACK acknowledged %d of %d", n, len(c.ids))
	}
	if n := del.Val(); n != int64(len(c.ids)) {
		return fmt.Errorf("XDEL deleted %d of %d", n, len(c.ids))
	}
	return nil
}

func (c *redisConsumer) Close() error { return c.c.Close() }
