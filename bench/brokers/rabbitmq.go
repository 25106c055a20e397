package brokers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// rabbitMQ is the machine's broker: a quorum queue per measurement (Raft
// log fsync'd before a publisher confirm), publisher confirms, consumers
// with prefetch 10 and one multiple ack per batch.
type rabbitMQ struct {
	url   string
	conn  *amqp.Connection
	mu    sync.Mutex
	admin *amqp.Channel
}

// DefaultRabbitMQ is the broker Debian's rabbitmq-server runs.
const DefaultRabbitMQ = "amqp://guest:guest@127.0.0.1:5672/"

// ConnectRabbitMQ connects to a broker on this machine.
func ConnectRabbitMQ(url string) (System, error) {
	if err := requireLoopback(url); err != nil {
		return nil, err
	}
	conn, err := amqp.DialConfig(url, amqp.Config{Dial: amqp.DefaultDial(5 * time.Second)})
	if err != nil {
		return nil, fmt.Errorf("rabbitmq at %s: %w", url, err)
	}
	ch, err := conn.Channel()
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &rabbitMQ{url: url, conn: conn, admin: ch}, nil
}

func (r *rabbitMQ) Name() string { return "rabbitmq" }

func (r *rabbitMQ) Close() error { return r.conn.Close() }

// adminDo runs f on the admin channel, reopening it first if an earlier
// error closed it (AMQP closes a channel on any failed method).
func (r *rabbitMQ) adminDo(f func(*amqp.Channel) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.admin.IsClosed() {
		ch, err := r.conn.Channel()
		if err != nil {
			return err
		}
		r.admin = ch
	}
	return f(r.admin)
}

// channel opens a connection of its own for one worker, as the other
// systems' workers each have one.
func (r *rabbitMQ) channel() (*amqp.Connection, *amqp.Channel, error) {
	conn, err := amqp.DialConfig(r.url, amqp.Config{Dial: amqp.DefaultDial(5 * time.Second)})
	if err != nil {
		return nil, nil, err
	}
	ch, err := conn.Channel()
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, ch, nil
}

type rabbitQueue struct {
	r    *rabbitMQ
	name string
}

// NewQueue declares a fresh durable quorum queue.
func (r *rabbitMQ) NewQueue(ctx context.Context, name string) (Queue, error) {
	err := r.adminDo(func(ch *amqp.Channel) error {
		_, err := ch.QueueDeclare(name, true, false, false, false, amqp.Table{"x-queue-type": "quorum"})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("rabbitmq: declare %s: %w", name, err)
	}
	return &rabbitQueue{r: r, name: name}, nil
}

// Depth is the queue's ready messages: a passive declare does not count
// those delivered and not yet acknowledged (the runner's drain check
// covers them by waiting until every consumer has found nothing).
func (q *rabbitQueue) Depth(ctx context.Context) (int64, error) {
	var n int64
	err := q.r.adminDo(func(ch *amqp.Channel) error {
		st, err := ch.QueueDeclarePassive(q.name, true, false, false, false, nil)
		n = int64(st.Messages)
		return err
	})
	return n, err
}

func (q *rabbitQueue) Delete(ctx context.Context) error {
	return q.r.adminDo(func(ch *amqp.Channel) error {
		_, err := ch.QueueDelete(q.name, false, false, false)
		return err
	})
}

type rabbitProducer struct {
	q    *rabbitQueue
	conn *amqp.Connection
	ch   *amqp.Channel
	dcs  []*amqp.DeferredConfirmation
}

func (q *rabbitQueue) NewProducer(ctx context.Context) (Producer, error) {
	conn, ch, err := q.r.channel()
	if err != nil {
		return nil, err
	}
	if err := ch.Confirm(false); err != nil {
		conn.Close()
		return nil, err
	}
	return &rabbitProducer{q: q, conn: conn, ch: ch}, nil
}

// Send publishes the batch as persistent messages and waits for all its
// confirms: a quorum queue confirms once the Raft log holding them is
// fsync'd.
func (p *rabbitProducer) Send(ctx context.Context, bodies [][]byte) error {
	p.dcs = p.dcs[:0]
	for _, b := range bodies {
		dc, err := p.ch.PublishWithDeferredConfirmWithContext(ctx, "", p.q.name, false, false,
			amqp.Publishing{DeliveryMode: amqp.Persistent, ContentType: "application/octet-stream", Body: b})
		if err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		p.dcs = append(p.dcs, dc)
	}
	for _, dc := range p.dcs {
		ok, err := dc.WaitContext(ctx)
		if err != nil {
			return fmt.Errorf("confirm: %w", err)
		}
		if !ok {
			return errors.New("publish nacked by the broker")
		}
	}
	return nil
}

func (p *rabbitProducer) Close() error { return p.conn.Close() }

type rabbitConsumer struct {
	conn       *amqp.Connection
	ch         *amqp.Channel
	deliveries <-chan amqp.Delivery
	lastTag    uint64
	bodies     [][]byte
	timer      *time.Timer
}

// rabbitPrefetch matches the batch the other systems hand out per request.
const rabbitPrefetch = 10

func (q *rabbitQueue) NewConsumer(ctx context.Context, worker int) (Consumer, error) {
	conn, ch, err := q.r.channel()
	if err != nil {
		return nil, err
	}
	if err := ch.Qos(rabbitPrefetch, 0, false); err != nil {
		conn.Close()
		return nil, err
	}
	d, err := ch.Consume(q.name, "c"+strconv.Itoa(worker), false, false, false, false, nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &rabbitConsumer{conn: conn, ch: ch, deliveries: d, timer: t}, nil
}

// Take waits up to 100 ms for a first delivery, then gathers what follows
// until it has limit or the broker pauses for 1 ms. The broker pushes
// rather than answers requests: after a multiple ack frees the prefetch
// window, the next ten arrive as a burst, and the short pause keeps the
// batches whole without holding a lone message (the queue's tail) long.
func (c *rabbitConsumer) Take(ctx context.Context, limit int) ([][]byte, error) {
	c.bodies = c.bodies[:0]
	wait := 100 * time.Millisecond
	for len(c.bodies) < limit {
		var (
			d  amqp.Delivery
			ok bool
		)
		select {
		case d, ok = <-c.deliveries:
		default:
			c.timer.Reset(wait)
			select {
			case d, ok = <-c.deliveries:
				c.timer.Stop() // Go 1.23 timers: no stale tick is left to drain
			case <-c.timer.C:
				return c.bodies, nil
			case <-ctx.Done():
				c.timer.Stop()
				return c.bodies, nil
			}
		}
		if !ok {
			return c.bodies, errors.New("deliveries closed by the broker")
		}
		c.lastTag = d.DeliveryTag
		c.bodies = append(c.bodies, d.Body)
		wait = time.Millisecond
	}
	return c.bodies, nil
}

// Ack acknowledges the batch with one multiple ack. AMQP has no answer to
// an ack: the broker settles it in the quorum log asynchronously, so the
// consumer cannot wait for its ack to be durable as it does for a Zaqar
// DELETE or an XACK under appendfsync always.
func (c *rabbitConsumer) Ack(ctx context.Context) error {
	if len(c.bodies) == 0 {
		return nil
	}
	return c.ch.Ack(c.lastTag, true)
}

func (c *rabbitConsumer) Close() error { return c.conn.Close() }
