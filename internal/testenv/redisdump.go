package testenv

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// RedisText concatenates every value (and hash field) of the keys
// matching pattern: what tests scan to prove a text is, or is not,
// stored in Redis. A key of a type it cannot read fails the test, so a
// scan never passes by overlooking data.
func RedisText(tb testing.TB, rdb *redis.Client, pattern string) string {
	tb.Helper()
	ctx := context.Background()
	var b strings.Builder
	iter := rdb.Scan(ctx, 0, pattern, 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		typ, err := rdb.Type(ctx, k).Result()
		if err != nil {
			tb.Fatal(err)
		}
		switch typ {
		case "none": // expired or deleted since the scan saw it
		case "string":
			b.WriteString(rdb.Get(ctx, k).Val())
		case "hash":
			for f, v := range rdb.HGetAll(ctx, k).Val() {
				b.WriteString(f + v)
			}
		case "list":
			b.WriteString(strings.Join(rdb.LRange(ctx, k, 0, -1).Val(), ""))
		case "set":
			b.WriteString(strings.Join(rdb.SMembers(ctx, k).Val(), ""))
		case "zset":
			b.WriteString(strings.Join(rdb.ZRange(ctx, k, 0, -1).Val(), ""))
		case "stream":
			for _, m := range rdb.XRange(ctx, k, "-", "+").Val() {
				b.WriteString(fmt.Sprint(m.Values))
			}
		default:
			tb.Fatalf("key %s of type %s not read", k, typ)
		}
	}
	if err := iter.Err(); err != nil {
		tb.Fatal(err)
	}
	return b.String()
}
