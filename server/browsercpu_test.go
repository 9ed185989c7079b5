package server

import (
	"context"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// asAUserSeesIt turns off what the test's DevTools session adds to the
// page's cost: with the Network domain on, Chromium copies every WebSocket
// frame, payload included, to the test process. A measure of what the
// page costs a user's machine is taken without it (call it after each
// navigation).
func asAUserSeesIt() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, network.Disable, cdp.Empty{})
		return err
	})
}

// browserCPU returns the CPU time used so far by the browser of ctx and
// every process under it (renderer, GPU and utility processes), read from
// /proc: what drawing a page costs the machine it runs on.
func browserCPU(ctx context.Context) time.Duration {
	c := chromedp.FromContext(ctx)
	if c == nil || c.Browser == nil || c.Browser.Process() == nil {
		return 0
	}
	root := c.Browser.Process().Pid
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	parent := map[int]int{}
	ticks := map[int]int64{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 15 {
			continue
		}
		parent[pid], _ = strconv.Atoi(f[1])
		for _, j := range []int{11, 12, 13, 14} {
			v, _ := strconv.ParseInt(f[j], 10, 64)
			ticks[pid] += v
		}
	}
	var total int64
	for pid, t := range ticks {
		for p := pid; p > 1; p = parent[p] {
			if p == root {
				total += t
				break
			}
		}
	}
	return time.Duration(total) * 10 * time.Millisecond
}

// waitBrowserQuiet waits until the browser of ctx has settled after
// loading a page (compiling, first layout, fonts): until a quarter second
// passes in which it used under 10 % of a core, for at most 10 s. A
// measure of what a page costs starts from there.
func waitBrowserQuiet(ctx context.Context) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(context.Context, *chromedp.Target) error {
		const every = 250 * time.Millisecond
		last := browserCPU(ctx)
		deadline := time.Now().Add(10 * time.Second)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for time.Now().Before(deadline) {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-tick.C:
			}
			now := browserCPU(ctx)
			if now-last < every/10 {
				return nil
			}
			last = now
		}
		return nil
	})
}

// waitJSSeldom is waitJS asking four times a second instead of twenty: the
// polling itself runs in the page, and a measure of the page's cost must
// not be a measure of the test's questions.
func waitJSSeldom(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[bool]("!!("+expr+")", chromedp.WithPollingInterval(250*time.Millisecond), chromedp.WithPollingTimeout(60*time.Second))(ctx, t)
		return err
	})
}
