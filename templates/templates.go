// Package templates embeds what Holdfast needs of each built-in challenge at run time: its
// challenge.yaml and brief (Files), and the starters as an archive (Starters), since Go cannot
// embed a directory that holds a go.mod, and every Go starter does. The catalog
// (scenarios/catalog) registers them as the built-in pack, the way an operator's pack registers
// its own; Parse is the one reader of challenge.yaml for both.
package templates

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Files holds <slug>/challenge.yaml and <slug>/README.md (the brief) of every built-in challenge.
//
//go:embed */challenge.yaml */README.md
var Files embed.FS

// formats are the ways a challenge can be given: practice and take-home repositories, a
// debugging task, a refactor graded by comparing base and head.
var formats = []string{"practice", "take-home", "debug", "refactor"}

// maxStartTimeout bounds a challenge's start_timeout at the grading's default hard cap
// (grading.DefaultHardCap, 120 s), which the build, the start and the scenarios share: a longer
// wait would always end at the cap, never at the start timeout.
const maxStartTimeout = 2 * time.Minute

// Meta is a challenge.yaml.
type Meta struct {
	Slug         string        `yaml:"slug"`
	Title        string        `yaml:"title"`
	Difficulty   string        `yaml:"difficulty"`
	Languages    []string      `yaml:"languages"`
	Formats      []string      `yaml:"formats"`
	StartTimeout time.Duration `yaml:"start_timeout"`
	// Replicas is how many copies of the learner's app the sandbox runs (default 1).
	Replicas int `yaml:"replicas"`
	Limits   struct {
		CPUs     float64 `yaml:"cpus"`
		MemoryMB int64   `yaml:"memory_mb"`
		Pids     int64   `yaml:"pids"`
	} `yaml:"limits"`
}

// All reads every built-in challenge.yaml (Files), sorted by slug.
func All() ([]Meta, error) { return Parse(Files) }

// Parse reads every <slug>/challenge.yaml of fsys, sorted by slug. It is strict: an unknown
// field, a slug that differs from its directory (the slug is how everything else finds the
// challenge), a missing title, language or format, or a limit out of range is an error naming
// the file. A file system without any challenge.yaml is an error too.
func Parse(fsys fs.FS) ([]Meta, error) {
	names, err := fs.Glob(fsys, "*/challenge.yaml")
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, errors.New("no <slug>/challenge.yaml at the top of the file system")
	}
	var out []Meta
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		var m Meta
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&m); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if dir := path.Dir(name); m.Slug != dir {
			return nil, fmt.Errorf("%s: slug %q differs from its directory %q", name, m.Slug, dir)
		}
		if m.Title == "" || len(m.Languages) == 0 || len(m.Formats) == 0 {
			return nil, fmt.Errorf("%s: title, languages and formats are required", name)
		}
		if m.Replicas < 0 || m.Replicas > 4 {
			return nil, fmt.Errorf("%s: replicas %d out of range 1..4", name, m.Replicas)
		}
		if m.StartTimeout <= 0 || m.StartTimeout > maxStartTimeout {
			return nil, fmt.Errorf("%s: start_timeout %s out of range (0, %s]", name, m.StartTimeout, maxStartTimeout)
		}
		for _, f := range m.Formats {
			if !slices.Contains(formats, f) {
				return nil, fmt.Errorf("%s: format %q is not one of %s", name, f, strings.Join(formats, ", "))
			}
		}
		if m.Limits.CPUs < 0 || m.Limits.MemoryMB < 0 || m.Limits.Pids < 0 {
			return nil, fmt.Errorf("%s: limits must not be negative (0 means the platform's default)", name)
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Slug < out[j].Slug })
	return out, nil
}
