package brokers

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
)

// System is one messaging system under test: our server, Redis Streams or
// RabbitMQ. It hands out a fresh queue per measurement, so no workload
// starts with another one's leftovers.
type System interface {
	Name() string
	// NewQueue creates an empty queue (stream, quorum queue) named name.
	NewQueue(ctx context.Context, name string) (Queue, error)
	// Close releases the system, stopping any server the command started.
	Close() error
}

// Queue is one queue of a system. Producers and consumers each get their
// own connection, as real clients would.
type Queue interface {
	NewProducer(ctx context.Context) (Producer, error)
	NewConsumer(ctx context.Context, worker int) (Consumer, error)
	// Depth is what the system still stores for the queue: messages not yet
	// handed out, plus (where the system can tell) those handed out and not
	// acknowledged.
	Depth(ctx context.Context) (int64, error)
	// Delete removes the queue and everything in it.
	Delete(ctx context.Context) error
}

// Producer sends batches. Send returns nil only when the system has
// acknowledged every message of the batch as durable (fsync'd).
type Producer interface {
	Send(ctx context.Context, bodies [][]byte) error
	Close() error
}

// Consumer takes up to limit messages at a time and acknowledges them as one
// batch. Take may wait briefly (about 100 ms) and return nothing when the
// queue is empty; the bodies it returns are valid until the next Take.
type Consumer interface {
	Take(ctx context.Context, limit int) ([][]byte, error)
	// Ack acknowledges (deletes) everything the last Take returned.
	Ack(ctx context.Context) error
	Close() error
}

// Message bodies are "<key> <padding>", exactly Body bytes long, the same
// bytes for every system; the key "<run>.<worker>.<n>" lets the ledger
// check every delivery. Zaqar carries them as a JSON string, so the body
// must stay within printable ASCII that needs no escaping.
func appendBody(b []byte, key []byte, size int) []byte {
	b = append(b, key...)
	b = append(b, ' ')
	for i := len(key) + 1; i < size; i++ {
		b = append(b, 'x')
	}
	return b
}

// keyOf is the ledger key at the start of a body.
func keyOf(body []byte) []byte {
	for i, c := range body {
		if c == ' ' {
			return body[:i]
		}
	}
	return body
}

// requireLoopback refuses any address that is not on this machine: the
// benchmark loads only 127.0.0.0/8 (or ::1).
func requireLoopback(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("%q: %w", rawURL, err)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q: only loopback addresses (127.0.0.1, ::1) may be loaded", rawURL)
	}
	return nil
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func loopbackAddr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }
