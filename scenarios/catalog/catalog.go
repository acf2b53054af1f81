// Package catalog lists the challenges Holdfast can grade. Challenges come in packs: a pack
// holds its challenges' files (<slug>/challenge.yaml, the brief, the starters) and their
// scenario tables. Holdfast's twelve challenges are one pack (Builtin), built from templates/ and
// scenarios/<slug>/; an operator adds private challenges with a pack of their own, a Go module
// outside this repository whose root package has a Pack function, compiled into the runner and
// the App by `runner pack build` (README, "Challenge packs"). The commands' wiring passes the
// packs to New; both kinds take the same path: each challenge built by templates.Challenge from
// its challenge.yaml and scenario table, the slugs unique across packs.
package catalog

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync"
	"testing/fstest"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/cachestampede"
	"github.com/holdfast-ci/holdfast/scenarios/capacitycheckout"
	"github.com/holdfast-ci/holdfast/scenarios/circuitbreaker"
	"github.com/holdfast-ci/holdfast/scenarios/debugretrystorm"
	"github.com/holdfast-ci/holdfast/scenarios/distributedlock"
	"github.com/holdfast-ci/holdfast/scenarios/flashsale"
	"github.com/holdfast-ci/holdfast/scenarios/gracefulshutdown"
	"github.com/holdfast-ci/holdfast/scenarios/idempotentpayments"
	"github.com/holdfast-ci/holdfast/scenarios/loadshedding"
	"github.com/holdfast-ci/holdfast/scenarios/ratelimiter"
	"github.com/holdfast-ci/holdfast/scenarios/refactororderpricing"
	"github.com/holdfast-ci/holdfast/scenarios/webhookreceiver"
	"github.com/holdfast-ci/holdfast/templates"
)

// Pack is a set of challenges given together: an operator's pack module returns it from its
// root package's Pack function, Holdfast's own is Builtin.
type Pack struct {
	// Name says whose pack it is in errors: its module path, e.g. "example.com/holdfastpack".
	// Required and unique.
	Name string
	// Files holds one directory per challenge, named by its slug:
	//
	//	<slug>/challenge.yaml   metadata and limits (required), read as strictly as the built-ins'
	//	<slug>/README.md        the brief
	//	<slug>/starter/<lang>/  the starter of each language in challenge.yaml
	//
	// A Go starter keeps its go.mod as _go.mod (publication renames it back): Go neither embeds
	// nor ships in a module a directory that holds a go.mod. An embed.FS with an "all:" pattern
	// (starters have dot files such as .dockerignore) is the usual value. Reference solutions
	// and anything else secret do not belong here: Files is what learners receive.
	Files fs.FS
	// Scenarios maps each challenge's slug to its scenario table. Every challenge in Files
	// needs a table and every table a challenge.
	Scenarios map[string]func() []scenarios.Scenario
}

// BuiltinName is the Name of the pack of Holdfast's own challenges (in grading.Challenge.Pack
// and errors).
const BuiltinName = "github.com/holdfast-ci/holdfast (built-in)"

// Builtin is Holdfast's own pack: templates' embedded files and the scenario tables of
// scenarios/<slug>/. cmd/runner and cmd/app pass it to the commands, first.
func Builtin() Pack {
	return Pack{Name: BuiltinName, Files: builtinFiles{join: sync.OnceValues(joinBuiltin)}, Scenarios: map[string]func() []scenarios.Scenario{
		cachestampede.Slug:        cachestampede.Scenarios,
		capacitycheckout.Slug:     capacitycheckout.Scenarios,
		circuitbreaker.Slug:       circuitbreaker.Scenarios,
		debugretrystorm.Slug:      debugretrystorm.Scenarios,
		distributedlock.Slug:      distributedlock.Scenarios,
		flashsale.Slug:            flashsale.Scenarios,
		gracefulshutdown.Slug:     gracefulshutdown.Scenarios,
		ratelimiter.Slug:          ratelimiter.Scenarios,
		refactororderpricing.Slug: refactororderpricing.Scenarios,
		idempotentpayments.Slug:   idempotentpayments.Scenarios,
		loadshedding.Slug:         loadshedding.Scenarios,
		webhookreceiver.Slug:      webhookreceiver.Scenarios,
	}}
}

// builtinFiles is the built-in pack's Files: each challenge.yaml and brief (templates.Files)
// with the starters of templates.Starters, an embedded archive, since Go cannot embed a
// directory that holds a go.mod. They are joined on first use (join), once per Builtin value.
type builtinFiles struct {
	join func() (fs.FS, error)
}

// joinBuiltin joins templates.Files and the starters archive into one file system.
func joinBuiltin() (fs.FS, error) {
	starters, err := templates.Starters()
	if err != nil {
		return nil, err
	}
	joined := fstest.MapFS{}
	for _, fsys := range []fs.FS{starters, templates.Files} {
		err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(fsys, p)
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			joined[p] = &fstest.MapFile{Data: b, Mode: info.Mode()}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("built-in templates: %w", err)
		}
	}
	return joined, nil
}

func (b builtinFiles) Open(name string) (fs.File, error) {
	fsys, err := b.join()
	if err != nil {
		return nil, err
	}
	return fsys.Open(name)
}

// entry is one challenge and the Files of the pack it came from, which serve its brief
// and starters (Templates).
type entry struct {
	grading.Challenge
	files fs.FS
}

// Catalog is the challenges one binary offers, from the packs given to New: read-only, safe
// for concurrent use.
type Catalog struct {
	es []entry // sorted by slug
}

