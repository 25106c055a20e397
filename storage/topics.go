package storage

import "strings"

// Topics live in the same stores as queues, under storage names of their
// own: a topic's storage name is its name behind TopicPrefix, a character
// no queue name may contain, so a topic and a queue of the same name are
// distinct, and messages, subscriptions, notifications and pooling serve
// topics through the queue machinery unchanged. Queue listings and counts
// leave topics out; ListQueuesOptions.Topics lists them instead.

// TopicPrefix starts the storage name of every topic. It sorts after
// every character of a queue name (byte order), so in stores ordered by
// name all topics come after all queues.
const TopicPrefix = "~"

// MaxStorageNameLength is the longest storage name: a queue or topic name
// (at most 64 characters) and the topic prefix.
const MaxStorageNameLength = 64 + len(TopicPrefix)

// TopicKey is the storage name of topic name.
func TopicKey(name string) string { return TopicPrefix + name }

// IsTopicKey reports whether a storage name is a topic's.
func IsTopicKey(key string) bool { return strings.HasPrefix(key, TopicPrefix) }

// PublicName is the name clients use for a storage name: a topic's
// without its prefix, a queue's as it is.
func PublicName(key string) string { return strings.TrimPrefix(key, TopicPrefix) }

// Collection is the API collection a storage name belongs to: "topics"
// or "queues" (as in /v2/queues/{name}).
func Collection(key string) string {
	if IsTopicKey(key) {
		return "topics"
	}
	return "queues"
}

// KindMatches reports whether a storage name belongs to the listing opts
// asks for (queues, or topics with opts.Topics).
func (opts ListQueuesOptions) KindMatches(key string) bool { return IsTopicKey(key) == opts.Topics }

// ListMarker is where a listing of opts' kind starts: a topic listing
// without a topic marker starts at the prefix alone, which sorts before
// every topic's storage name and after every queue's.
func (opts ListQueuesOptions) ListMarker() string {
	if opts.Topics && !IsTopicKey(opts.Marker) {
		return TopicPrefix
	}
	return opts.Marker
}
