package catalog

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
)

func TestCatalog(t *testing.T) {
	cs, err := All()
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) == 0 {
		t.Fatal("no challenges")
	}
	for _, c := range cs {
		if err := scenarios.Validate(c.Scenarios); err != nil {
			t.Errorf("%s: %v", c.Slug, err)
		}
		if c.Limits.StartTimeout <= 0 || c.Limits.StartTimeout > 2*time.Minute {
			t.Errorf("%s: start_timeout %s", c.Slug, c.Limits.StartTimeout)
		}
	}
	if _, err := Lookup("nope"); err == nil {
		t.Fatal("unknown slug: want an error")
	}
	p, err := Lookup("idempotent-payments")
	if err != nil || p.Limits.MemoryMB != 512 || p.Limits.StartTimeout != 30*time.Second {
		t.Fatalf("idempotent-payments: %+v %v", p.Limits, err)
	}
}

// pack is a one-challenge pack with a valid challenge.yaml for slug and a one-scenario table.
func pack(name, slug string) Pack {
	return Pack{Name: name, Files: fstest.MapFS{
		slug + "/challenge.yaml": {Data: []byte("slug: " + slug + "\ntitle: T\ndifficulty: easy\nlanguages: [go]\nformats: [practice]\nstart_timeout: 10s\n")},
		slug + "/README.md":      {Data: []byte("# brief\n")},
	}, Scenarios: map[string]func() []scenarios.Scenario{slug: table}}
}

func table() []scenarios.Scenario {
	return []scenarios.Scenario{{Slug: "s", Title: "S", Weight: 1, Visibility: scenarios.Public,
		Run: func(context.Context, *scenarios.Harness) error { return nil }}}
}

// TestPacks holds packs to the built-in pack's rules: every mistake stops the catalog with a
// message naming the pack (both packs, for a clash).
func TestPacks(t *testing.T) {
	t.Parallel()
	withYAML := func(y string) Pack {
		p := pack("example.com/p", "mine")
		p.Files.(fstest.MapFS)["mine/challenge.yaml"].Data = []byte(y)
		return p
	}
	noTable := pack("example.com/p", "mine")
	noTable.Scenarios = map[string]func() []scenarios.Scenario{"other": table}
	badTable := pack("example.com/p", "mine")
	badTable.Scenarios["mine"] = func() []scenarios.Scenario { s := table(); s[0].Weight = 0; return s }
	cases := []struct {
		name  string
		packs []Pack
		say   []string
	}{
		{"clash with the built-in pack", []Pack{builtin(), pack("example.com/p", "idempotent-payments")},
			[]string{`challenge "idempotent-payments" is in two packs`, Builtin, "example.com/p"}},
		{"clash between two packs", []Pack{pack("example.com/a", "mine"), pack("example.com/b", "mine")},
			[]string{`challenge "mine" is in two packs, example.com/a and example.com/b`}},
		{"a pack twice", []Pack{pack("example.com/a", "mine"), pack("example.com/a", "other")}, []string{"example.com/a is registered twice"}},
		{"no name", []Pack{pack("", "mine")}, []string{"Name is required"}},
		{"no files", []Pack{{Name: "example.com/p"}}, []string{"example.com/p", "Files is required"}},
		{"unknown field", []Pack{withYAML("slug: mine\ntitle: T\nlanguages: [go]\nformats: [practice]\nstart_timeout: 10s\nextra: 1\n")},
			[]string{"example.com/p", "mine/challenge.yaml", "field extra not found"}},
		{"slug differs from its directory", []Pack{withYAML("slug: yours\ntitle: T\nlanguages: [go]\nformats: [practice]\nstart_timeout: 10s\n")},
			[]string{`slug "yours" differs from its directory "mine"`}},
		{"no start timeout", []Pack{withYAML("slug: mine\ntitle: T\nlanguages: [go]\nformats: [practice]\n")}, []string{"start_timeout 0s out of range"}},
		{"unknown format", []Pack{withYAML("slug: mine\ntitle: T\nlanguages: [go]\nformats: [exam]\nstart_timeout: 10s\n")}, []string{`format "exam"`}},
		{"no table", []Pack{noTable}, []string{`mine/challenge.yaml has no scenario table`}},
		{"a scenario table's mistake", []Pack{badTable}, []string{"the scenario table of mine", "weight must be positive"}},
		{"no challenge at all", []Pack{{Name: "example.com/p", Files: fstest.MapFS{"README.md": {}}}}, []string{"no <slug>/challenge.yaml"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := load(c.packs)
			for _, s := range c.say {
				if err == nil || !strings.Contains(err.Error(), s) {
					t.Fatalf("err %v; want it to say %q", err, s)
				}
			}
		})
	}
	es, err := load([]Pack{builtin(), pack("example.com/p", "mine")})
	if err != nil || len(es) != 10 {
		t.Fatalf("built-in and one pack: %d entries, %v; want 10", len(es), err)
	}
}

func TestRegisterAfterReadPanics(t *testing.T) {
	t.Parallel()
	r := &registry{packs: []Pack{pack("example.com/a", "mine")}}
	r.register(pack("example.com/b", "other")) // before the first read: fine
	if es, err := r.entries(); err != nil || len(es) != 2 {
		t.Fatalf("entries: %d, %v", len(es), err)
	}
	defer func() {
		if p := recover(); p == nil || !strings.Contains(fmt.Sprint(p), "after the catalog was read") {
			t.Fatalf("recovered %v; want a panic saying Register came too late", p)
		}
	}()
	r.register(pack("example.com/c", "late"))
}

// TestTemplatesServesEachSlugFromItsPack: the merged file system gives a pack's brief from the
// pack and a built-in brief from the directory given; a pack's file outside its slugs is not
// reachable.
func TestTemplatesServesEachSlugFromItsPack(t *testing.T) {
	t.Parallel()
	p := pack("example.com/p", "mine")
	p.Files.(fstest.MapFS)["idempotent-payments/README.md"] = &fstest.MapFile{Data: []byte("forged")}
	es, err := load([]Pack{builtin(), p})
	if err != nil {
		t.Fatal(err)
	}
	disk := fstest.MapFS{"idempotent-payments/README.md": {Data: []byte("real")}}
	fsys := templatesOf(es, disk)
	for name, want := range map[string]string{"mine/README.md": "# brief\n", "idempotent-payments/README.md": "real"} {
		if b, err := fs.ReadFile(fsys, name); err != nil || string(b) != want {
			t.Errorf("%s: %q, %v; want %q", name, b, err, want)
		}
	}
	if dirs, err := fs.ReadDir(fsys, "."); err != nil || len(dirs) != 10 {
		t.Errorf("root: %d entries, %v; want 10 slugs", len(dirs), err)
	}
	// Without a directory, the built-in pack serves its own files, the same as the one on disk.
	embedded := templatesOf(es, nil)
	for _, name := range []string{"idempotent-payments/README.md", "idempotent-payments/challenge.yaml", "idempotent-payments/starter/go/go.mod", "idempotent-payments/starter/ts/.dockerignore"} {
		got, err := fs.ReadFile(embedded, name)
		want, _ := os.ReadFile("../../templates/" + name)
		if err != nil || len(want) == 0 || string(got) != string(want) {
			t.Errorf("%s: %d bytes, %v; want templates/%s's %d", name, len(got), err, name, len(want))
		}
	}
}
