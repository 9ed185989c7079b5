package server

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"interleave/runs"
	"interleave/scenarios/event"
)

// exportPage is how many event lines the exporter reads at a time.
const exportPage = 20_000

func (s *Server) exportTrace(w http.ResponseWriter, r *http.Request) error {
	run, err := s.lookupRun(r)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="interleave-%s-%s.trace.json"`, run.Scenario, run.ID))
	h.Set("Vary", "Accept-Encoding")
	sent := &countingWriter{w: w}
	var out io.Writer = sent
	var zw *gzip.Writer
	if acceptsGzip(r) {
		// A 1,000,000-event run is ~150 MB of JSON and ~10 MB gzipped;
		// the browser inflates it before saving.
		h.Set("Content-Encoding", "gzip")
		zw, _ = gzip.NewWriterLevel(sent, gzip.BestSpeed)
		out = zw
	}
	bw := bufio.NewWriterSize(out, 256<<10)
	if err := writeChromeTrace(bw, run); err != nil {
		if sent.n == 0 {
			// Nothing has left yet: answer the error instead of a file.
			h.Del("Content-Encoding")
			h.Del("Content-Disposition")
			return err
		}
		// The status and part of the file are sent. Ending the body
		// cleanly would hand the client a file that looks whole; aborting
		// the connection makes the download fail, as it should.
		s.logger.Error("export trace.json cut short: the download is aborted", "run", run.ID, "sent_bytes", sent.n, "err", err)
		panic(http.ErrAbortHandler)
	}
	if err := bw.Flush(); err != nil {
		s.logger.Debug("export trace.json: client went away", "run", run.ID, "err", err)
		return nil
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			s.logger.Debug("export trace.json: client went away", "run", run.ID, "err", err)
		}
	}
	return nil
}

// countingWriter counts the bytes handed to the response.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(coding) == "gzip" && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// writeChromeTrace writes run as a Chrome Trace Event file (JSON object
// format), the one ui.perfetto.dev and chrome://tracing open:
//
//   - a process per kind of lane: the run's own lanes, each OS process of the
//     run (lanes with a pid), and the real Go scheduler (group "sched");
//     process_name, thread_name and thread_sort_index metadata (ph M) name
//     them and keep the timeline's lane order;
//   - a thread (track) per lane, with one complete slice (ph X) per state:
//     a state lasts from its event to the lane's next state, so the slices
//     of a track follow one another and never overlap; "done" ends a lane;
//   - instants (ph i) for marks, lock operations and output, flows (ph s and
//     f with one id per arrow) and counters (ph C);
//   - ts and dur in microseconds as numbers with nanosecond decimals.
//
// A live run is exported as far as it has got.
func writeChromeTrace(w *bufio.Writer, run *runs.Run) error {
	x := &chromeExporter{w: w, lanes: map[string]*chromeTrack{}, procs: map[string]int{}, strs: map[string]string{}}
	x.runName = run.Scenario + " (" + run.Engine + ") run " + run.ID
	w.WriteString(`{"displayTimeUnit":"ns","otherData":{"run":`)
	w.Write(event.AppendString(nil, run.ID))
	w.WriteString(`,"scenario":`)
	w.Write(event.AppendString(nil, run.Scenario))
	w.WriteString(`,"engine":`)
	w.Write(event.AppendString(nil, run.Engine))
	w.WriteString(`,"source_version":`)
	w.Write(event.AppendString(nil, run.SourceVersion))
	w.WriteString(`},"traceEvents":[`)
	x.process("run", x.runName)

	for cursor := 0; ; {
		snap, err := run.Read(cursor, exportPage)
		if err != nil {
			return err
		}
		var ev exportEvent
		for _, line := range snap.Lines {
			if !x.scan(line, &ev) {
				ev = exportEvent{}
				if err := json.Unmarshal(line, &ev); err != nil {
					continue // the log holds only valid lines; skip rather than fail
				}
			}
			x.add(&ev)
		}
		cursor += len(snap.Lines)
		if len(snap.Lines) == 0 || cursor >= snap.Total {
			break
		}
	}
	x.closeAll()
	w.WriteString("]}\n")
	return nil
}
