package server

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/net/html"

	"interleave/internal/timingclaim"
)

// damageChunk flips one byte in the middle of the index-th chunk of run id,
// as a bad sector or a bad copy would.
func damageChunk(t *testing.T, st *Store, id string, index int) {
	t.Helper()
	var key int64
	var seq int
	var data []byte
	err := st.DB().QueryRow(`SELECT run, seq, data FROM events WHERE run = (SELECT n FROM runs WHERE id = ?) ORDER BY seq LIMIT 1 OFFSET ?`, id, index).Scan(&key, &seq, &data)
	if err != nil {
		t.Fatalf("chunk %d of %s: %v", index, id, err)
	}
	data[len(data)/2] ^= 0x55
	if _, err := st.DB().Exec(`UPDATE events SET data = ? WHERE run = ? AND seq = ?`, data, key, seq); err != nil {
		t.Fatal(err)
	}
	if err := st.DropCachedChunks(context.Background(), id); err != nil {
		t.Fatal(err)
	}
}

// getTraceRaw downloads a run's trace.json, gzipped or not, and returns the
// status, the body as far as it came, and the error that ended reading it.
func getTraceRaw(t *testing.T, ts *testServer, id string, gz bool) (int, []byte, error) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/api/runs/"+id+"/trace.json", nil)
	if gz {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body io.Reader = resp.Body
	if resp.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return resp.StatusCode, nil, err
		}
		body = zr
	}
	data, err := io.ReadAll(body)
	return resp.StatusCode, data, err
}

// TestDamagedRecordingFailsExportAndReplay damages one chunk in the middle
// of a recorded run. Before, the export answered 200 with a cleanly ended
// body that was not valid JSON, and nothing said the recording was damaged.
func TestDamagedRecordingFailsExportAndReplay(t *testing.T) {
	const n = 60_000
	ts := newTestServer(t, nil, &floodEngine{events: n})
	id := ts.runToEnd(t, `{"scenario":"locks","engine":"go"}`)
	damageChunk(t, ts.srv.store, id, 40) // about event 40,000

	for _, gz := range []bool{false, true} {
		code, body, err := getTraceRaw(t, ts, id, gz)
		if code != http.StatusOK || err == nil {
			t.Errorf("trace.json (gzip %v) of a damaged run: %d, read error %v after %d bytes; want the download to fail", gz, code, err, len(body))
		}
		if json.Valid(body) {
			t.Errorf("trace.json (gzip %v) of a damaged run is valid JSON", gz)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v := ts.watchRaw(ctx, t, id)
	if v.close != CloseRecordingDamaged || v.final() != "" {
		t.Errorf("replay of a damaged run: close %v, final status %q; want close %d and no final status", v.close, v.final(), CloseRecordingDamaged)
	}
	if len(v.lines) == 0 || len(v.lines) >= n {
		t.Errorf("replay sent %d events; want those before the damage only", len(v.lines))
	}

	// The run says so from then on, in the API and on its page.
	var in Info
	for deadline := time.Now().Add(10 * time.Second); ; {
		if in = ts.info(t, id); in.Damaged != "" || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(in.Damaged, "damaged from event") {
		t.Errorf("GET /api/runs/%s: damaged %q", id, in.Damaged)
	}
	resp, err := http.Get(ts.URL + "/r/" + id)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if note := findByID(doc, "damaged"); note == nil || !strings.Contains(textOf(note), "recording is damaged") {
		t.Errorf("the run page does not say the recording is damaged")
	}

	// Damage before the first byte is sent: a clear error, not a file.
	other := ts.runToEnd(t, `{"scenario":"locks","engine":"go"}`)
	damageChunk(t, ts.srv.store, other, 0)
	resp, err = http.Get(ts.URL + "/api/runs/" + other + "/trace.json")
	if err != nil {
		t.Fatal(err)
	}
	var e struct{ Error string }
	json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(e.Error, "damaged") || resp.Header.Get("Content-Disposition") != "" {
		t.Errorf("trace.json damaged at its first chunk: %d %q (disposition %q)", resp.StatusCode, e.Error, resp.Header.Get("Content-Disposition"))
	}
}

// TestBrowserDamagedReplaySaysSo opens the page of a run whose recording
// was damaged since it was last read: the replay stops, and the page says
// the recording is damaged instead of offering to reconnect.
func TestBrowserDamagedReplaySaysSo(t *testing.T) {
	browserTest(t)
	timingclaim.Heavy(t)
	ts := newTestServer(t, nil, &floodEngine{events: 30_000})
	id := ts.runToEnd(t, `{"scenario":"locks","engine":"go"}`)
	damageChunk(t, ts.srv.store, id, 20)
	ctx := newBrowser(t)
	var message, status string
	var reconnect bool
	err := chromedp.Do(ctx,
		chromedp.Navigate(ts.URL+"/r/"+id),
		waitJS(`document.querySelector('#run-message') && !document.querySelector('#run-message').hidden`),
		textInto(chromedp.ID("run-message"), &message),
		textInto(chromedp.ID("status"), &status),
		evalInto(`!!document.querySelector('#reconnect')`, &reconnect),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(message, "recording of this run is damaged") || reconnect {
		t.Errorf("message %q (reconnect offered: %v); want it to say the recording is damaged, without a reconnect", message, reconnect)
	}
	if strings.Contains(status, "done") {
		t.Errorf("status %q for a replay cut short", status)
	}
}

// findByID returns the element with id, or nil.
func findByID(n *html.Node, id string) *html.Node {
	if n.Type == html.ElementNode {
		for _, a := range n.Attr {
			if a.Key == "id" && a.Val == id {
				return n
			}
		}
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := findByID(c, id); f != nil {
			return f
		}
	}
	return nil
}

// textOf returns the text inside n.
func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}
