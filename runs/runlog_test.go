package runs

import (
	"bytes"
	"fmt"
	"testing"
)

// TestRunLogReadsAcrossChunks checks that the packed log gives back every
// line as appended, read from any cursor with any batch size, across chunk
// boundaries and around a line longer than a chunk.
func TestRunLogReadsAcrossChunks(t *testing.T) {
	l := newRunLog(StatusRunning)
	var want [][]byte
	for i := range 3*logChunkLines + 17 {
		line := []byte(fmt.Sprintf(`{"t":%d,"k":"mark","label":"line %d"}`, i, i))
		if i == logChunkLines+5 {
			line = bytes.Repeat([]byte("x"), logChunkBytes+100) // a chunk of its own
		}
		want = append(want, line)
	}
	for i := 0; i < len(want); i += 1000 { // appended in batches, as a child's reads arrive
		batch := want[i:min(i+1000, len(want))]
		scratch := make([][]byte, len(batch))
		for j, line := range batch {
			scratch[j] = append([]byte(nil), line...)
		}
		l.append(scratch...)
		for _, s := range scratch { // the log copied them: the caller may reuse its buffers
			for k := range s {
				s[k] = '?'
			}
		}
	}
	if l.count() != len(want) {
		t.Fatalf("count %d, want %d", l.count(), len(want))
	}
	for _, batch := range []int{1, 7, 5000, len(want) + 10} {
		for cursor := 0; cursor < len(want); {
			snap, err := l.read(cursor, batch)
			if err != nil {
				t.Fatal(err)
			}
			if len(snap.Lines) == 0 || len(snap.Lines) > batch {
				t.Fatalf("read(%d, %d) gave %d lines", cursor, batch, len(snap.Lines))
			}
			for j, line := range snap.Lines {
				if !bytes.Equal(line, want[cursor+j]) {
					t.Fatalf("read(%d, %d): line %d = %.40q, want %.40q", cursor, batch, cursor+j, line, want[cursor+j])
				}
			}
			cursor += len(snap.Lines)
		}
	}
	if snap, _ := l.read(len(want), 10); len(snap.Lines) != 0 || snap.Total != len(want) {
		t.Errorf("read at the end gave %d lines of %d", len(snap.Lines), snap.Total)
	}
}
