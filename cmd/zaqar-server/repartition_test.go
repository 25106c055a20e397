package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zaqar-go/zaqar/storage"
)

// TestRepartitionCommand: the command refuses a running server's
// directory and bad arguments, and moves a stopped server's store to the
// new count, which the server must then be configured with.
func TestRepartitionCommand(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	e := openEngine(t, dir, 1)
	for _, q := range []string{"a", "b", "c"} {
		if _, err := e.PostMessages(ctx, "p", q, "c", []storage.NewMessage{{Body: []byte(`"` + q + `"`), TTL: 600}}); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	if code := run([]string{"repartition", "--data-dir", dir, "--partitions", "3"}, &out); code == exitOK || !strings.Contains(out.String(), "in use by a running server") {
		t.Fatalf("repartition of a running server: exit %d\n%s", code, out.String())
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"--data-dir", dir}, {"--data-dir", dir, "--partitions", "300"}, {"--data-dir", filepath.Join(dir, "nothing"), "--partitions", "2"}} {
		out.Reset()
		if code := run(append([]string{"repartition"}, args...), &out); code == exitOK {
			t.Fatalf("repartition %v: accepted\n%s", args, out.String())
		}
	}
	out.Reset()
	if code := run([]string{"repartition", "--data-dir", dir, "--partitions", "3"}, &out); code != exitOK || !strings.Contains(out.String(), "partitions = 3") {
		t.Fatalf("repartition: exit %d\n%s", code, out.String())
	}
	r := openEngine(t, dir, 3)
	defer r.Close()
	for _, q := range []string{"a", "b", "c"} {
		if got := listAll(t, r, "p", q); len(got) != 1 || string(got[0].Body) != `"`+q+`"` {
			t.Fatalf("%s after repartition: %+v", q, got)
		}
	}
}
