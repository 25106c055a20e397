package httpapi

import (
	"fmt"
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
		name, _ := obj["op"].(string)
		switch name {
		case "add", "remove", "replace":
		default:
			return nil, fmt.Sprintf("Invalid operation: `%v`. It must be one of the following: add, remove, replace.", obj["op"])
		}
		path, ok := obj["path"].(string)
		if !ok {
			return nil, "Missing path in operation."
		}
		key, msg := parsePointer(path, name)
		if msg != "" {
			return nil, msg
		}
		value, has := obj["value"]
		if name != "remove" && !has {
			return nil, fmt.Sprintf("Missing value in `%s` operation.", name)
		}
		ops = append(ops, patchOp{op: name, key: key, value: value})
	}
	return ops, ""
}

// parsePointer accepts "/metadata/<key>" with ~0/~1 escapes.
func parsePointer(path, op string) (string, string) {
	bad := fmt.Sprintf("Invalid JSON pointer for this resource: '%s'.", path)
	if !strings.HasPrefix(path, "/") || strings.HasSuffix(path, "/") {
		return "", bad
	}
	parts := strings.Split(path[1:], "/")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" || !strings.EqualFold(parts[0], "metadata") {
		return "", bad
	}
	key := parts[1]
	for i := 0; i < len(key); i++ {
		if key[i] == '~' && (i+1 >= len(key) || (key[i+1] != '0' && key[i+1] != '1')) {
			return "", bad
		}
	}
	key = strings.ReplaceAll(strings.ReplaceAll(key, "~1", "/"), "~0", "~")
	return key, ""
}

var reservedNames = map[string]bool{
	storage.MetaDefaultMessageTTL: true, storage.MetaMaxPostSize: true, storage.MetaDefaultDelay: true,
	storage.MetaDeadLetterQueue: true, storage.MetaDeadLetterTTL: true, storage.MetaMaxClaimCount: true,
	storage.MetaEnableEncryption: true,
}

// applyPatch applies ops to a copy of m, all or nothing. A non-empty
// conflict is Zaqar's 409 text.
func applyPatch(m storage.Metadata, ops []patchOp) (storage.Metadata, string) {
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
			if !present && !reservedNames[op.key] {
				return nil, fmt.Sprintf("Can't replace non-existent object %s.", op.key)
			}
			out[op.key] = op.value
		case "remove":
			if !present {
				if reservedNames[op.key] {
					continue
				}
				return nil, fmt.Sprintf("Can't remove non-existent object %s.", op.key)
			}
			delete(out, op.key)
		}
	}
	return out, ""
}
