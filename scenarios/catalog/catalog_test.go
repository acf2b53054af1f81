package catalog

import (
	"context"
	"io/fs"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
)

func TestCatalog(t *testing.T) {
	cat, err := New(Builtin())
	if err != nil {
		t.Fatal(err)
	}
	cs := cat.Challenges()
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
	if _, err := cat.Lookup("nope"); err == nil {
		t.Fatal("unknown slug: want an error")
	}
	p, err := cat.Lookup("idempotent-payments")
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
		{"clash with the built-in pack", []Pack{Builtin(), pack("example.com/p", "idempotent-payments")},
			[]string{`challenge "idempotent-payments" is in two packs`, BuiltinName, "example.com/p"}},
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
	es, err := load([]Pack{Builtin(), pack("example.com/p", "mine")})
	if err != nil || len(es) != 13 {
		t.Fatalf("built-in and one pack: %d entries, %v; want 13", len(es), err)
	}
}

// TestNew: the catalog is what the packs passed to New make, each challenge naming its pack;
// no pack at all is a mistake of the wiring, said as such.
func TestNew(t *testing.T) {
	t.Parallel()
	if _, err := New(); err == nil || !strings.Contains(err.Error(), "no challenge pack") {
		t.Fatalf("New(): %v; want an error saying no pack was given", err)
	}
	if _, err := New(Builtin(), pack("example.com/p", "idempotent-payments")); err == nil || !strings.Contains(err.Error(), "in two packs") {
		t.Fatalf("New with a clash: %v; want the clash", err)
	}
	cat, err := New(Builtin(), pack("example.com/p", "mine"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cat.Slugs(); len(got) != 13 || got[0] != "cache-stampede" || got[7] != "idempotent-payments" || got[9] != "mine" {
		t.Fatalf("slugs %v; want the twelve and mine, sorted", got)
	}
	for slug, pack := range map[string]string{"mine": "example.com/p", "idempotent-payments": BuiltinName} {
		if c, err := cat.Lookup(slug); err != nil || c.Pack != pack || c.Title == "" || len(c.Scenarios) == 0 {
			t.Errorf("Lookup(%q): pack %q, title %q, %d scenarios, %v; want pack %q", slug, c.Pack, c.Title, len(c.Scenarios), err, pack)
		}
	}
	if _, err := cat.Lookup("nope"); err == nil || !strings.Contains(err.Error(), "known challenges: cache-stampede, capacity-checkout, circuit-breaker") || !strings.Contains(err.Error(), "mine") {
		t.Fatalf("Lookup(nope): %v; want the known challenges listed, the pack's too", err)
	}
}

// TestTemplatesServesEachSlugFromItsPack: the merged file system gives a pack's brief from the
// pack and a built-in brief from the directory given; a pack's file outside its slugs is not
// reachable.
func TestTemplatesServesEachSlugFromItsPack(t *testing.T) {
	t.Parallel()
	p := pack("example.com/p", "mine")
	p.Files.(fstest.MapFS)["idempotent-payments/README.md"] = &fstest.MapFile{Data: []byte("forged")}
	cat, err := New(Builtin(), p)
	if err != nil {
		t.Fatal(err)
	}
	disk := fstest.MapFS{"idempotent-payments/README.md": {Data: []byte("real")}}
	fsys := cat.Templates(disk)
	for name, want := range map[string]string{"mine/README.md": "# brief\n", "idempotent-payments/README.md": "real"} {
		if b, err := fs.ReadFile(fsys, name); err != nil || string(b) != want {
			t.Errorf("%s: %q, %v; want %q", name, b, err, want)
		}
	}
	if dirs, err := fs.ReadDir(fsys, "."); err != nil || len(dirs) != 13 {
		t.Errorf("root: %d entries, %v; want 13 slugs", len(dirs), err)
	}
	// Without a directory, the built-in pack serves its own files, the same as the one on disk.
	embedded := cat.Templates(nil)
	for _, name := range []string{"idempotent-payments/README.md", "idempotent-payments/challenge.yaml", "idempotent-payments/starter/go/go.mod", "idempotent-payments/starter/ts/.dockerignore"} {
		got, err := fs.ReadFile(embedded, name)
		want, _ := os.ReadFile("../../templates/" + name)
		if err != nil || len(want) == 0 || string(got) != string(want) {
			t.Errorf("%s: %d bytes, %v; want templates/%s's %d", name, len(got), err, name, len(want))
		}
	}
}
