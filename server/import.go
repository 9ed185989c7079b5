package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"mime"
	"net/http"
	"time"

	"interleave/runs"
	"interleave/scenarios"
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

// ImportsBusyError says as many uploads as the server parses at once are
// being parsed, and when to try again.
type ImportsBusyError struct {
	Max        int
	RetryAfter time.Duration
}

func (e *ImportsBusyError) httpStatus() int           { return http.StatusTooManyRequests }
func (e *ImportsBusyError) retryAfter() time.Duration { return e.RetryAfter }

func (e *ImportsBusyError) Error() string {
	return fmt.Sprintf("too many imports at once: this server converts at most %d uploaded traces at a time; try again in %d s", e.Max, int(e.RetryAfter.Seconds()))
}

// isEndLine reports whether line is an end event as event.Marshal writes
// it: its kind follows its time, within the first few bytes.
func isEndLine(line []byte) bool {
	return bytes.Contains(line[:min(len(line), 48)], []byte(`,"k":"end"`))
}

// importRetryAfter is what a client refused by the import limit is told to
// wait: about what converting a large trace takes.
const importRetryAfter = 10 * time.Second

// importTrace is POST /api/imports: the body is a runtime/trace file, raw
// or as the "trace" file of a multipart form. A child process parses it in
// full (that is the validation; see convertInChild) while its events stream
// into the store, batch by batch, so that the server's memory does not grow
// with the file; a file the parser rejects is deleted from the store again. At most
// Limits.MaxImports uploads are converted at once; beyond, 429.
func (s *Server) importTrace(w http.ResponseWriter, r *http.Request) error {
	select {
	case s.imports <- struct{}{}:
		defer func() { <-s.imports }()
	default:
		return &ImportsBusyError{Max: cap(s.imports), RetryAfter: importRetryAfter}
	}
	limit := s.cfg.Limits.MaxImportBytes
	r.Body = http.MaxBytesReader(w, r.Body, limit+64<<10) // room for multipart headers
	src, name, err := importSource(r)
	if err != nil {
		return err
	}
	imp, err := s.store.BeginImport(r.Context(), ImportScenario, ImportEngine)
	if err != nil {
		return err
	}
	defer imp.Abort() // does nothing once committed

	in := &countingReader{r: io.LimitReader(src, limit+1), h: sha256.New()}
	var summary json.RawMessage
	res, convErr := s.convertInChild(r.Context(), in, func(line []byte) error {
		if isEndLine(line) {
			var end struct {
				Summary json.RawMessage `json:"summary"`
			}
			if json.Unmarshal(line, &end) == nil {
				summary = end.Summary
			}
		}
		imp.Add(bytes.Clone(line))
		return imp.Err() // a failed write stops the conversion
	})
	if imp.Err() != nil {
		return imp.Err()
	}
	// Read what the converter left, so that the size and hash are the file's.
	if _, err := io.Copy(io.Discard, in); err != nil && convErr == nil {
		convErr = err
	}
	var mb *http.MaxBytesError
	switch {
	case in.n > limit || errors.As(convErr, &mb):
		return &http.MaxBytesError{Limit: limit} // 413
	case convErr != nil:
		return convErr
	}

	params := scenarios.Params{"bytes": float64(in.n)}
	if name != "" {
		params["file"] = name
	}
	if err := imp.Commit(params, "upload:"+hex.EncodeToString(in.h.Sum(nil)[:6]), summary); err != nil {
		return err
	}
	s.logger.Info("trace imported", "run", imp.ID(), "file", name, "bytes", in.n, "trace_events", res.TraceEvents, "events", imp.Lines())

	w.Header().Set("Location", "/r/"+imp.ID())
	writeJSON(w, http.StatusCreated, importResponse{ID: imp.ID(), Status: runs.StatusDone, URL: "/r/" + imp.ID(), Events: imp.Lines(),
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
