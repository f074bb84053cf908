package syncgen

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Generate loads the declaration file at path, checks that the statements
// it names (overrides, look-ups) are hand-written in the queries folder,
// and renders its files, their
// paths resolved against path's directory: those of Render and, when the
// declarations name a sqlc configuration (sqlc:), that file with the block
// between its lines "// BEGIN tvsync gen" and "// END tvsync gen" (in the
// CEL source of the no-select-star vet rule) rewritten to the column lists
// of every table of its schema (SchemaTables).
func Generate(path string) ([]File, error) {
	cfg, err := Load(path)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	if err := cfg.checkHandWritten(dir); err != nil {
		return nil, err
	}
	files, err := cfg.Render()
	if err != nil {
		return nil, err
	}
	for i := range files {
		files[i].Path = filepath.Join(dir, files[i].Path)
	}
	if cfg.Sqlc != "" {
		f, err := renderSqlc(filepath.Join(dir, filepath.FromSlash(cfg.Sqlc)))
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

// Stale returns the paths of the files whose contents on disk differ from
// the generated ones, or that are missing, in the order given.
func Stale(files []File) ([]string, error) {
	var stale []string
	for _, f := range files {
		got, err := os.ReadFile(f.Path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			stale = append(stale, f.Path)
		case err != nil:
			return nil, fmt.Errorf("tvsync gen: read %s: %w", f.Path, err)
		case !bytes.Equal(got, f.Content):
			stale = append(stale, f.Path)
		}
	}
	return stale, nil
}

// Write writes the files whose contents differ from the generated ones
// (creating their folders) and returns their paths.
func Write(files []File) ([]string, error) {
	stale, err := Stale(files)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		for _, s := range stale {
			if s != f.Path {
				continue
			}
			if err := os.MkdirAll(filepath.Dir(f.Path), 0o755); err != nil {
				return nil, fmt.Errorf("tvsync gen: %w", err)
			}
			if err := os.WriteFile(f.Path, f.Content, 0o644); err != nil {
				return nil, fmt.Errorf("tvsync gen: %w", err)
			}
		}
	}
	return stale, nil
}
