package storage

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"time"
)

// Store is everything a message store offers the transport. Zaqar splits it
// into queue, message, claim and subscription controllers; so do we, and a
// driver implements them all.
//
// All methods are safe for concurrent use. Every name is scoped by project:
// nothing done in one project can be seen from another. Byte slices passed in
// (message bodies) are only valid during the call: a store copies what it
// keeps. Slices returned belong to the caller.
type Store interface {
	QueueStore
	MessageStore
	ClaimStore
	SubscriptionStore
	// Ping reports whether the backend can serve requests (GET /v2/ping).
	Ping(ctx context.Context) error
	// Close releases resources; for the embedded engine it makes every
	// acknowledged write durable and stops background work.
	Close() error
}

// QueueStore manages queues and their metadata.
type QueueStore interface {
	// CreateQueue creates the queue with the given metadata. created is false
	// (and the stored metadata unchanged) when it already existed.
	CreateQueue(ctx context.Context, project, queue string, meta Metadata) (created bool, err error)
	// GetQueueMetadata returns the stored metadata (reserved defaults are not
	// filled in: that is the transport's job). ErrQueueNotFound if missing.
	GetQueueMetadata(ctx context.Context, project, queue string) (Metadata, error)
	// SetQueueMetadata replaces the metadata. ErrQueueNotFound if missing.
	SetQueueMetadata(ctx context.Context, project, queue string, meta Metadata) error
	// DeleteQueue removes the queue, its metadata, messages and claims.
	// Subscriptions are kept (as Zaqar does). Deleting a missing queue is
	// not an error.
	DeleteQueue(ctx context.Context, project, queue string) error
	// ListQueues returns up to opts.Limit queues with names > opts.Marker,
	// sorted by name.
	ListQueues(ctx context.Context, project string, opts ListQueuesOptions) ([]QueueInfo, error)
	// CountQueues counts all queues of the project (filters ignored),
	// topics left out.
	CountQueues(ctx context.Context, project string) (int64, error)
	// QueueStats counts live messages. ErrQueueNotFound if missing.
	QueueStats(ctx context.Context, project, queue string) (QueueStats, error)
	// PurgeQueue deletes every message (claimed ones too) and/or every
	// subscription of the queue; the queue and its metadata stay.
	PurgeQueue(ctx context.Context, project, queue string, opts PurgeOptions) error
}

// MessageStore posts, reads and deletes messages.
type MessageStore interface {
	// PostMessages appends a batch atomically (all or none) in FIFO order,
	// creating the queue if it does not exist, and returns the new ids in
	// request order. clientID is the poster's normalised Client-ID (used for
	// echo suppression). When it returns nil the batch is durable.
	PostMessages(ctx context.Context, project, queue, clientID string, msgs []NewMessage) ([]string, error)
	// ListMessages returns live messages after opts.Marker in FIFO order,
	// filtered as ListMessagesOptions says, and the marker of the last one
	// returned ("" when none). A missing queue or an unparsable marker gives
	// an empty page, not an error.
	ListMessages(ctx context.Context, project, queue string, opts ListMessagesOptions) ([]Message, string, error)
	// GetMessage returns one live message, claimed or not.
	// ErrQueueNotFound or ErrMessageNotFound.
	GetMessage(ctx context.Context, project, queue, id string) (Message, error)
	// GetMessages returns the live messages among ids, skipping unknown or
	// malformed ones. ErrQueueNotFound if the queue is missing.
	GetMessages(ctx context.Context, project, queue string, ids []string) ([]Message, error)
	// DeleteMessage deletes one message. With claimID == "": deletes an
	// unclaimed message, ErrMessageClaimed if a live claim holds it. With a
	// claim id: ErrClaimNotFound if that claim is unknown or expired,
	// ErrMessageNotClaimed if the message is not claimed, ErrMessageClaimed
	// if another claim holds it. A missing message or queue is not an error.
	DeleteMessage(ctx context.Context, project, queue, id, claimID string) error
	// DeleteMessages deletes the listed messages; unknown ids are ignored.
	// With claimIDs == nil claims are ignored (Zaqar's default); otherwise
	// every listed live message must be held by one of those claims, else
	// ErrMessageClaimed and nothing is deleted.
	DeleteMessages(ctx context.Context, project, queue string, ids, claimIDs []string) error
	// PopMessages removes and returns up to n oldest live, unclaimed,
	// undelayed messages.
	PopMessages(ctx context.Context, project, queue string, n int) ([]Message, error)
}

