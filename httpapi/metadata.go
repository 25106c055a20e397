package httpapi

import (
	"fmt"

	"github.com/zaqar-go/zaqar/storage"
)

// decodeMetadata parses a queue metadata document: a JSON object.
func decodeMetadata(body []byte) (storage.Metadata, string) {
	if len(body) == 0 {
		return storage.Metadata{}, ""
	}
	var v any
	if err := numberAPI.Unmarshal(body, &v); err != nil {
		return nil, "Request body could not be parsed."
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, "Document type not supported."
	}
	return storage.Metadata(m), ""
}

// validateMetadata applies Zaqar's checks of reserved attributes (its
// queue_metadata_putting, texts and order included): "truthy and not of
// the type" fails the type check, then ranges apply.
func (a *API) validateMetadata(m storage.Metadata) string {
	intAttr := func(key string, lo, hi int64, text string) string {
		v, present := m[key]
		if !present || v == nil {
			return ""
		}
		n, ok := m.Int(key)
		if !ok {
			if b, isBool := v.(bool); isBool {
				n = 0
				if b {
					n = 1
				}
			} else {
				return key + " must be integer."
			}
		}
		if n < lo || n > hi {
			return text
		}
		return ""
	}
	o := a.opts
	checks := []struct {
		key    string
		lo, hi int64
		text   string
	}{
		{storage.MetaDefaultMessageTTL, 60, o.MaxMessageTTL, fmt.Sprintf(
			"_default_message_ttl can not exceed %d seconds, and must be at least 60 seconds long.", o.MaxMessageTTL)},
		{storage.MetaMaxPostSize, 1, int64(o.MaxMessagesPostSize), fmt.Sprintf(
			"_max_messages_post_size can not exceed %d,  and must be at least greater than 0.", o.MaxMessagesPostSize)},
		{storage.MetaMaxClaimCount, -1 << 62, 1 << 62, ""},
		{storage.MetaDeadLetterTTL, 60, o.MaxMessageTTL, fmt.Sprintf(
			"The TTL for a message may not exceed %d seconds, and must be at least 60 seconds long.", o.MaxMessageTTL)},
		{storage.MetaDefaultDelay, 0, o.MaxMessageDelay, fmt.Sprintf(
			"The TTL can not exceed %d seconds, and must be at least 0 seconds long.", o.MaxMessageDelay)},
	}
	for _, c := range checks {
		if s := intAttr(c.key, c.lo, c.hi, c.text); s != "" {
			return s
		}
	}
	if v := m[storage.MetaEnableEncryption]; truthy(v) {
		if _, isBool := v.(bool); !isBool {
			return storage.MetaEnableEncryption + " must be boolean."
		}
	}
	return intAttr(storage.MetaMaxMessages, 0, 1<<62, "_max_messages must be at least 0 (0: no limit).")
}

// withDefaults fills the reserved attributes Zaqar shows on GET of a
// queue.
func (a *API) withDefaults(m storage.Metadata) storage.Metadata {
	out := a.topicDefaults(m)
	for _, k := range []string{storage.MetaDeadLetterQueue, storage.MetaDeadLetterTTL, storage.MetaMaxClaimCount} {
		if _, ok := out[k]; !ok {
			out[k] = nil
		}
	}
	if _, ok := out[storage.MetaEnableEncryption]; !ok {
		out[storage.MetaEnableEncryption] = false
	}
	return out
}

// topicDefaults fills the three attributes Zaqar shows on GET of a topic
// (and which a queue's GET shows too).
func (a *API) topicDefaults(m storage.Metadata) storage.Metadata {
	out := m.Clone()
	if out == nil {
		out = storage.Metadata{}
	}
	fill := func(key string, v any) {
		if cur, ok := out[key]; !ok || cur == nil || cur == false {
			out[key] = v
		}
	}
	fill(storage.MetaMaxPostSize, a.opts.MaxMessagesPostSize)
	fill(storage.MetaDefaultMessageTTL, a.opts.DefaultMessageTTL)
	fill(storage.MetaDefaultDelay, a.opts.DefaultMessageDelay)
	return out
}
