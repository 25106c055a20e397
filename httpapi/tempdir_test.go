package httpapi

import "os"

// makeTempDir gives the shared fuzz engine a directory that outlives any
// single fuzz iteration; it lives in the OS temp dir and is small.
func makeTempDir() (string, error) { return os.MkdirTemp("", "zaqar-httpapi-fuzz-") }