// ClaimStore hands out messages to workers for a limited time.
type ClaimStore interface {
	// CreateClaim claims up to opts.Limit oldest messages that are live, not
	// held by a live claim and not delayed. Each claimed message's claim
	// count is incremented and its lifetime extended to at least
	// ttl+grace. When the queue has _max_claim_count and _dead_letter_queue,
	// a message already claimed that many times is moved to the dead letter
	// queue (created if needed, ttl from _dead_letter_queue_messages_ttl)
	// instead. No claimable message (or no queue) gives a Claim with no
	// messages and an empty ID, and nil error.
	CreateClaim(ctx context.Context, project, queue string, opts ClaimOptions) (Claim, error)
	// GetClaim returns a live claim and the live messages it holds.
	// ErrClaimNotFound if unknown or expired.
	GetClaim(ctx context.Context, project, queue, claimID string) (Claim, error)
	// UpdateClaim renews a live claim: its age restarts, the new ttl applies
	// and its messages' lifetimes are extended again. ErrClaimNotFound.
	UpdateClaim(ctx context.Context, project, queue, claimID string, ttl, grace int64) error
	// DeleteClaim releases a claim: its messages are claimable at once.
	// Releasing an unknown claim is not an error.
	DeleteClaim(ctx context.Context, project, queue, claimID string) error
}

// SubscriptionStore keeps notification subscriptions.
type SubscriptionStore interface {
	// CreateSubscription creates a subscription, creating the queue if it
	// does not exist. When the queue already has a live subscription for
	// the same subscriber it returns that one and created == false.
	CreateSubscription(ctx context.Context, project, queue string, s NewSubscription) (sub Subscription, created bool, err error)
	// GetSubscription returns a live subscription. ErrSubscriptionNotFound.
	GetSubscription(ctx context.Context, project, queue, id string) (Subscription, error)
	// ListSubscriptions returns up to limit live subscriptions with ids
	// after marker, in creation order.
	ListSubscriptions(ctx context.Context, project, queue, marker string, limit int) ([]Subscription, error)
	// UpdateSubscription changes the fields that are set; a new TTL restarts
	// the expiry clock. ErrSubscriptionNotFound, or ErrDuplicate when the
	// new subscriber is already subscribed to the queue.
	UpdateSubscription(ctx context.Context, project, queue, id string, u SubscriptionUpdate) error
	// DeleteSubscription removes it; a missing one is not an error.
	DeleteSubscription(ctx context.Context, project, queue, id string) error
	// ConfirmSubscription sets the confirmed flag. ErrSubscriptionNotFound.
	ConfirmSubscription(ctx context.Context, project, queue, id string, confirmed bool) error
}

// PlaintextGuard is an optional capability of a Store: PostPlaintext
// posts as PostMessages does, unless the queue's metadata sets
// _enable_encrypt_messages: then it posts nothing and returns
// ErrEncryptionRequired. The check and the post are one step of the store,
// so no change of the flag, by any server sharing the store, comes
// between them. Package encrypt posts through it, which lets it remember
// that a queue is not encrypted without reading the metadata per post.
type PlaintextGuard interface {
	PostPlaintext(ctx context.Context, project, queue, clientID string, msgs []NewMessage) ([]string, error)
}

// EncryptionEnabled reports whether metadata asks for encrypted bodies.
func EncryptionEnabled(m Metadata) bool {
	on, _ := m[MetaEnableEncryption].(bool)
	return on
}

// SubscriptionPresence is an optional capability of a Store: telling
// cheaply, without listing them, whether a queue may have subscriptions.
// The notifier asks on every post, so queues without subscribers cost it
// nothing. False means certainly none; true may include subscriptions
// that have expired but are not yet removed.
type SubscriptionPresence interface {
	HasSubscriptions(ctx context.Context, project, queue string) (bool, error)
}

// Waker is an optional capability of a Store: telling consumers that wait
// (long-poll claims and listings) when a queue may have messages for them,
// so that they never poll.
type Waker interface {
	// Changes returns a channel closed at the next change that may make
	// messages of the queue available: a post, a claim released or run
	// out, a delay over. It may be closed for nothing (the waiter looks
	// again and waits anew). done must be called once the caller stops
	// waiting. A nil channel means the queue cannot be watched (a
	// decorator over a store that cannot wake): callers go through the
	// package's Changes function, which reports it.
	Changes(project, queue string) (ch <-chan struct{}, done func())
}

// ClaimWaker is a Waker that can wake waiters who claim (rather than
// list) one at a time, as many as there are messages for: ClaimChanges
// is Changes for such a waiter. A store may then leave some asleep at a
// change; it must wake another when a woken one calls done while
// messages are still free, so that none sleeps beside free messages.
// Callers go through the package's ClaimChanges function.
type ClaimWaker interface {
	ClaimChanges(project, queue string) (ch <-chan struct{}, done func())
}

