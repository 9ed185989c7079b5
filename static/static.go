// Package static holds the front end: plain ES modules and CSS, embedded in
// the binary with no build step.
package static

//go:generate go run ../internal/protocoljs protocol.js

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"sync"
)

// FS holds every asset; the server serves it under /static/.
//
//go:embed *.js *.css
var FS embed.FS

var (
	hashesOnce sync.Once
	hashes     map[string]string
)

// Path returns the URL of an asset with a content hash, so that it can be
// cached forever: a changed file gets a new URL.
func Path(name string) string {
	hashesOnce.Do(func() {
		hashes = map[string]string{}
		_ = fs.WalkDir(FS, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := FS.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			hashes[p] = hex.EncodeToString(sum[:6])
			return nil
		})
	})
	if h, ok := hashes[name]; ok {
		return "/static/" + name + "?v=" + h
	}
	return "/static/" + name
}
