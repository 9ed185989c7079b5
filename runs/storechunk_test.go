package runs

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"hash/crc32"
	"strings"
	"testing"
)

func TestChunkRoundTripAndDamage(t *testing.T) {
	lines := stateLines(700)
	var codec chunkCodec
	data, crc, err := codec.encode(lines)
	if err != nil {
		t.Fatal(err)
	}
	sum := sql.NullInt64{Int64: int64(crc), Valid: true}
	back, err := decodeChunk(data, len(lines), sum)
	if err != nil {
		t.Fatal(err)
	}
	sameLines(t, "decoded chunk", back, lines)

	flipped := bytes.Clone(data)
	flipped[len(flipped)/2] ^= 0x10
	truncated := data[:len(data)/2]
	tests := []struct {
		name    string
		data    []byte
		n       int
		crc     sql.NullInt64
		mention string
	}{
		{"a flipped bit", flipped, len(lines), sum, ""},
		{"cut short", truncated, len(lines), sum, "inflate"},
		{"not deflate at all", []byte("hello, I am not a chunk"), 1, sum, "inflate"},
		{"a line count that lies", data, len(lines) + 1, sum, "lines"},
		{"no lines claimed", data, 0, sum, "lines"},
		{"a checksum of other bytes", data, len(lines), sql.NullInt64{Int64: int64(crc ^ 1), Valid: true}, "checksum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeChunk(tt.data, tt.n, tt.crc)
			if !errors.Is(err, errChunk) {
				t.Fatalf("decodeChunk = %v, want a damaged-chunk error", err)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not mention %q", err, tt.mention)
			}
		})
	}

	// A version 1 chunk has no checksum: its lines must then be JSON.
	if _, err := decodeChunk(data, len(lines), sql.NullInt64{}); err != nil {
		t.Errorf("an unchecksummed good chunk: %v", err)
	}
	bad, _, _ := codec.encode([][]byte{[]byte(`{"t":1,"k":"lane"}`), []byte(`{"t":2,"k":`)})
	if _, err := decodeChunk(bad, 2, sql.NullInt64{}); !errors.Is(err, errChunk) {
		t.Errorf("an unchecksummed chunk with a broken line: %v", err)
	}
}

func TestChunkThatInflatesPastTheCapIsRefused(t *testing.T) {
	var codec chunkCodec
	huge := bytes.Repeat([]byte("x"), maxChunkRaw+10) // compresses to almost nothing
	data, crc, err := codec.encode([][]byte{huge})
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 1<<20 {
		t.Fatalf("the bomb is %d bytes: not a bomb", len(data))
	}
	_, err = decodeChunk(data, 1, sql.NullInt64{Int64: int64(crc), Valid: true})
	if !errors.Is(err, errChunk) || !strings.Contains(err.Error(), "MiB") {
		t.Fatalf("decodeChunk of a deflate bomb = %v, want refused past the cap", err)
	}
}

func TestChunkCacheStaysUnderItsCap(t *testing.T) {
	const max = 256 << 10
	c := newChunkCache(max)
	lines := stateLines(1024)
	for i := range 100 {
		c.put(chunkKey{run: int64(i % 7), seq: i * 1024}, lines)
		if got := c.size(); got > max {
			t.Fatalf("after %d chunks the cache holds %d bytes, over its %d cap", i+1, got, max)
		}
	}
	if c.size() == 0 {
		t.Fatal("the cache keeps nothing")
	}
	// The most recent chunk is there; the first one was pushed out.
	if _, ok := c.get(chunkKey{run: int64(99 % 7), seq: 99 * 1024}); !ok {
		t.Error("the latest chunk is not cached")
	}
	if _, ok := c.get(chunkKey{run: 0, seq: 0}); ok {
		t.Error("the oldest chunk is still cached past the cap")
	}
	// Forgetting a run forgets its chunks only.
	c.dropRun(int64(99 % 7))
	if _, ok := c.get(chunkKey{run: int64(99 % 7), seq: 99 * 1024}); ok {
		t.Error("a dropped run's chunk is still cached")
	}
	// A chunk larger than the whole cache is not kept, and pushes nothing out.
	before := c.size()
	c.put(chunkKey{run: 100}, stateLines(20_000))
	if c.size() != before {
		t.Errorf("an oversized chunk changed the cache from %d to %d bytes", before, c.size())
	}
}

// FuzzDecodeChunk feeds the store's chunk decoder arbitrary bytes, counts
// and checksums: it must never panic or inflate past its cap, and whatever
// it accepts is exactly n JSON-safe lines (each without a newline). A
// chunk encoded by the writer always decodes to what was written.
//
//	go test ./server -run '^$' -fuzz FuzzDecodeChunk -fuzztime 30s
func FuzzDecodeChunk(f *testing.F) {
	var codec chunkCodec
	for _, n := range []int{1, 3, 50} {
		data, crc, _ := codec.encode(stateLines(n))
		f.Add(data, n, int64(crc), true, []byte(nil))
	}
	f.Add([]byte{}, 1, int64(0), false, []byte(`{"t":1}`))
	f.Add([]byte("\x00\x00\xff\xff"), 1, int64(0), true, []byte("x\ny"))
	f.Fuzz(func(t *testing.T, data []byte, n int, crc int64, checked bool, payload []byte) {
		sum := sql.NullInt64{Int64: crc, Valid: checked}
		lines, err := decodeChunk(data, n, sum)
		if err == nil {
			if len(lines) != n {
				t.Fatalf("accepted %d lines, want %d", len(lines), n)
			}
			for _, l := range lines {
				if bytes.IndexByte(l, '\n') >= 0 {
					t.Fatalf("a decoded line holds a newline: %q", l)
				}
				if !checked && !json.Valid(l) {
					t.Fatalf("an unchecksummed chunk passed a line that is not JSON: %q", l)
				}
			}
		} else if !errors.Is(err, errChunk) {
			t.Fatalf("error %v is not a damaged-chunk error", err)
		}

		// Whatever lines the writer is given (without newlines), it
		// stores what decodes back to them.
		var in [][]byte
		for _, l := range bytes.Split(payload, []byte("\n")) {
			in = append(in, l)
		}
		enc, c, err := codec.encode(in)
		if err != nil {
			t.Fatal(err)
		}
		if c != crc32.ChecksumIEEE(append(bytes.Join(in, []byte("\n")), '\n')) {
			t.Fatal("the checksum is not of the lines as stored")
		}
		out, err := decodeChunk(enc, len(in), sql.NullInt64{Int64: int64(c), Valid: true})
		if err != nil {
			t.Fatalf("a chunk the writer encoded does not decode: %v", err)
		}
		for i := range in {
			if !bytes.Equal(out[i], in[i]) {
				t.Fatalf("line %d: %q, want %q", i, out[i], in[i])
			}
		}
	})
}
