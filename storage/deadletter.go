package storage

import "time"

// DeadLetterHoldTTL is how long, in seconds, messages selected for a dead
// letter queue are held by an internal claim while a store moves them: a
// move cut short (a crash, a failed write) ends with the hold, and the next
// claim moves them again, so a move can duplicate a message but never
// loses one.
const DeadLetterHoldTTL = 60

// DeadLetter is a queue's dead letter policy (Zaqar's reserved metadata):
// a message claimed MaxClaims times moves to Queue, in the same project,
// instead of being claimed again.
type DeadLetter struct {
	MaxClaims int64
	Queue     string
	TTL       int64 // seconds of life in the dead letter queue; 0 = what the message had left
}

// DeadLetterOf reads a queue's policy from its metadata; ok is false when
// it has none (both _max_claim_count > 0 and _dead_letter_queue are
// needed). A dead letter queue is a queue: a name that is a topic's
// storage name makes no policy, so no claim moves messages into a topic.
func DeadLetterOf(m Metadata) (d DeadLetter, ok bool) {
	n, _ := m.Int(MetaMaxClaimCount)
	q, _ := m.String(MetaDeadLetterQueue)
	if n <= 0 || q == "" || IsTopicKey(q) {
		return DeadLetter{}, false
	}
	ttl, _ := m.Int(MetaDeadLetterTTL)
	return DeadLetter{MaxClaims: n, Queue: q, TTL: ttl}, true
}

// Due reports whether a message claimed claimCount times moves rather than
// being claimed again.
func (d DeadLetter) Due(claimCount int64) bool { return claimCount >= d.MaxClaims }

// Moved is m as it is posted to the dead letter queue at now: its body and
// checksum, living for the policy's TTL, or for what m had left of its life
// (at least a second).
func (d DeadLetter) Moved(m Message, now time.Time) NewMessage {
	ttl := d.TTL
	if ttl <= 0 {
		ttl = max(1, int64(m.Expires.Sub(now)/time.Second))
	}
	return NewMessage{Body: m.Body, TTL: ttl, Checksum: m.Checksum}
}
