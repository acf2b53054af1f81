// Package templates embeds what Holdfast needs of each built-in challenge at run time: its
// challenge.yaml and brief (Files), and the starters as an archive (Starters), since Go cannot
// embed a directory that holds a go.mod, and every Go starter does. It is also the one place a
// challenge is built: Challenge reads a <slug>/challenge.yaml, strictly, and joins it with the
// challenge's scenario table into the grading.Challenge every layer uses. The catalog
// (scenarios/catalog) builds the built-in pack's challenges and every operator's pack's with
// it; scenariotest builds one challenge for its kill matrix the same way.
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

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/scenarios"
)

// Files holds <slug>/challenge.yaml and <slug>/README.md (the brief) of every built-in challenge.
//
//go:embed */challenge.yaml */README.md
var Files embed.FS

// formats are the ways a challenge can be given: practice and take-home repositories, a
// debugging task, a refactor graded by comparing base and head, a capacity claim graded for
// its honesty under load (issue 17).
var formats = []string{"practice", "take-home", "debug", "refactor", "capacity"}

// maxStartTimeout bounds a challenge's start_timeout at the grading's default hard cap, which
// the build, the start and the scenarios share: a longer wait would always end at the cap,
// never at the start timeout.
const maxStartTimeout = grading.DefaultHardCap

// challengeFile is a challenge.yaml as written; Challenge maps it onto grading.Challenge, the
// only place its fields are read.
type challengeFile struct {
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

// Slugs lists the challenges of fsys: the directories at its top that hold a challenge.yaml,
// sorted. A file system without any is an error.
func Slugs(fsys fs.FS) ([]string, error) {
	names, err := fs.Glob(fsys, "*/challenge.yaml")
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, errors.New("no <slug>/challenge.yaml at the top of the file system")
	}
	slugs := make([]string, 0, len(names))
	for _, name := range names {
		slugs = append(slugs, path.Dir(name))
	}
	sort.Strings(slugs)
	return slugs, nil
}

// Challenge reads <slug>/challenge.yaml of fsys and joins it with the challenge's scenario
// table. It is strict: an unknown field, a slug that differs from its directory (the slug is
// how everything else finds the challenge), a missing title, language or format, an unknown
// format, a start timeout outside (0, 2 min] or a negative limit is an error naming the file;
// an empty table, or one scenarios.Validate refuses, is an error naming the challenge. Limits
// left at 0 stay 0: grading.Limits.WithDefaults fills them when the challenge is graded.
func Challenge(fsys fs.FS, slug string, table []scenarios.Scenario) (grading.Challenge, error) {
	m, err := parse(fsys, slug)
	if err != nil {
		return grading.Challenge{}, err
	}
	if len(table) == 0 {
		return grading.Challenge{}, fmt.Errorf("the scenario table of %s is empty", slug)
	}
	if err := scenarios.Validate(table); err != nil {
		return grading.Challenge{}, fmt.Errorf("the scenario table of %s: %w", slug, err)
	}
	return grading.Challenge{Slug: m.Slug, Title: m.Title, Difficulty: m.Difficulty, Languages: m.Languages,
		Formats: m.Formats, Scenarios: table, Limits: grading.Limits{CPUs: m.Limits.CPUs, MemoryMB: m.Limits.MemoryMB,
			Pids: m.Limits.Pids, StartTimeout: m.StartTimeout, Replicas: m.Replicas}}, nil
}

// parse reads <slug>/challenge.yaml of fsys and checks it (Challenge says how).
func parse(fsys fs.FS, slug string) (challengeFile, error) {
	name := slug + "/challenge.yaml"
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return challengeFile{}, err
	}
	var m challengeFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		return challengeFile{}, fmt.Errorf("%s: %w", name, err)
	}
	if m.Slug != slug {
		return challengeFile{}, fmt.Errorf("%s: slug %q differs from its directory %q", name, m.Slug, slug)
	}
	if m.Title == "" || len(m.Languages) == 0 || len(m.Formats) == 0 {
		return challengeFile{}, fmt.Errorf("%s: title, languages and formats are required", name)
	}
	if m.Replicas < 0 || m.Replicas > 4 {
		return challengeFile{}, fmt.Errorf("%s: replicas %d out of range 1..4", name, m.Replicas)
	}
	if m.StartTimeout <= 0 || m.StartTimeout > maxStartTimeout {
		return challengeFile{}, fmt.Errorf("%s: start_timeout %s out of range (0, %s]", name, m.StartTimeout, maxStartTimeout)
	}
	for _, f := range m.Formats {
		if !slices.Contains(formats, f) {
			return challengeFile{}, fmt.Errorf("%s: format %q is not one of %s", name, f, strings.Join(formats, ", "))
		}
	}
	if m.Limits.CPUs < 0 || m.Limits.MemoryMB < 0 || m.Limits.Pids < 0 {
		return challengeFile{}, fmt.Errorf("%s: limits must not be negative (0 means the platform's default)", name)
	}
	return m, nil
}