// New checks every pack and joins their challenges. Every problem is reported at once, each
// naming its pack; a slug two packs share names both. The commands call it before anything
// else, so a broken pack stops them with the reason. At least one pack is needed.
func New(packs ...Pack) (*Catalog, error) {
	if len(packs) == 0 {
		return nil, errors.New("no challenge pack: pass catalog.Builtin() and any operator's packs")
	}
	es, err := load(packs)
	if err != nil {
		return nil, err
	}
	return &Catalog{es: es}, nil
}

// load checks every pack and joins their challenges, sorted by slug. All problems are
// reported at once.
func load(packs []Pack) ([]entry, error) {
	var out []entry
	var errs []error
	owner := map[string]string{} // slug → pack name
	named := map[string]bool{}
	for _, p := range packs {
		if named[p.Name] {
			errs = append(errs, fmt.Errorf("challenge pack %s is registered twice", p.Name))
			continue
		}
		named[p.Name] = true
		es, err := p.entries()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, e := range es {
			if prev, ok := owner[e.Slug]; ok {
				errs = append(errs, fmt.Errorf("challenge %q is in two packs, %s and %s: rename one (its directory, the slug in its challenge.yaml and its Scenarios key)", e.Slug, prev, p.Name))
				continue
			}
			owner[e.Slug] = p.Name
			out = append(out, e)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Slug < out[j].Slug })
	return out, nil
}

// entries builds one pack's challenges from its challenge.yaml files and scenario tables.
func (p Pack) entries() ([]entry, error) {
	name := p.Name
	if name == "" {
		name = "(no name)"
	}
	wrap := func(err error) error { return fmt.Errorf("challenge pack %s: %w", name, err) }
	if p.Name == "" {
		return nil, wrap(errors.New("Name is required (the pack's module path)"))
	}
	if p.Files == nil {
		return nil, wrap(errors.New("Files is required (<slug>/challenge.yaml, brief and starters)"))
	}
	slugs, err := templates.Slugs(p.Files)
	if err != nil {
		return nil, wrap(err)
	}
	var out []entry
	seen := map[string]bool{}
	for _, slug := range slugs {
		table, ok := p.Scenarios[slug]
		if !ok || table == nil {
			return nil, wrap(fmt.Errorf("%s/challenge.yaml has no scenario table (Scenarios[%q])", slug, slug))
		}
		seen[slug] = true
		ch, err := templates.Challenge(p.Files, slug, table())
		if err != nil {
			return nil, wrap(err)
		}
		ch.Pack = p.Name
		out = append(out, entry{Challenge: ch, files: p.Files})
	}
	var extra []string
	for slug := range p.Scenarios {
		if !seen[slug] {
			extra = append(extra, slug)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return nil, wrap(fmt.Errorf("scenario tables without a <slug>/challenge.yaml in Files: %s", strings.Join(extra, ", ")))
	}
	return out, nil
}

// MustNew is New for packs fixed at compile time, as tests' and benchmarks' catalogs are: it
// panics with New's error. The commands use New, to say what is wrong with an operator's pack.
func MustNew(packs ...Pack) *Catalog {
	c, err := New(packs...)
	if err != nil {
		panic(err)
	}
	return c
}

// Challenges returns every challenge, sorted by slug: what the grader grades, what `runner
// challenges` lists and what the App writes to its challenges table.
func (c *Catalog) Challenges() []grading.Challenge {
	out := make([]grading.Challenge, 0, len(c.es))
	for _, e := range c.es {
		out = append(out, e.Challenge)
	}
	return out
}

// Slugs lists the challenges' slugs, sorted.
func (c *Catalog) Slugs() []string {
	out := make([]string, 0, len(c.es))
	for _, e := range c.es {
		out = append(out, e.Slug)
	}
	return out
}

// Lookup finds a challenge by slug; the error lists the known ones.
func (c *Catalog) Lookup(slug string) (grading.Challenge, error) {
	for _, e := range c.es {
		if e.Slug == slug {
			return e.Challenge, nil
		}
	}
	return grading.Challenge{}, fmt.Errorf("unknown challenge %q; known challenges: %s", slug, strings.Join(c.Slugs(), ", "))
}

// Templates returns every challenge's files as one file system laid out like templates/:
// <slug>/README.md, <slug>/starter/<lang>/…, each slug served by its own pack's Files. A
// non-nil builtinDir serves the built-in challenges instead (a templates/ directory the
// operator names, HOLDFAST_TEMPLATES_DIR).
func (c *Catalog) Templates(builtinDir fs.FS) fs.FS {
	t := templateFS{root: fstest.MapFS{}, bySlug: map[string]fs.FS{}}
	for _, e := range c.es {
		t.root[e.Slug] = &fstest.MapFile{Mode: fs.ModeDir | 0o555}
		t.bySlug[e.Slug] = e.files
		if e.Pack == BuiltinName && builtinDir != nil {
			t.bySlug[e.Slug] = builtinDir
		}
	}
	return t
}

// templateFS dispatches each path to the pack that owns its first element, the slug, so that a
// pack can never serve another pack's challenge.
type templateFS struct {
	root   fstest.MapFS // the slugs, as directories
	bySlug map[string]fs.FS
}

func (t templateFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return t.root.Open(name)
	}
	slug, _, _ := strings.Cut(name, "/")
	f, ok := t.bySlug[slug]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return f.Open(name)
}
