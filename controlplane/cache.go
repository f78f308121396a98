package controlplane

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// readFileLimited reads a whole regular file of at most limit bytes; a larger
// one is an error wrapping ErrTooLarge, and is not read past the limit.
func readFileLimited(path string, limit int64) ([]byte, error) {
	f, _, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: %s: more than %d bytes", ErrTooLarge, path, limit)
	}
	return data, nil
}

// writeFileAtomic replaces path with data so that a reader — or a crash — sees
// either the old content or the new, never a mix: it writes a temporary file in
// the same directory (rename is atomic only within one file system), fsyncs it,
// renames it over path, then fsyncs the directory so the rename itself is durable.
func writeFileAtomic(path string, data []byte) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	// Best effort: not every platform can fsync a directory.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
