package runs

import (
	"bytes"
	"compress/flate"
	"container/list"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"
)

// A chunk (one row of events) holds at most chunkLines lines or chunkBytes
// bytes of them (its first line may be longer): small enough that a replay
// page decodes little it does not send, large enough to compress well.
const (
	chunkLines = 1024
	chunkBytes = 64 << 10
	// maxChunkRaw bounds what one stored chunk may inflate to: a chunk's
	// lines are at most chunkBytes plus one event line (the child's reader
	// caps a line at 1 MiB; re-encoding an end event's strings may escape
	// some of their characters), so anything larger is damage (or a hostile
	// file) and is refused before it fills memory.
	maxChunkRaw = 16 << 20
)

// chunkCodec deflates chunks, reusing its buffers; one goroutine uses it.
type chunkCodec struct {
	raw bytes.Buffer
	zw  *flate.Writer
}

// encode returns lines, each followed by a newline, deflated, and the
// CRC-32 of the undeflated bytes, which decodeChunk checks: deflate alone
// has no checksum, so a flipped bit could inflate to other lines.
func (c *chunkCodec) encode(lines [][]byte) (data []byte, crc uint32, err error) {
	c.raw.Reset()
	for _, line := range lines {
		c.raw.Write(line)
		c.raw.WriteByte('\n')
	}
	var out bytes.Buffer
	if c.zw == nil {
		c.zw, _ = flate.NewWriter(&out, flate.BestSpeed)
	} else {
		c.zw.Reset(&out)
	}
	if _, err := c.zw.Write(c.raw.Bytes()); err != nil {
		return nil, 0, err
	}
	if err := c.zw.Close(); err != nil {
		return nil, 0, err
	}
	return out.Bytes(), crc32.ChecksumIEEE(c.raw.Bytes()), nil
}

// errChunk is the cause of every decoding failure: the bytes stored are
// not the lines that were written.
var errChunk = errors.New("damaged chunk")

// decodeChunk returns the n lines of a stored chunk, or an error wrapping
// errChunk when the chunk does not inflate, inflates past maxChunkRaw, fails
// its checksum or does not hold n lines. A chunk of a version 1 file has no
// checksum (crc is NULL): each of its lines must then be valid JSON.
func decodeChunk(data []byte, n int, crc sql.NullInt64) ([][]byte, error) {
	if n < 1 || n > maxChunkRaw/2 {
		return nil, fmt.Errorf("%w: it claims %d lines", errChunk, n)
	}
	raw, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(data)), maxChunkRaw+1))
	if err != nil {
		return nil, fmt.Errorf("%w: it does not inflate: %v", errChunk, err)
	}
	if len(raw) > maxChunkRaw {
		return nil, fmt.Errorf("%w: it inflates past %d MiB", errChunk, maxChunkRaw>>20)
	}
	if crc.Valid && uint32(crc.Int64) != crc32.ChecksumIEEE(raw) {
		return nil, fmt.Errorf("%w: its checksum does not match its contents", errChunk)
	}
	lines := make([][]byte, 0, min(n, chunkLines)) // n is not trusted until counted
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, '\n')
		if i < 0 {
			return nil, fmt.Errorf("%w: it does not end in a newline", errChunk)
		}
		if len(lines) == n {
			return nil, fmt.Errorf("%w: it holds more than %d lines", errChunk, n)
		}
		line := raw[:i:i]
		if !crc.Valid && !json.Valid(line) {
			return nil, fmt.Errorf("%w: line %d is not JSON", errChunk, len(lines))
		}
		lines = append(lines, line)
		raw = raw[i+1:]
	}
	if len(lines) != n {
		return nil, fmt.Errorf("%w: it holds %d lines, not %d", errChunk, len(lines), n)
	}
	return lines, nil
}

// DamagedError says a recorded run's events cannot be read back as they
// were written: a chunk is missing, does not inflate or fails its checksum,
// or the database itself reports damage. Replays and exports stop there
// rather than pass off what precedes as the whole run.
type DamagedError struct {
	Run string
	// Line is the first event that cannot be read (0-based).
	Line int
	Err  error
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("the recording of run %s is damaged from event %d on: %v", e.Run, e.Line, e.Err)
}

func (e *DamagedError) Unwrap() error { return e.Err }

// chunkKey names a stored chunk: the run's key and the chunk's first line.
type chunkKey struct {
	run int64
	seq int
}

// chunkCache keeps recently decoded chunks, at most max bytes of them
// (lines plus a per-line and per-chunk overhead), least recently used out
// first. Viewers of one replay (a room following a presenter) then inflate
// each chunk once, and the server's memory stays bounded whatever it serves.
// Cached lines are shared: nobody may modify them.
type chunkCache struct {
	mu    sync.Mutex
	max   int64
	bytes int64
	order *list.List // front: most recent; values are *cachedChunk
	byKey map[chunkKey]*list.Element
}

type cachedChunk struct {
	key   chunkKey
	lines [][]byte
	size  int64
}

// Overheads counted per cached chunk and per line (slice headers, the map
// entry and list element), so that many tiny lines are not undercounted.
const (
	chunkOverhead = 128
	lineOverhead  = 24
)

func newChunkCache(max int64) *chunkCache {
	return &chunkCache{max: max, order: list.New(), byKey: map[chunkKey]*list.Element{}}
}

func (c *chunkCache) get(k chunkKey) ([][]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[k]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*cachedChunk).lines, true
	}
	return nil, false
}

func (c *chunkCache) put(k chunkKey, lines [][]byte) {
	size := int64(chunkOverhead)
	for _, l := range lines {
		size += int64(len(l)) + lineOverhead
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if size > c.max {
		return
	}
	if e, ok := c.byKey[k]; ok {
		c.bytes -= e.Value.(*cachedChunk).size
		c.order.Remove(e)
	}
	c.byKey[k] = c.order.PushFront(&cachedChunk{key: k, lines: lines, size: size})
	c.bytes += size
	for c.bytes > c.max {
		c.removeLocked(c.order.Back())
	}
}

func (c *chunkCache) removeLocked(e *list.Element) {
	cc := e.Value.(*cachedChunk)
	c.order.Remove(e)
	delete(c.byKey, cc.key)
	c.bytes -= cc.size
}

// dropRun forgets every chunk of run key: it was deleted, and SQLite may
// give its key to the next run.
func (c *chunkCache) dropRun(key int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for e := c.order.Front(); e != nil; {
		next := e.Next()
		if e.Value.(*cachedChunk).key.run == key {
			c.removeLocked(e)
		}
		e = next
	}
}

// size returns the bytes held.
func (c *chunkCache) size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}
