package testserver

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Chromium finds Debian's browser. Under CI it must be there (the test
// script installs it); elsewhere browser tests are skipped without it.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	missing(t, "chromium (Debian's chromium package; ./scripts/test installs it)")
	return ""
}

// Artefacts is where screenshots are kept: $PITWALL_ARTEFACTS/browser
// when set (the test script sets it), else the test's temp dir.
func Artefacts(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if a := os.Getenv("PITWALL_ARTEFACTS"); a != "" {
		dir = filepath.Join(a, "browser")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Browser starts a headless Chromium of its own (its own cookies) for up
// to limit; stop closes it.
func Browser(t testing.TB, exe string, limit time.Duration) (ctx context.Context, stop func()) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.Flag("headless", true), chromedp.WindowSize(1280, 1000), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, limit)
	// Start the browser on this context: a browser started by a step's
	// shorter-lived context would close with it.
	if err := chromedp.Run(ctx); err != nil {
		t.Fatal(err)
	}
	return ctx, func() { cancelT(); cancelC(); cancelA() }
}

// Shot saves a full-page screenshot as dir/name.png.
func Shot(dir, name string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		var buf []byte
		if err := chromedp.FullScreenshot(&buf, 100).Do(ctx); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644)
	})
}

// Step runs actions with a minute to spare; on failure it keeps a
// screenshot of the page as it was (dir/failed.png) and says what the
// page said.
func Step(t testing.TB, ctx context.Context, dir string, actions ...chromedp.Action) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := chromedp.Run(sctx, actions...); err != nil {
		var text, url string
		_ = chromedp.Run(ctx, chromedp.Location(&url), chromedp.Text("main", &text, chromedp.ByQuery), Shot(dir, "failed"))
		t.Fatalf("%v at %s:\n%.800s", err, url, text)
	}
}
