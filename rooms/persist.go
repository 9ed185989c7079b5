package rooms

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// record is a room as saved on disk: everything but its subscribers. Keys
// and attendee ids are kept only as hashes.
type record struct {
	Code      string           `json:"code"`
	KeyHash   string           `json:"key_hash"`
	Created   time.Time        `json:"created"`
	Active    time.Time        `json:"active"`
	View      View             `json:"view"`
	Attendees map[string]int   `json:"attendees"`
	Questions []questionRecord `json:"questions"`
	NextQ     int              `json:"next_question"`
	Runs      []runRecord      `json:"runs"`
}

type questionRecord struct {
	ID       string       `json:"id"`
	Spec     QuestionSpec `json:"spec"`
	Asked    time.Time    `json:"asked"`
	Open     bool         `json:"open"`
	Answers  []answer     `json:"answers"`
	Run      string       `json:"run,omitempty"`
	Measured *Measured    `json:"measured,omitempty"`
	Note     string       `json:"note,omitempty"`
}

type answer struct {
	Attendee string  `json:"a"`
	Value    float64 `json:"v"`
}

type runRecord struct {
	RunEntry
	Attendee string `json:"attendee,omitempty"`
}

// record returns the room's state to save.
func (r *Room) record() record {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := record{Code: r.code, KeyHash: r.keyHash, Created: r.created, Active: r.active, View: r.view,
		Attendees: make(map[string]int, len(r.attendees)), NextQ: r.nextQ}
	for h, n := range r.attendees {
		rec.Attendees[h] = n
	}
	for _, q := range r.questions {
		qr := questionRecord{ID: q.id, Spec: q.spec, Asked: q.asked, Open: q.open, Run: q.run, Measured: q.measured, Note: q.note}
		for _, h := range q.order {
			qr.Answers = append(qr.Answers, answer{Attendee: h, Value: q.answers[h]})
		}
		rec.Questions = append(rec.Questions, qr)
	}
	for _, e := range r.runs {
		rec.Runs = append(rec.Runs, runRecord{RunEntry: *e, Attendee: e.attendee})
	}
	return rec
}

// roomFromRecord rebuilds a saved room.
func roomFromRecord(h *Hub, rec record) *Room {
	r := newRoom(h, rec.Code, rec.KeyHash, rec.Created)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.active = rec.Active
	if rec.View.Check() == nil {
		r.view = rec.View
	}
	for hash, n := range rec.Attendees {
		r.attendees[hash] = n
	}
	r.nextQ = rec.NextQ
	for _, qr := range rec.Questions {
		q := &question{id: qr.ID, spec: qr.Spec, asked: qr.Asked, open: qr.Open, answers: map[string]float64{},
			run: qr.Run, measured: qr.Measured, note: qr.Note}
		for _, a := range qr.Answers {
			if _, dup := q.answers[a.Attendee]; !dup {
				q.answers[a.Attendee] = a.Value
				q.order = append(q.order, a.Attendee)
			}
		}
		r.questions = append(r.questions, q)
		r.publishQuestionLocked(q)
	}
	for _, rr := range rec.Runs {
		e := rr.RunEntry
		e.attendee = rr.Attendee
		r.runs = append(r.runs, &e)
	}
	r.publishViewLocked()
	r.publishRunsLocked()
	r.publishPeopleLocked()
	return r
}

// fileStore keeps one JSON file per room in a directory only this user
// may read: a room's file holds its answers.
type fileStore struct{ dir string }

// roomFileSuffix ends every room file's name.
const roomFileSuffix = ".room.json"

func openFileStore(dir string) (*fileStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create the rooms directory: %w", err)
	}
	return &fileStore{dir: dir}, nil
}

func (s *fileStore) path(code string) string { return filepath.Join(s.dir, code+roomFileSuffix) }

// save writes rec atomically: a crash leaves the previous file or the new
// one, never half of one.
func (s *fileStore) save(rec record) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode room %s: %w", rec.Code, err)
	}
	tmp, err := os.CreateTemp(s.dir, rec.Code+".*.tmp")
	if err != nil {
		return fmt.Errorf("save room %s: %w", rec.Code, err)
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("save room %s: %w", rec.Code, err)
	}
	if err := os.Rename(tmp.Name(), s.path(rec.Code)); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("save room %s: %w", rec.Code, err)
	}
	return nil
}

// remove deletes a room's file.
func (s *fileStore) remove(code string) { os.Remove(s.path(code)) }

// loadAll reads every room file; one that cannot be read is logged and
// left alone, and leftover temporary files are deleted.
func (s *fileStore) loadAll(logger *slog.Logger) ([]record, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("read the rooms directory: %w", err)
	}
	var out []record
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			os.Remove(filepath.Join(s.dir, name))
			continue
		}
		code, ok := strings.CutSuffix(name, roomFileSuffix)
		if !ok {
			continue
		}
		data, err := os.ReadFile(filepath.Join(s.dir, name))
		var rec record
		if err == nil {
			err = json.Unmarshal(data, &rec)
		}
		if _, valid := NormalizeCode(code); err != nil || !valid || rec.Code != code {
			logger.Warn("room file not read: left as it is", "file", name, "err", err)
			continue
		}
		out = append(out, rec)
	}
	return out, nil
}
