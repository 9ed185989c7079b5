package child

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// readBuffer is the size of the event pipe's read buffer: a read hands over
// at most this much, and a line longer than it is put together in pieces.
const readBuffer = 256 << 10

// readEvents reads event lines from r until it ends and hands them to
// onEvents in batches of what one read delivered, in read order.
//
// A line is the bytes before a newline (the last one needs none), with
// trailing carriage returns trimmed; empty lines are skipped. A line longer
// than maxLine bytes is dropped and counted in dropped: a child cannot make
// the server hold more than maxLine bytes of one line, whatever it writes.
// The slices passed to onEvents are valid only during the call: the reader
// copies a batch's lines into one buffer that it reuses for the next batch
// (a copy per line would cost an allocation per event, at up to a million
// events a second); onEvents copies what it keeps.
func readEvents(r io.Reader, maxLine int, onEvents func([][]byte)) (dropped int64) {
	br := bufio.NewReaderSize(r, readBuffer)
	batch := make([][]byte, 0, 1024)
	// arena holds the batch's lines back to back, ends where each ends:
	// the slices are cut only at the flush, as appending may move arena.
	arena := make([]byte, 0, readBuffer)
	ends := make([]int, 0, cap(batch))
	// long holds the start of a line longer than the buffer; tooLong says
	// the current line already passed maxLine and is being skipped.
	var long []byte
	tooLong := false
	flush := func() {
		if len(ends) > 0 && onEvents != nil {
			start := 0
			for _, end := range ends {
				batch = append(batch, arena[start:end:end])
				start = end
			}
			onEvents(batch)
		}
		clear(batch)
		batch, arena, ends = batch[:0], arena[:0], ends[:0]
	}
	for {
		piece, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if !tooLong {
				if len(long)+len(piece) > maxLine {
					tooLong, long = true, long[:0]
				} else {
					long = append(long, piece...)
				}
			}
			continue
		}
		if err != nil && len(piece) == 0 && len(long) == 0 && !tooLong {
			flush()
			return dropped
		}
		piece = bytes.TrimSuffix(piece, []byte{'\n'})
		switch {
		case tooLong || len(long)+len(piece) > maxLine:
			dropped++
		default:
			// Lines from ReadSlice are only valid until the next read, and
			// long is reused: keep a copy.
			line := piece
			if len(long) > 0 {
				line = append(long, piece...)
			}
			line = bytes.TrimRight(line, "\r")
			if len(line) > 0 {
				arena = append(arena, line...)
				ends = append(ends, len(arena))
			}
		}
		tooLong, long = false, long[:0]
		if err != nil {
			flush()
			return dropped
		}
		if br.Buffered() == 0 || len(ends) == cap(batch) {
			flush()
		}
	}
}
