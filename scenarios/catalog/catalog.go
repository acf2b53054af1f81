// Package catalog lists the challenges Holdfast can grade. Challenges come in packs: a pack
// holds its challenges' files (<slug>/challenge.yaml, the brief, the starters) and their
// scenario tables. Holdfast's nine challenges are one pack, built from templates/ and
// scenarios/<slug>/; an operator adds private challenges with a pack of their own, a Go module
// outside this repository that calls Register from its init function and is compiled into the
// runner and the App by `runner pack build` (README, "Challenge packs"). Both kinds take the
// same path: each challenge built by templates.Challenge from its challenge.yaml and scenario
// table, the slugs unique across packs.
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
	"github.com/holdfast-ci/holdfast/scenarios/circuitbreaker"
	"github.com/holdfast-ci/holdfast/scenarios/debugretrystorm"
	"github.com/holdfast-ci/holdfast/scenarios/distributedlock"
	"github.com/holdfast-ci/holdfast/scenarios/flashsale"
	"github.com/holdfast-ci/holdfast/scenarios/gracefulshutdown"
	"github.com/holdfast-ci/holdfast/scenarios/idempotentpayments"
	"github.com/holdfast-ci/holdfast/scenarios/ratelimiter"
	"github.com/holdfast-ci/holdfast/scenarios/refactororderpricing"
	"github.com/holdfast-ci/holdfast/templates"
)

// Pack is a set of challenges registered together.
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

// Builtin is the Name of the pack of Holdfast's own challenges (in grading.Challenge.Pack and
// errors).
const Builtin = "github.com/holdfast-ci/holdfast (built-in)"

// builtin is Holdfast's own pack: templates' embedded files and the scenario tables of
// scenarios/<slug>/.
func builtin() Pack {
	return Pack{Name: Builtin, Files: builtinFiles{}, Scenarios: map[string]func() []scenarios.Scenario{
		cachestampede.Slug:        cachestampede.Scenarios,
		circuitbreaker.Slug:       circuitbreaker.Scenarios,
		debugretrystorm.Slug:      debugretrystorm.Scenarios,
		distributedlock.Slug:      distributedlock.Scenarios,
		flashsale.Slug:            flashsale.Scenarios,
		gracefulshutdown.Slug:     gracefulshutdown.Scenarios,
		ratelimiter.Slug:          ratelimiter.Scenarios,
		refactororderpricing.Slug: refactororderpricing.Scenarios,
		idempotentpayments.Slug:   idempotentpayments.Scenarios,
	}}
}

// builtinFiles is the built-in pack's Files: each challenge.yaml and brief (templates.Files)
// with the starters of templates.Starters, an embedded archive, since Go cannot embed a
// directory that holds a go.mod. They are joined on first use.
type builtinFiles struct{}

var builtinFS = sync.OnceValues(func() (fs.FS, error) {
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
})

func (builtinFiles) Open(name string) (fs.File, error) {
	fsys, err := builtinFS()
	if err != nil {
		return nil, err
	}
	return fsys.Open(name)
}

// entry is one challenge and the Files of the pack that registered it, which serve its brief
// and starters (Templates).
type entry struct {
	grading.Challenge
	files fs.FS
}

// registry holds the registered packs and, once read, the entries they make. It is the
// catalog's one piece of package state: packs register from init functions, before main runs,
// and the catalog is read-only after its first read.
type registry struct {
	mu    sync.Mutex
	packs []Pack
	read  bool
	es    []entry
	err   error
}

// std is the process's catalog: the built-in pack first, then the packs that register.
var std = &registry{packs: []Pack{builtin()}}

// Register adds a pack's challenges to the catalog. Call it from the pack's init function, so
// that importing the pack's package is all a main package has to do (Caddy's modules register
// the same way; `runner pack build` writes that main package). A pack is checked when the
// catalog is first read — Check, which the runner and the App call at start-up — and any
// problem, such as a slug another pack already has, stops them with a message naming both
// packs. Registering after the catalog was read panics: the pack would be missing silently.
func Register(p Pack) { std.register(p) }

func (r *registry) register(p Pack) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.read {
		panic(fmt.Sprintf("catalog.Register(%q) after the catalog was read: call Register from the pack's init function", p.Name))
	}
	r.packs = append(r.packs, p)
}

func (r *registry) entries() ([]entry, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.read {
		r.es, r.err = load(r.packs)
		r.read = true
	}
	return r.es, r.err
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

// All returns every registered challenge, sorted by slug, or what is wrong with the packs.
func All() ([]grading.Challenge, error) {
	es, err := std.entries()
	if err != nil {
		return nil, err
	}
	out := make([]grading.Challenge, 0, len(es))
	for _, e := range es {
		out = append(out, e.Challenge)
	}
	return out, nil
}

// Check reads the catalog and returns what is wrong with it. Commands call it at start-up so
// that a broken pack stops them with the reason before any work; after a nil Check the
// functions below cannot fail.
func Check() error {
	_, err := std.entries()
	return err
}

// Challenges returns every registered challenge, sorted by slug: what the grader grades, what
// `runner challenges` lists and what the App writes to its challenges table.
func Challenges() []grading.Challenge {
	cs, err := All()
	if err != nil {
		panic(err) // Check at start-up reports this first; TestCatalog covers the built-in pack
	}
	return cs
}

// Slugs lists the challenges' slugs.
func Slugs() []string {
	var out []string
	for _, c := range Challenges() {
		out = append(out, c.Slug)
	}
	return out
}

// Lookup finds a challenge by slug; the error lists the known ones.
func Lookup(slug string) (grading.Challenge, error) {
	var known []string
	for _, c := range Challenges() {
		if c.Slug == slug {
			return c, nil
		}
		known = append(known, c.Slug)
	}
	sort.Strings(known)
	return grading.Challenge{}, fmt.Errorf("unknown challenge %q; known challenges: %s", slug, strings.Join(known, ", "))
}

// Templates returns every challenge's files as one file system laid out like templates/:
// <slug>/README.md, <slug>/starter/<lang>/…, each slug served by its own pack's Files. A
// non-nil builtinDir serves the built-in challenges instead (a templates/ directory the
// operator names, HOLDFAST_TEMPLATES_DIR).
func Templates(builtinDir fs.FS) (fs.FS, error) {
	es, err := std.entries()
	if err != nil {
		return nil, err
	}
	return templatesOf(es, builtinDir), nil
}

// templatesOf is Templates over the entries es.
func templatesOf(es []entry, builtinDir fs.FS) fs.FS {
	t := templateFS{root: fstest.MapFS{}, bySlug: map[string]fs.FS{}}
	for _, e := range es {
		t.root[e.Slug] = &fstest.MapFile{Mode: fs.ModeDir | 0o555}
		t.bySlug[e.Slug] = e.files
		if e.Pack == Builtin && builtinDir != nil {
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
