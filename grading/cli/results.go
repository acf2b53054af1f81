package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/holdfast-ci/holdfast/grading"
)

// resultFiles are the machine-readable reports `runner grade` writes besides its output:
// --ctrf (CTRF JSON) and --junit (JUnit XML); "" writes none.
type resultFiles struct{ ctrf, junit string }

// check fails before anything is graded when a report could not be written at the end.
func (r resultFiles) check() error {
	for _, f := range []struct{ flag, path string }{{"--ctrf", r.ctrf}, {"--junit", r.junit}} {
		if f.path == "" {
			continue
		}
		dir := filepath.Dir(f.path)
		st, err := os.Stat(dir)
		if err != nil || !st.IsDir() {
			return fmt.Errorf("%s %s: the directory %s does not exist; create it first, or give a path in an existing one", f.flag, f.path, dir)
		}
		if st, err := os.Stat(f.path); err == nil && st.IsDir() {
			return fmt.Errorf("%s %s is a directory; give a file name, e.g. %s", f.flag, f.path, filepath.Join(f.path, "results.xml"))
		}
	}
	if r.ctrf != "" && r.ctrf == r.junit {
		return fmt.Errorf("--ctrf and --junit both name %s; give each its own file", r.ctrf)
	}
	return nil
}

// write writes the reports of a verdict already ForView'd.
func (r resultFiles) write(v grading.Verdict, info grading.RunInfo) error {
	for _, f := range []struct {
		path  string
		write func(*bytes.Buffer) error
	}{
		{r.ctrf, func(b *bytes.Buffer) error { return grading.WriteCTRF(b, v, info) }},
		{r.junit, func(b *bytes.Buffer) error { return grading.WriteJUnit(b, v, info) }},
	} {
		if f.path == "" {
			continue
		}
		var b bytes.Buffer
		if err := f.write(&b); err != nil {
			return fmt.Errorf("write %s: %w", f.path, err)
		}
		if err := os.WriteFile(f.path, b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}
