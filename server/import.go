package server

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash"
	"io"
	"mime"
	"net/http"
	"time"

	"interleave/scenarios"
	"interleave/scenarios/event"
	"interleave/scenarios/gotrace"
)

// An imported Go execution trace is recorded as a run of this scenario and
// engine: neither is in the catalog, so the run cannot be run again.
const (
	ImportScenario = "import"
	ImportEngine   = "go-trace"
)

// importScenario is what the pages show for an imported trace.
var importScenario = scenarios.Scenario{
	ID:    ImportScenario,
	Title: "Imported Go trace",
	Topic: "your own program",
	Blurb: "A Go execution trace (runtime/trace) uploaded to this server: its goroutines and Ps as the real scheduler ran them.",
	Claim: "This is your program as the Go scheduler ran it: one lane per P (a core's worth of Go) and one per goroutine.",
}

// scenarioOf returns the catalog's scenario, the import pseudo-scenario,
// or a placeholder for a scenario this server no longer has.
func scenarioOf(id string) scenarios.Scenario {
	if id == ImportScenario {
		return importScenario
	}
	if sc, ok := scenarios.Lookup(id); ok {
		return sc
	}
	return scenarios.Scenario{ID: id, Title: id, Topic: "no longer in the catalog"}
}

// importResponse is the 201 body of POST /api/imports.
type importResponse struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	// URL is the run's permalink.
	URL        string `json:"url"`
	Events     int    `json:"events"`
	Goroutines int    `json:"goroutines"`
	Procs      int    `json:"procs"`
	Truncated  bool   `json:"truncated,omitempty"`
}

// importTrace is POST /api/imports: the body is a runtime/trace file, raw
// or as the "trace" file of a multipart form. It is parsed in full (that is
// the validation), converted to events and stored as a finished run.
func (s *Server) importTrace(w http.ResponseWriter, r *http.Request) error {
	limit := s.cfg.Limits.MaxImportBytes
	r.Body = http.MaxBytesReader(w, r.Body, limit+64<<10) // room for multipart headers
	src, name, err := importSource(r)
	if err != nil {
		return err
	}
	in := &countingReader{r: io.LimitReader(src, limit+1), h: sha256.New()}
	var lines [][]byte
	var size int64
	var summary json.RawMessage
	res, convErr := gotrace.Convert(in, int(s.cfg.Limits.MaxEvents), func(ev *event.Event) {
		line := event.Marshal(ev)
		lines = append(lines, line)
		size += int64(len(line))
		if ev.K == event.KindEnd {
			summary, _ = json.Marshal(ev.Summary)
		}
	})
	// Read what the parser left, so that the size and hash are the file's.
	if _, err := io.Copy(io.Discard, in); err != nil && convErr == nil {
		convErr = err
	}
	var mb *http.MaxBytesError
	switch {
	case in.n > limit || errors.As(convErr, &mb):
		return &http.MaxBytesError{Limit: limit} // 413
	case convErr != nil:
		var fe *gotrace.FormatError
		if errors.As(convErr, &fe) {
			return &badRequestError{msg: "trace: " + fe.Error()}
		}
		return &badRequestError{msg: "trace: the upload could not be read: " + convErr.Error()}
	}

	now := time.Now().UTC()
	params := scenarios.Params{"bytes": float64(in.n)}
	if name != "" {
		params["file"] = name
	}
	run := &Run{ID: newID(), Scenario: ImportScenario, Engine: ImportEngine, Params: params, Created: now,
		SourceVersion: "upload:" + hex.EncodeToString(in.h.Sum(nil)[:6]), log: newRunLog(StatusDone), done: make(chan struct{}),
		finishedAt: now, summary: summary, events: int64(len(lines)), bytes: size}
	run.log.append(lines...)
	close(run.done)
	s.runs.addFinished(run)
	s.logger.Info("trace imported", "run", run.ID, "file", name, "bytes", in.n, "trace_events", res.TraceEvents, "events", len(lines))

	w.Header().Set("Location", "/r/"+run.ID)
	writeJSON(w, http.StatusCreated, importResponse{ID: run.ID, Status: StatusDone, URL: "/r/" + run.ID, Events: len(lines),
		Goroutines: res.Goroutines, Procs: res.Procs, Truncated: res.Truncated})
	return nil
}

// importSource returns the trace bytes of the request: the "trace" file of
// a multipart form (or its first file), else the body itself.
func importSource(r *http.Request) (io.Reader, string, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		return r.Body, "", nil
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, "", &badRequestError{msg: "trace: the multipart form could not be read: " + err.Error()}
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, "", &badRequestError{msg: `trace: the form has no file; send the trace as the "trace" field`}
		}
		if err != nil {
			var mb *http.MaxBytesError
			if errors.As(err, &mb) {
				return nil, "", err
			}
			return nil, "", &badRequestError{msg: "trace: the multipart form could not be read: " + err.Error()}
		}
		if part.FormName() == "trace" || part.FileName() != "" {
			return part, part.FileName(), nil
		}
	}
}

// countingReader counts and hashes what is read through it.
type countingReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	c.h.Write(p[:n])
	return n, err
}
