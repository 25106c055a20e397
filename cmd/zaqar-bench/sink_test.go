package main

import (
	"bytes"
	"net/http"
	"strings"
	"sync"
	"testing"
)

func TestSinkCountsDeliveries(t *testing.T) {
	ready := make(chan string, 1)
	var out, errOut bytes.Buffer
	done := make(chan int, 1)
	var mu sync.Mutex
	go func() {
		mu.Lock()
		defer mu.Unlock()
		done <- sink([]string{"--duration", "1s", "--status", "202"}, &out, &errOut, ready)
	}()
	addr := <-ready
	for i := 0; i < 5; i++ {
		resp, err := http.Post("http://"+addr+"/hook", "application/json", strings.NewReader(`{"id":"x"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 202 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if code := <-done; code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(out.String(), "sink: 5 requests, 50 bytes") {
		t.Fatalf("output %q", out.String())
	}
}
