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

// validateMetadata applies Zaqar's checks of reserved attributes (§3):
// "truthy and not of the type" fails the type check, then ranges apply.
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
				return fmt.Sprintf("The value of the \"%s\" field must be a int.", key)
			}
		}
		if n < lo || n > hi {
			return text
		}
		return ""
	}
	o := a.opts
	if s := intAttr(storage.MetaDefaultMessageTTL, 60, o.MaxMessageTTL, fmt.Sprintf(
		"The TTL for a message may not exceed %d seconds, and must be at least 60 seconds long.", o.MaxMessageTTL)); s != "" {
		return s
	}
	if s := intAttr(storage.MetaMaxPostSize, 1, int64(o.MaxMessagesPostSize), fmt.Sprintf(
		"_max_messages_post_size must be at least 1 and may not exceed %d.", o.MaxMessagesPostSize)); s != "" {
		return s
	}
	if s := intAttr(storage.MetaDefaultDelay, 0, o.MaxMessageDelay, fmt.Sprintf(
		"The delay for a message may not exceed %d seconds, and must be at least 0 seconds long.", o.MaxMessageDelay)); s != "" {
		return s
	}
	if s := intAttr(storage.MetaDeadLetterTTL, 60, o.MaxMessageTTL, fmt.Sprintf(
		"The TTL for a message may not exceed %d seconds, and must be at least 60 seconds long.", o.MaxMessageTTL)); s != "" {
		return s
	}
	if s := intAttr(storage.MetaMaxMessages, 0, 1<<62, "_max_messages must be at least 0 (0: no limit)."); s != "" {
		return s
	}
	if s := intAttr(storage.MetaMaxClaimCount, -1<<62, 1<<62, ""); s != "" {
		return s
	}
	if v, ok := m[storage.MetaEnableEncryption]; ok && v != nil {
		if _, isBool := v.(bool); !isBool {
			return fmt.Sprintf("The value of the \"%s\" field must be a bool.", storage.MetaEnableEncryption)
		}
	}
	return ""
}

// withDefaults fills the reserved attributes Zaqar shows on GET.
func (a *API) withDefaults(m storage.Metadata) storage.Metadata {
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
