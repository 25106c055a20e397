package main

import (
	"bufio"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// parse reads an answer made of a status line and headers (each ending
// in CRLF) and a body, whose length it adds.
func parse(t *testing.T, head, body string) *response {
	t.Helper()
	raw := head + "content-length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	r, err := readResponse(bufio.NewReader(strings.NewReader(raw)), "GET")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Differences that matter are reported; what differs between any two runs
// (ids, ages, times, dates, the connection) is not.
func TestCompareReportsOnlyRealDifferences(t *testing.T) {
	a := newRun(&url.URL{Host: "a:1"}, "p", "c", "q1")
	b := newRun(&url.URL{Host: "b:2"}, "p", "c", "q1")
	a.vars["m1"], b.vars["m1"] = "0c735e9d-13cc-4067-8a30-ae8a2fd03cca", "00000000000000018019cddd130343d6"
	same := compare([2]*run{a, b}, [2]*response{
		parse(t, "HTTP/1.0 200 OK\r\nDate: x\r\nlocation: /v2/queues/q1/messages/0c735e9d-13cc-4067-8a30-ae8a2fd03cca\r\n",
			`{"age": 3, "created": "2026-12-06T15:58:00Z", "href": "/v2/queues/q1/messages/0c735e9d-13cc-4067-8a30-ae8a2fd03cca"}`),
		parse(t, "HTTP/1.1 200 OK\r\nDate: y\r\nlocation: /v2/queues/q1/messages/00000000000000018019cddd130343d6\r\nConnection: close\r\n",
			`{"href":"/v2/queues/q1/messages/00000000000000018019cddd130343d6","created":"2026-12-06T16:01:02Z","age":0}`),
	})
	if len(same) != 0 {
		t.Fatalf("differences reported between equivalent answers: %v", same)
	}
	diff := compare([2]*run{a, b}, [2]*response{
		parse(t, "HTTP/1.0 400 Bad\r\nvary: Accept\r\n", `{"title": "x", "description": "one."}`),
		parse(t, "HTTP/1.1 404 Not Found\r\nVary: Accept\r\n", `{"title":"x","description":"two."}`),
	})
	for _, want := range []string{"status: 400 vs 404", `header "vary": only in a ("Accept")`, `header "Vary": only in b ("Accept")`, `body.description: "one." vs "two."`} {
		if !slices.Contains(diff, want) {
			t.Errorf("missing %q in %q", want, diff)
		}
	}
	foldCase = true
	defer func() { foldCase = false }()
	folded := compare([2]*run{a, b}, [2]*response{
		parse(t, "HTTP/1.0 200 OK\r\nvary: Accept\r\n", "{}"),
		parse(t, "HTTP/1.1 200 OK\r\nVary: Accept\r\n", "{}"),
	})
	if len(folded) != 0 {
		t.Fatalf("-fold-case: %v", folded)
	}
}

func TestCapturedVariables(t *testing.T) {
	r := parse(t, "HTTP/1.1 201 Created\r\nLocation: /v2/queues/q/claims/abc\r\n", `{"resources":["/v2/queues/q/messages/m7"]}`)
	if got := captured(r, "header:Location"); got != "abc" {
		t.Fatalf("header capture %q", got)
	}
	if got := captured(r, "resources.0"); got != "m7" {
		t.Fatalf("body capture %q", got)
	}
	if got := captured(r, "resources.5"); got != "" {
		t.Fatalf("out of range capture %q", got)
	}
}
