package httpapi

import (
	"strings"

	"github.com/zaqar-go/zaqar/storage"
)

// The validation rules below do not depend on HTTP: the WebSocket
// transport (package wsapi) applies them too, so both transports accept
// and refuse the same documents with the same texts.

// ValidQueueName reports whether name is a well-formed queue name
// (^[a-zA-Z0-9_\-.]+$, at most 64 characters).
func ValidQueueName(name string) bool { return validQueueName(name) }

// MaxProjectLength is the longest project id accepted.
const MaxProjectLength = maxProjectLength

// MetadataProblem checks a queue's reserved metadata attributes against o;
// it returns Zaqar's text for the first problem, "" when there is none.
func (o Options) MetadataProblem(m storage.Metadata) string {
	return (&API{opts: o}).validateMetadata(m)
}

// ValidSubscriber reports whether s is a subscriber URI of one of o's
// subscriber_types.
func (o Options) ValidSubscriber(s string) bool { return (&API{opts: o}).validSubscriber(s) }

// SubscriberTypesText is subscriber_types as Zaqar's error texts show it:
// "['http', 'https', ...]".
func (o Options) SubscriberTypesText() string {
	quoted := make([]string, len(o.SubscriberTypes))
	for i, s := range o.SubscriberTypes {
		quoted[i] = "'" + s + "'"
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}
