package runs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// The store holds every recorded run: what people ran, when, and what it
// printed. Other users of the machine may not read it, so the data
// directory is created 0700 and the database files are 0600 (SQLite gives
// its -wal and -shm files the mode of the database file).

// dataDirMode is the mode of a data directory the server creates. An
// existing directory keeps its mode: it may be one the user chose, such as
// the current directory.
const dataDirMode = 0o700

// storeFileMode is the mode of every database file.
const storeFileMode = 0o600

// makeStoreFilesPrivate gives mode 0600 to the database files at path:
// the ones SQLite has just created (with the process's umask, usually
// 0644) and the ones a previous version left readable by others. The store
// calls it once the database is open, when the files exist. (SQLite
// creates a -wal or -shm file later with the mode of the database file.)
func makeStoreFilesPrivate(path string) error {
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		if err := os.Chmod(p, storeFileMode); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("make %s private: %w", p, err)
		}
	}
	return nil
}
