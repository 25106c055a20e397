package redisstore

import (
	"testing"

	"github.com/zaqar-go/zaqar/storage/storagetest"
)

// The shared store benchmarks (storagetest), as the engine runs them.

func BenchmarkPost(b *testing.B)          { storagetest.BenchPost(b, open(b, nil)) }
func BenchmarkClaimDelete(b *testing.B)   { storagetest.BenchClaimDelete(b, open(b, nil)) }
func BenchmarkClaimParallel(b *testing.B) { storagetest.BenchClaimParallel(b, open(b, nil)) }
