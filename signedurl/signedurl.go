// Package signedurl implements Zaqar's pre-signed URLs
// (zaqar/common/urls.py): an HMAC-SHA256 over the sorted paths, the sorted
// methods, the project and the expiry lets a holder call those paths
// without other credentials until the expiry.
package signedurl

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"time"
)

// ExpiresFormat is how expiries are written (UTC, no zone), as Zaqar.
const ExpiresFormat = "2006-01-02T15:04:05"

// Signature computes Zaqar's signature. Zaqar joins the fields with the
// two characters `\` and `n` (a raw-string quirk of the original), not a
// newline: reproduced so signatures interoperate.
func Signature(key string, paths, methods []string, project string, expires time.Time) string {
	p, m := slices.Clone(paths), slices.Clone(methods)
	slices.Sort(p)
	slices.Sort(m)
	if project == "" {
		project = "None"
	}
	msg := strings.Join(p, ",") + `\n` + strings.Join(m, ",") + `\n` + project + `\n` + expires.UTC().Format(ExpiresFormat)
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(msg))
	return hex.EncodeToString(mac.Sum(nil))
}

// Signed is a pre-signed URL as Zaqar hands it out (and as clients send it
// back in URL-* headers).
type Signed struct {
	Signature string
	Paths     []string
	Methods   []string
	Project   string
	Expires   time.Time
}

// Sign signs paths and methods for project until expires.
func Sign(key string, paths, methods []string, project string, expires time.Time) Signed {
	return Signed{Signature: Signature(key, paths, methods, project, expires), Paths: paths, Methods: methods,
		Project: project, Expires: expires.UTC().Truncate(time.Second)}
}

// ErrInvalid covers every verification failure; Zaqar answers 404 for all
// of them so a probe learns nothing.
var ErrInvalid = errors.New("signedurl: invalid or expired signature")

// Verify checks a request (method, path) carrying the URL-* headers'
// values against key at now. A listed path authorises itself and the paths
// under it (a collection covers its items). Zaqar matches listed paths as
// unanchored regular expressions instead, so a share of queue "a.b" also
// opened queue "aXb" and "/v2/queues/q" opened "/v2/queues/q2"; paths Zaqar
// hands out are literal, so they verify the same here.
func Verify(key, method, path, signature, expires, methods, paths, project string, now time.Time) error {
	if key == "" || signature == "" {
		return ErrInvalid
	}
	exp, err := time.Parse(ExpiresFormat, expires)
	if err != nil {
		if exp, err = time.Parse(time.RFC3339, expires); err != nil {
			return ErrInvalid
		}
	}
	if !exp.After(now) {
		return ErrInvalid
	}
	ms := split(methods)
	if !slices.Contains(ms, method) {
		return ErrInvalid
	}
	ps := split(paths)
	if !slices.ContainsFunc(ps, func(p string) bool { return covers(p, path) }) {
		return ErrInvalid
	}
	want := Signature(key, ps, ms, project, exp)
	if !hmac.Equal([]byte(want), []byte(signature)) {
		return ErrInvalid
	}
	return nil
}

// covers reports whether a signed path admits a request path.
func covers(signed, path string) bool {
	return path == signed || strings.HasPrefix(path, strings.TrimSuffix(signed, "/")+"/")
}

func split(csv string) []string {
	var out []string
	for _, s := range strings.Split(csv, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
