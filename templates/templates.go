// Package templates embeds what Holdfast needs to know of each challenge template at run time:
// its challenge.yaml. The templates themselves (brief, starters) are published to GitHub by
// `app templates publish` and read from disk.
package templates

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"time"

	"gopkg.in/yaml.v3"
)

//go:embed */challenge.yaml
var files embed.FS

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

// All reads every challenge.yaml, sorted by slug. A file whose slug differs from its directory
// is an error: the slug is how everything else finds the challenge.
func All() ([]Meta, error) {
	names, err := fs.Glob(files, "*/challenge.yaml")
	if err != nil {
		return nil, err
	}
	var out []Meta
	for _, name := range names {
		b, err := files.ReadFile(name)
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
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Slug < out[j].Slug })
	return out, nil
}
