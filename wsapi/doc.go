// Package wsapi is Zaqar's Messaging API v2 over WebSocket: one
// persistent connection carries every queue, message, claim and
// subscription action, and receives the notifications of queues the
// connection subscribed to itself.
//
// Frames are requests in Zaqar's envelope ({"action", "headers", "body"});
// a text frame is JSON and a binary frame MessagePack, and each answer
// ({"request", "body", "headers": {"status"}}) uses its request's
// encoding. A frame that cannot be decoded, or names no known action, or
// fails the action's schema, is answered with Zaqar's error, never with a
// dropped connection.
//
// Like httpapi, the package checks that requests are well-formed and hands
// typed calls to a storage.Store; it shares httpapi's options (limits,
// authentication, policy), so both transports enforce the same rules over
// the same stores.
//
// Concurrency: a connection has a reader goroutine only while its socket
// has something to read (it runs the requests in order); an idle
// connection is parked in epoll with no goroutine and no buffer. A writer
// goroutine runs while outgoing frames are queued; reader and writer meet
// at a bounded queue. A reader that cannot queue its answer, or a
// notification that finds the queue full, closes the connection (close
// code 1008, "slow reader") rather than buffer without bound. One sweeper
// per server pings every connection and closes the idle ones.
package wsapi
