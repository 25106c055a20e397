package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/zaqar-go/zaqar/internal/testenv"
)

const chromiumPath = "/usr/bin/chromium" // Debian's chromium

// needChromium installs Debian's chromium with scripts/install-test-peers.sh
// when it is missing.
func needChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err == nil {
		return
	}
	if out, err := exec.Command("../scripts/install-test-peers.sh", "chromium").CombinedOutput(); err != nil {
		testenv.Unavailable(t, "chromium is missing and could not be installed: %v: %s", err, strings.TrimSpace(string(out)))
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		testenv.Unavailable(t, "chromium is not at %s after install", chromiumPath)
	}
}

// TestBrowserExample: headless Chromium opens examples/websocket/index.html,
// which subscribes its WebSocket to a queue; a message posted over HTTP
// appears on the page.
func TestBrowserExample(t *testing.T) {
	needChromium(t)
	p, wsURL := startWithWebSocket(t)
	pages := httptest.NewServer(http.FileServer(http.Dir("../examples/websocket")))
	defer pages.Close()

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	browser, cancel := chromedp.NewContext(actx)
	defer cancel()

	// The first action starts the browser: its context must not time out
	// (chromedp.Run); later ones are bounded.
	page := pages.URL + "/index.html?" + url.Values{"ws": {wsURL}, "queue": {"live"}, "project": {"browser"}}.Encode()
	if err := chromedp.Do(browser, chromedp.Navigate(page)); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(browser, 60*time.Second)
	defer cancelTimeout()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(`//p[@id="status" and text()="subscribed"]`)); err != nil {
		t.Fatalf("page did not subscribe: %v\nserver log:\n%s", err, p.log)
	}
	code, body := p.request("POST", "/v2/queues/live/messages", `{"messages":[{"body":{"hello":"browser"},"ttl":300}]}`,
		"X-Project-ID: browser")
	if code != 201 {
		t.Fatalf("post: %d %s", code, body)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(`//ul[@id="messages"]/li`)); err != nil {
		html, _ := chromedp.Run(browser, chromedp.Evaluate[string](`document.body.innerHTML`))
		t.Fatalf("message not shown: %v\npage:\n%s", err, html)
	}
	shown, err := chromedp.Run(ctx, chromedp.Text(`//ul[@id="messages"]/li`))
	if err != nil {
		t.Fatal(err)
	}
	if shown != `{"hello":"browser"}` {
		t.Fatalf("page shows %q", shown)
	}
	// A message of another project's queue of the same name is not shown.
	if code, _ := p.request("POST", "/v2/queues/live/messages", `{"messages":[{"body":"other project"}]}`, "X-Project-ID: other"); code != 201 {
		t.Fatal("post to the other project failed")
	}
	code, _ = p.request("POST", "/v2/queues/live/messages", `{"messages":[{"body":"second"}]}`, "X-Project-ID: browser")
	if code != 201 {
		t.Fatal("second post failed")
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(`//ul[@id="messages"]/li[text()='"second"']`)); err != nil {
		t.Fatalf("second message not shown: %v", err)
	}
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#messages li").length`))
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("%d messages shown, want 2 (the other project's must not be)", n)
	}
}
