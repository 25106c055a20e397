package notify

import "strings"

// SocketScheme starts the subscriber URI of a subscription that a
// WebSocket connection made for itself; the server that holds the
// connection delivers its notifications (Options.Sockets).
const SocketScheme = "websocket://"

// Sockets delivers notifications to connections of this server. Push is
// called by the notifier's workers and must not block: it queues the
// payload (the notification's JSON) on the connection, or reports that the
// subscriber is not one of its connections (closed, or held by another
// server over the same store). Delivery is at most once, without retries.
type Sockets interface {
	Push(subscriber string, payload []byte) bool
}

func isSocket(subscriber string) bool {
	return len(subscriber) >= len(SocketScheme) && strings.EqualFold(subscriber[:len(SocketScheme)], SocketScheme)
}

// pushSocket hands a batch's notifications to the socket subscriber.
func (n *Notifier) pushSocket(subscriber string, payloads [][]byte) {
	outcome := "delivered"
	if n.o.Sockets == nil {
		outcome = "failed"
	} else {
		for _, p := range payloads {
			if !n.o.Sockets.Push(subscriber, p) {
				outcome = "failed"
				break
			}
		}
	}
	n.m.attempts.WithLabelValues("socket", outcome).Add(float64(len(payloads)))
}
