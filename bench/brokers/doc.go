// Package brokers measures our server beside Redis Streams and RabbitMQ
// quorum queues with the same three workloads (produce, consume from a
// backlog, mixed), interleaved over rounds, at matched durability: a
// message acknowledged to its producer is fsync'd in every system. Every
// message carries a unique key, so each consuming measurement also proves
// that nothing acknowledged was lost and nothing was delivered twice.
// docs/brokers.md describes the workloads and the measured table;
// `zaqar-bench brokers` runs it.
package brokers