// HasSubscriptions asks s through SubscriptionPresence, answering true
// (ask by listing) when s cannot tell cheaply.
func HasSubscriptions(ctx context.Context, s Store, project, queue string) (bool, error) {
	if sp, ok := s.(SubscriptionPresence); ok {
		return sp.HasSubscriptions(ctx, project, queue)
	}
	return true, nil
}

// Clock gives the current time. Stores take one in their options so tests
// can drive TTL and claim expiry without sleeping.
type Clock func() time.Time

// Metadata is a queue's metadata object. Values are what encoding/json
// produces with UseNumber: numbers are json.Number, so use Int to read them.
type Metadata map[string]any

// Reserved queue metadata names (Zaqar v2).
const (
	MetaDefaultMessageTTL = "_default_message_ttl"
	MetaMaxPostSize       = "_max_messages_post_size"
	MetaDefaultDelay      = "_default_message_delay"
	MetaDeadLetterQueue   = "_dead_letter_queue"
	MetaDeadLetterTTL     = "_dead_letter_queue_messages_ttl"
	MetaMaxClaimCount     = "_max_claim_count"
	MetaEnableEncryption  = "_enable_encrypt_messages"
	MetaFlavor            = "_flavor"
	MetaRetryPolicy       = "_retry_policy"
	// MetaMaxMessages bounds the live messages of a queue (ours, beyond
	// Zaqar): a post that would exceed it is refused with 400.
	MetaMaxMessages = "_max_messages"
)

// Int reads an integer attribute. Integral floats are accepted (JSON has one
// number type); anything else reports false.
func (m Metadata) Int(key string) (int64, bool) {
	switch v := m[key].(type) {
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return n, true
		}
		if f, err := v.Float64(); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<63 {
			return int64(f), true
		}
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<63 {
			return int64(v), true
		}
	case int:
		return int64(v), true
	case int64:
		return v, true
	}
	return 0, false
}

// String reads a string attribute.
func (m Metadata) String(key string) (string, bool) {
	s, ok := m[key].(string)
	return s, ok
}

// Matches reports whether every filter entry equals the attribute's
// value, compared as JSON text: "5" matches the number 5 and "blue" the
// string "blue" (ListQueuesOptions.Filter).
func (m Metadata) Matches(filter map[string]string) bool {
	for k, want := range filter {
		v, ok := m[k]
		if !ok {
			return false
		}
		switch x := v.(type) {
		case string:
			if x != want {
				return false
			}
		default:
			b, err := json.Marshal(x)
			if err != nil || string(b) != want {
				return false
			}
		}
	}
	return true
}

// Text encodes the metadata as a JSON object ("{}" when nil), for stores
// that keep it as text.
func (m Metadata) Text() string {
	if m == nil {
		return "{}"
	}
	b, err := json.Marshal(m)
	if err != nil {
		// Metadata comes from decoded JSON, so it always encodes.
		return "{}"
	}
	return string(b)
}

// ParseMetadata decodes a JSON object with numbers kept as json.Number;
// anything that is not an object gives empty metadata.
func ParseMetadata(text string) Metadata {
	m := Metadata{}
	d := json.NewDecoder(strings.NewReader(text))
	d.UseNumber()
	if d.Decode(&m) != nil || m == nil {
		return Metadata{}
	}
	return m
}

