package child

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"testing"
)

// splitLines is the line reader's rule, written as plainly as possible: the
// bytes before each newline (and after the last), trailing carriage returns
// trimmed, empty lines skipped, lines longer than maxLine dropped.
func splitLines(data []byte, maxLine int) (lines [][]byte, dropped int64) {
	if len(data) == 0 {
		return nil, 0
	}
	parts := bytes.Split(data, []byte{'\n'})
	if len(parts[len(parts)-1]) == 0 {
		parts = parts[:len(parts)-1] // data ended with a newline
	}
	for _, p := range parts {
		if len(p) > maxLine {
			dropped++
			continue
		}
		if p = bytes.TrimRight(p, "\r"); len(p) > 0 {
			lines = append(lines, p)
		}
	}
	return lines, dropped
}

// chunkReader hands out data in reads of the given sizes (cycled), the way
// a pipe delivers what a child wrote in pieces.
type chunkReader struct {
	data  []byte
	sizes []int
	i     int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := 1
	if len(r.sizes) > 0 {
		n = max(1, r.sizes[r.i%len(r.sizes)])
		r.i++
	}
	n = min(n, len(p), len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// checkReader runs readEvents on data and compares with splitLines.
func checkReader(t *testing.T, data []byte, maxLine int, sizes []int) {
	t.Helper()
	var got [][]byte
	var batches int
	dropped := readEvents(&chunkReader{data: data, sizes: sizes}, maxLine, func(batch [][]byte) {
		batches++
		if len(batch) == 0 {
			t.Error("an empty batch was handed over")
		}
		for _, l := range batch {
			got = append(got, bytes.Clone(l)) // valid only during the call
		}
	})
	want, wantDropped := splitLines(data, maxLine)
	if dropped != wantDropped {
		t.Errorf("dropped %d lines, want %d (maxLine %d)", dropped, wantDropped, maxLine)
	}
	if !slices.EqualFunc(got, want, bytes.Equal) {
		t.Errorf("maxLine %d, reads %v:\n got %q\nwant %q", maxLine, sizes, got, want)
	}
	for _, l := range got {
		if len(l) > maxLine || bytes.ContainsRune(l, '\n') || len(l) == 0 {
			t.Errorf("line %q breaks the rules (maxLine %d)", l, maxLine)
		}
	}
}

func TestReadEvents(t *testing.T) {
	big := strings.Repeat("x", readBuffer+10)
	for _, tc := range []struct {
		name    string
		data    string
		maxLine int
	}{
		{"lines", "{\"a\":1}\n{\"b\":2}\n", 100},
		{"no final newline", "a\nb", 100},
		{"crlf and blank lines", "a\r\n\r\n\n b \r\r\n", 100},
		{"too long in the buffer", "short\n" + strings.Repeat("y", 50) + "\nnext\n", 10},
		{"exactly the limit", "0123456789\n01234567890\n", 10},
		{"longer than the buffer, kept", big + "\nafter\n", 2 * readBuffer},
		{"longer than the buffer, dropped", big + "\nafter\n", readBuffer},
		{"longer than the buffer at the end", "before\n" + big, readBuffer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkReader(t, []byte(tc.data), tc.maxLine, nil)
			checkReader(t, []byte(tc.data), tc.maxLine, []int{1 << 20})
			checkReader(t, []byte(tc.data), tc.maxLine, []int{3, 1, 7})
		})
	}
}

// FuzzReadEvents checks the fd-3 line reader against the plain rule for
// any bytes a child might write, read in pieces of any sizes.
// The corpus is in testdata/fuzz/FuzzReadEvents; run it longer with
// go test ./scenarios/child -run '^$' -fuzz FuzzReadEvents -fuzztime 30s.
func FuzzReadEvents(f *testing.F) {
	f.Add([]byte("{\"t\":1,\"k\":\"lane\"}\n{\"t\":2}\n"), uint16(64), []byte{5})
	f.Add([]byte("a\r\n\r\nbb\rb\r\r\n\n"), uint16(2), []byte{1, 2, 3})
	f.Add([]byte("no newline at the end"), uint16(100), []byte{})
	f.Add(bytes.Repeat([]byte("z"), 3000), uint16(1000), []byte{200, 1})
	f.Fuzz(func(t *testing.T, data []byte, maxLine uint16, reads []byte) {
		sizes := make([]int, len(reads))
		for i, r := range reads {
			sizes[i] = int(r)
		}
		if maxLine == 0 {
			maxLine = 1
		}
		checkReader(t, data, int(maxLine), sizes)
	})
}
