package testenv

import (
	"context"
	"os"
	"time"

	"github.com/chromedp/chromedp"
)

// Browser is a headless Debian chromium driven over the DevTools
// protocol, with a fresh profile and the flags it needs here (as root in
// a container: no sandbox, no GPU, no /dev/shm, no background
// networking); everything it does must finish within timeout.
func Browser(t TB, timeout time.Duration) context.Context {
	t.Helper()
	bin := LookPath(t, "chromium", "apt-get install chromium")
	profile, err := os.MkdirTemp("", "hotelops-chromium-")
	if err != nil {
		t.Fatalf("browser profile: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(profile) })
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.UserDataDir(profile))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancel = context.WithTimeout(ctx, timeout)
	t.Cleanup(cancel)
	return ctx
}