// Clone returns a shallow copy (nil stays nil).
func (m Metadata) Clone() Metadata {
	if m == nil {
		return nil
	}
	c := make(Metadata, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// ListQueuesOptions selects a page of queues, or of topics.
type ListQueuesOptions struct {
	Marker string // return storage names strictly greater than this
	// Topics lists topics instead of queues (see TopicKey); names in and
	// out are storage names either way.
	Topics   bool
	Limit    int  // at most this many (the transport bounds it)
	Detailed bool // fill QueueInfo.Metadata
	// Name keeps queues whose name contains this substring ("" = all).
	Name string
	// Filter keeps queues whose metadata[key] equals the value for every
	// entry (values compared after JSON normalisation: numbers as
	// json.Number text, strings as strings).
	Filter map[string]string
}

// PageQueues builds a ListQueues answer for stores that keep a
// name-ordered index of queues apart from their metadata: names returns
// up to n names after marker, in order; meta returns each name's metadata,
// nil for a queue that no longer exists. It applies Name, Filter, Limit
// and Detailed as the contract says.
func PageQueues(opts ListQueuesOptions, names func(marker string, n int) ([]string, error),
	meta func(names []string) ([]Metadata, error)) ([]QueueInfo, error) {
	var out []QueueInfo
	marker := opts.ListMarker()
	for len(out) < opts.Limit {
		page, err := names(marker, opts.Limit)
		if err != nil || len(page) == 0 {
			return out, err
		}
		metas, err := meta(page)
		if err != nil {
			return nil, err
		}
		for i, name := range page {
			marker = name
			if metas[i] == nil || !opts.KindMatches(name) || (opts.Name != "" && !strings.Contains(PublicName(name), opts.Name)) ||
				!metas[i].Matches(opts.Filter) {
				continue
			}
			info := QueueInfo{Name: name}
			if opts.Detailed {
				info.Metadata = metas[i]
			}
			if out = append(out, info); len(out) == opts.Limit {
				break
			}
		}
		if len(page) < opts.Limit {
			break
		}
	}
	return out, nil
}

// QueueInfo is one entry of a queue listing.
type QueueInfo struct {
	Name     string
	Metadata Metadata // nil unless Detailed
}

// QueueStats counts a queue's live messages.
type QueueStats struct {
	Claimed int64 // held by a live claim
	Free    int64 // Total - Claimed (delayed messages count as free)
	Delayed int64 // not yet visible (_default_message_delay or a post's delay); part of Free
	Total   int64
	Oldest  *MessageStat // nil when Total == 0
	Newest  *MessageStat
	// Partition is the engine partition that owns the queue, or -1 for
	// stores without partitions.
	Partition int
}

// MessageStat identifies the oldest or newest message for stats.
type MessageStat struct {
	ID      string
	Created time.Time
}

// PurgeOptions selects what PurgeQueue removes.
type PurgeOptions struct {
	Messages      bool
	Subscriptions bool
}

// NewMessage is one message of a POST batch, already validated.
type NewMessage struct {
	Body     []byte // raw JSON value; valid only during the call
	TTL      int64  // seconds, >= 1
	Delay    int64  // seconds invisible after posting, >= 0
	Checksum string // optional, stored and returned as is
}

// Message is a stored message as the transport presents it.
type Message struct {
	ID         string
	Body       []byte // raw JSON value
	TTL        int64  // current ttl in seconds (a claim may raise it)
	Created    time.Time
	Expires    time.Time
	DelayUntil time.Time // zero when not delayed
	ClientID   string    // the poster's Client-ID
	ClaimID    string    // the live claim holding it, "" if none
	ClaimCount int
	Checksum   string
}

// ListMessagesOptions selects and filters a page of messages.
type ListMessagesOptions struct {
	Marker         string // opaque, from a previous page; "" = from the start
	Limit          int
	ClientID       string // the caller; with Echo false its own messages are hidden
	Echo           bool
	IncludeClaimed bool
	IncludeDelayed bool
}

// ClaimOptions are the parameters of a new claim, already validated.
type ClaimOptions struct {
	TTL   int64 // seconds
	Grace int64 // seconds
	Limit int
}

// Claim is a live claim and the live messages it holds.
type Claim struct {
	ID       string
	TTL      int64
	Grace    int64
	Updated  time.Time // creation or last renewal; age counts from here
	Messages []Message
	// recycle, when set, gives the buffer the bodies were read into back
	// to the store (WithRecycle, Recycle).
	recycle func()
}

// WithRecycle returns c with a function that gives the buffer its
// messages' bodies lie in back to the store for the next claim: a buffer
// in use again soon is still in the CPU's caches, where a new one would
// be memory not touched for long.
func (c Claim) WithRecycle(recycle func()) Claim {
	c.recycle = recycle
	return c
}

// Recycle is called by a claim's last user once nothing refers to its
// messages' bodies any more; after it they may hold another claim's.
// Callers that keep bodies simply never call it: the buffer is then
// collected as any other.
func (c *Claim) Recycle() {
	if c.recycle != nil {
		c.recycle()
		c.recycle = nil
	}
}

// NewSubscription is a validated subscription request.
type NewSubscription struct {
	Subscriber string
	TTL        int64 // seconds
	Options    Metadata
}

// Subscription is a stored subscription.
type Subscription struct {
	ID         string
	Queue      string // Zaqar's "source"
	Subscriber string
	TTL        int64
	Options    Metadata
	Created    time.Time // creation or last TTL change; age counts from here
	Expires    time.Time
	Confirmed  bool
}

// SubscriptionUpdate lists the fields to change; nil means unchanged.
type SubscriptionUpdate struct {
	Subscriber *string
	TTL        *int64
	Options    Metadata
}
