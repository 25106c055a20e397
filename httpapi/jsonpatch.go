package httpapi

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/zaqar-go/zaqar/storage"
)

// patchOp is one operation of Zaqar's JSON-patch subset.
type patchOp struct {
	op    string
	key   string
	value any
}

// parsePatch checks a queue PATCH document. Errors are (status, title,
// description) as Zaqar answers them.
func parsePatch(body []byte) ([]patchOp, string) {
	if len(body) == 0 {
		return nil, "Request body can not be empty"
	}
	var doc any
	if err := numberAPI.Unmarshal(body, &doc); err != nil {
		return nil, "Request body could not be parsed."
	}
	list, ok := doc.([]any)
	if !ok {
		return nil, "Request body must be a JSON array of operation objects."
	}
	ops := make([]patchOp, 0, len(list))
	for _, item := range list {
		obj, ok := item.(map[string]any)
		if !ok {
			return nil, "Operations must be JSON objects."
		}
		rawOp, hasOp := obj["op"]
		name, _ := rawOp.(string)
		switch {
		case !hasOp || rawOp == nil:
			return nil, "Unable to find `op` in JSON Schema change. It must be one of the following: add, remove, replace."
		case name != "add" && name != "remove" && name != "replace":
			return nil, fmt.Sprintf("Invalid operation: `%v`. It must be one of the following: add, remove, replace.", rawOp)
		}
		path, ok := obj["path"].(string)
		if !ok {
			return nil, "Unable to find 'path' in JSON Schema change"
		}
		parts, msg := decodePointer(path)
		if msg != "" {
			return nil, msg
		}
		if len(parts) != 2 {
			return nil, "Invalid JSON pointer for this resource: '/" + strings.Join(parts, "/") + ", e.g /metadata/key'"
		}
		value, has := obj["value"]
		if name != "remove" && !has {
			return nil, fmt.Sprintf(`Operation "%s" requires a member named "value".`, name)
		}
		if name != "remove" && !strings.EqualFold(parts[0], "metadata") {
			return nil, "The root of path must be metadata, e.g /metadata/key."
		}
		ops = append(ops, patchOp{op: name, key: parts[1], value: value})
	}
	return ops, ""
}

var (
	adjacentSlashes = regexp.MustCompile(`/\s*?/`)
	badEscape       = regexp.MustCompile(`~[^01]`)
)

// decodePointer splits a JSON pointer as Zaqar's _decode_json_pointer
// does, with its checks and texts.
func decodePointer(p string) ([]string, string) {
	switch {
	case !strings.HasPrefix(p, "/"):
		return nil, "Pointer `" + p + "` does not start with \"/\"."
	case adjacentSlashes.MatchString(p[1:]):
		return nil, "Pointer `" + p + "` contains adjacent \"/\"."
	case len(p) > 1 && strings.HasSuffix(p, "/"):
		return nil, "Pointer `" + p + "` end with \"/\"."
	case strings.TrimSpace(p[1:]) == "/":
		return nil, "Pointer `" + p + "` does not contains valid token."
	case badEscape.MatchString(p) || strings.HasSuffix(p, "~"):
		return nil, "Pointer `" + p + "` contains \"~\" not part of a recognized escape sequence."
	}
	parts := strings.Split(strings.TrimLeft(p, "/"), "/")
	for i, part := range parts {
		parts[i] = strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~"))
	}
	return parts, ""
}

var reservedNames = map[string]bool{
	storage.MetaDefaultMessageTTL: true, storage.MetaMaxPostSize: true, storage.MetaDefaultDelay: true,
	storage.MetaDeadLetterQueue: true, storage.MetaDeadLetterTTL: true, storage.MetaMaxClaimCount: true,
	storage.MetaEnableEncryption: true,
}

// applyPatch applies ops to a copy of m, all or nothing. A non-empty
// conflict is Zaqar's 409 text. reserved are the attributes that may be
// replaced or removed without being set.
func applyPatch(m storage.Metadata, ops []patchOp, reserved map[string]bool) (storage.Metadata, string) {
	out := m.Clone()
	if out == nil {
		out = storage.Metadata{}
	}
	for _, op := range ops {
		_, present := out[op.key]
		switch op.op {
		case "add":
			out[op.key] = op.value
		case "replace":
			if !present && !reserved[op.key] {
				return nil, fmt.Sprintf("Can't replace non-existent object %s.", op.key)
			}
			out[op.key] = op.value
		case "remove":
			if !present {
				if reserved[op.key] {
					continue
				}
				return nil, fmt.Sprintf("Can't remove non-existent object %s.", op.key)
			}
			delete(out, op.key)
		}
	}
	return out, ""
}
