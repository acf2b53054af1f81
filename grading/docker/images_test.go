package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// testEngine is a real engine, or the reason the test skips (dockertest imports this package, so
// its helper cannot be used from an internal test).
func testEngine(t *testing.T) *Engine {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Docker; skipped in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	eng, err := New(ctx, Config{Namespace: "test-" + hex.EncodeToString(b)}, slog.New(slog.DiscardHandler))
	if err != nil {
		if os.Getenv("HOLDFAST_REQUIRE_DOCKER") != "" {
			t.Fatalf("Docker is required here (HOLDFAST_REQUIRE_DOCKER is set): %v", err)
		}
		t.Skipf("no usable Docker engine: %v", err)
	}
	t.Cleanup(func() { eng.Close() })
	return eng
}

// testKeeper is a Keeper with policy on a real engine, confined to a repository of its own
// (returned) whose images are removed when the test ends.
func testKeeper(t *testing.T, policy ImagePolicy) (*Keeper, string) {
	t.Helper()
	e := testEngine(t)
	policy.Repo = "test/" + e.Namespace()
	t.Cleanup(func() { removeRepo(e, policy.Repo) })
	k, err := NewKeeper(context.Background(), e, policy, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return k, policy.Repo
}

// submission writes a tiny submission whose image differs by content.
func submission(t *testing.T, content string) string {
	t.Helper()
	dir := t.TempDir()
	df := "ARG GO_IMAGE\nFROM holdfast/redis:7\nCOPY note /note\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "note"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// repoImages lists the learner images built for repo, by branch.
func repoImages(t *testing.T, e *Engine, repo string) map[string][]string {
	t.Helper()
	l, err := e.cli.ImageList(context.Background(), client.ImageListOptions{Filters: make(client.Filters).Add("label", LabelRepo+"="+repo)})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, img := range l.Items {
		out[img.Labels[LabelBranch]] = append(out[img.Labels[LabelBranch]], img.ID)
	}
	return out
}

func removeRepo(e *Engine, repo string) {
	ctx := context.Background()
	l, _ := e.cli.ImageList(ctx, client.ImageListOptions{Filters: make(client.Filters).Add("label", LabelRepo+"="+repo)})
	for _, img := range l.Items {
		e.cli.ImageRemove(ctx, img.ID, client.ImageRemoveOptions{Force: true, PruneChildren: true})
	}
}

// grade builds dir as a grading of repo's branch at commit would, and returns the image id and
// done.
func grade(t *testing.T, k *Keeper, repo, branch, commit, dir string) (string, func()) {
	t.Helper()
	ctx, done := k.Serve(context.Background(), repo, branch, commit)
	b, err := k.eng.Build(ctx, dir)
	if err != nil || b.Failed() {
		t.Fatalf("build %s: %v %s %s", commit, err, b.Failure, b.LogTail)
	}
	img, err := k.eng.cli.ImageInspect(context.Background(), b.Image)
	if err != nil {
		t.Fatal(err)
	}
	if img.Config.Labels[LabelRepo] != repo && !b.Cached {
		t.Fatalf("image of %s labelled %v; want repo %s", commit, img.Config.Labels, repo)
	}
	return img.ID, done
}

// TestBranchKeepsItsLastImage: after each grading only the branch's newest image stays; another
// branch's image and an image a grading in progress holds are not touched.
func TestBranchKeepsItsLastImage(t *testing.T) {
	k, repo := testKeeper(t, ImagePolicy{})
	e := k.eng
	other, done := grade(t, k, repo, "feature", "f1", submission(t, "feature "+repo))
	done()
	var last string
	for i, c := range []string{"c1", "c2", "c3"} {
		id, done := grade(t, k, repo, "main", c, submission(t, c+" "+repo))
		done()
		got := repoImages(t, e, repo)
		if len(got["main"]) != 1 || got["main"][0] != id {
			t.Fatalf("after grading %d: main's images %v; want only the newest %s", i+1, got["main"], id)
		}
		if len(got["feature"]) != 1 || got["feature"][0] != other {
			t.Fatalf("after grading %d: feature's images %v; want its own %s untouched", i+1, got["feature"], other)
		}
		last = id
	}
	img, err := e.cli.ImageInspect(context.Background(), last)
	if err != nil || img.Config.Labels[LabelCommit] != "c3" || img.Config.Labels[LabelBranch] != "main" {
		t.Fatalf("labels %v, %v; want commit c3 on main", img.Config.Labels, err)
	}

	// A slower grading of main (c4) still holds its image when a newer one (c5) ends.
	slow, slowDone := grade(t, k, repo, "main", "c4", submission(t, "c4 "+repo))
	fast, fastDone := grade(t, k, repo, "main", "c5", submission(t, "c5 "+repo))
	fastDone()
	got := strings.Join(repoImages(t, e, repo)["main"], " ")
	if !strings.Contains(got, slow) || !strings.Contains(got, fast) || strings.Contains(got, last) {
		t.Fatalf("main's images %s; want the held %s and the newest %s, not %s", got, slow, fast, last)
	}
	slowDone()
	// The hold is gone: the next grading's done removes c4 and c5.
	id, done := grade(t, k, repo, "main", "c6", submission(t, "c6 "+repo))
	done()
	if got := repoImages(t, e, repo)["main"]; len(got) != 1 || got[0] != id {
		t.Fatalf("after the holds were released: main's images %v; want only %s", got, id)
	}
}

// TestHoldRefusesRemoval: the engine itself refuses to delete a held image, so a sweep by
// another runner, which knows nothing of this one's gradings, cannot take it.
func TestHoldRefusesRemoval(t *testing.T) {
	k, repo := testKeeper(t, ImagePolicy{})
	e := k.eng
	id, done := grade(t, k, repo, "main", "c1", submission(t, "held "+repo))
	other := &Keeper{eng: e, policy: ImagePolicy{Repo: repo}, log: slog.New(slog.DiscardHandler)}
	if ok, err := other.remove(context.Background(), id, "test"); ok || err != nil {
		t.Fatalf("remove of a held image: removed %v, %v; want the engine to refuse", ok, err)
	}
	done()
	if ok, err := other.remove(context.Background(), id, "test"); !ok || err != nil {
		t.Fatalf("remove once released: removed %v, %v; want it gone", ok, err)
	}
}

// TestSweepByLastUse: the sweep removes an image unused for longer than the max age, keeps one
// just used (a cache hit counts as a use, as for the images a test command prebuilt), and
// releases a hold whose runner died.
func TestSweepByLastUse(t *testing.T) {
	k, repo := testKeeper(t, ImagePolicy{MaxAge: 2 * time.Second})
	e := k.eng
	oldDir, usedDir := submission(t, "old "+repo), submission(t, "used "+repo)
	old, done := grade(t, k, repo, "a", "c1", oldDir)
	done()
	used, done := grade(t, k, repo, "b", "c2", usedDir)
	done()
	// A runner that died mid-grading: its hold expired.
	dead, _ := grade(t, k, repo, "c", "c3", submission(t, "dead "+repo))
	expired := holdRepo + ":1-deadbeef"
	if _, err := e.cli.ImageTag(context.Background(), client.ImageTagOptions{Source: dead, Target: expired}); err != nil {
		t.Fatal(err)
	}
	l, _ := e.cli.ImageList(context.Background(), client.ImageListOptions{Filters: make(client.Filters).Add("reference", holdRepo)})
	for _, img := range l.Items {
		for _, tag := range img.RepoTags {
			if img.ID == dead && tag != expired {
				e.cli.ImageRemove(context.Background(), tag, client.ImageRemoveOptions{}) // only the expired hold is left
			}
		}
	}
	time.Sleep(3 * time.Second)
	// Reused (a cache hit): its last use is now.
	if b, err := e.Build(context.Background(), usedDir); err != nil || !b.Cached {
		t.Fatalf("rebuild: %+v, %v; want a cache hit", b, err)
	}
	rep, err := k.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	left := map[string]bool{}
	for _, ids := range repoImages(t, e, repo) {
		for _, id := range ids {
			left[id] = true
		}
	}
	// An expired hold is any runner's to release: another test's keeper sweeping beside this one
	// (grading/cli and grading/app/jobs run theirs at the same time) may have released it first,
	// so what is checked is that it is gone, not who counted it.
	_, holdErr := e.cli.ImageInspect(context.Background(), expired)
	if left[old] || !left[used] || left[dead] || rep.Images != 2 || !isNotFound(holdErr) {
		t.Fatalf("after the sweep (%+v): old %v, used %v, dead runner's %v, expired hold %v; want only the used one left, 2 images removed and the expired hold gone", rep, left[old], left[used], left[dead], holdErr)
	}
}

// TestFloor: with the floor above the engine's free disk, Room prunes, then refuses with a
// reason and Ready says so too; with the floor below it again, both answer nil by themselves.
func TestFloor(t *testing.T) {
	e := testEngine(t)
	repo := "test/" + e.Namespace()
	t.Cleanup(func() { removeRepo(e, repo) })
	if _, err := NewKeeper(context.Background(), e, ImagePolicy{FloorBytes: 1 << 30, DiskPath: t.TempDir()}, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "HOLDFAST_DISK_PATH") {
		t.Fatalf("a disk path that is not the data root: %v; want an error naming HOLDFAST_DISK_PATH", err)
	}
	k, err := NewKeeper(context.Background(), e, ImagePolicy{Repo: repo, FloorBytes: 1 << 20}, slog.New(slog.DiscardHandler))
	if err != nil {
		if os.Getenv("HOLDFAST_REQUIRE_DOCKER") != "" { // as dockertest.Keeper, which this package cannot import
			t.Fatalf("Docker is required here (HOLDFAST_REQUIRE_DOCKER is set), with its data root visible to this process: %v", err)
		}
		t.Skipf("this process cannot see the engine's data root: %v (set HOLDFAST_REQUIRE_DOCKER=1 to fail instead)", err)
	}
	if err := k.Room(context.Background()); err != nil {
		t.Fatalf("Room with a 1 MiB floor: %v", err)
	}
	free, _, err := k.DiskFree()
	if err != nil {
		t.Fatal(err)
	}
	// An image of this repo unused for longer than the floor's prune age goes first.
	id, done := grade(t, k, repo, "main", "c1", submission(t, "floor "+repo))
	done()
	k.policy.FloorBytes = free + 1<<40
	k.lastPrune = time.Time{}
	err = k.Room(context.Background())
	if !errors.Is(err, ErrDiskLow) || !strings.Contains(err.Error(), "floor") {
		t.Fatalf("Room with the floor above the free disk: %v; want ErrDiskLow", err)
	}
	if err := k.Ready(context.Background()); !errors.Is(err, ErrDiskLow) || !strings.Contains(err.Error(), "HOLDFAST_DISK_FLOOR") {
		t.Fatalf("Ready below the floor: %v; want ErrDiskLow saying what to do", err)
	}
	if got := repoImages(t, e, repo)["main"]; len(got) != 1 || got[0] != id {
		t.Fatalf("the prune took %v; want the image used seconds ago kept", got)
	}
	k.policy.FloorBytes = 1 << 20
	if err := k.Room(context.Background()); err != nil {
		t.Fatalf("Room once space returned: %v; want nil", err)
	}
	if err := k.Ready(context.Background()); err != nil {
		t.Fatalf("Ready once space returned: %v", err)
	}
}

func TestBuildLeftover(t *testing.T) {
	t.Parallel()
	now := time.Now()
	old := now.Add(-time.Hour).Unix()
	id := "sha256:" + strings.Repeat("ab", 32)
	cases := []struct {
		name    string
		labels  map[string]string
		image   string
		command string
		created int64
		want    bool
	}{
		{"a RUN step's container", nil, id, "/bin/sh -c go build ./...", old, true},
		{"short id", nil, "abcdef123456", "/bin/sh -c make", old, true},
		{"too young: a build in progress", nil, id, "/bin/sh -c make", now.Unix(), false},
		{"a sandbox", map[string]string{LabelRun: "7"}, id, "/bin/sh -c make", old, false},
		{"named image", nil, "postgres:16", "/bin/sh -c make", old, false},
		{"not a shell step", nil, id, "/app", old, false},
	}
	for _, c := range cases {
		if got := buildLeftover(c.labels, c.image, c.command, c.created, now); got != c.want {
			t.Errorf("%s: %v; want %v", c.name, got, c.want)
		}
	}
}

// stageTags lists the holdfast-stage tags of the learner image tag.
func stageTags(t *testing.T, e *Engine, tag string) []string {
	t.Helper()
	_, hash, _ := strings.Cut(tag, ":")
	l, err := e.cli.ImageList(context.Background(), client.ImageListOptions{Filters: make(client.Filters).Add("reference", stageRepo)})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, img := range l.Items {
		for _, rt := range img.RepoTags {
			if strings.HasPrefix(rt, stageRepo+":"+hash+"-") {
				out = append(out, rt)
			}
		}
	}
	return out
}

// TestStagesGoWithTheirImage: a multi-stage build's earlier stage (the compiler's output, which
// no tag would otherwise name) is tagged for its image and removed with it.
func TestStagesGoWithTheirImage(t *testing.T) {
	k, repo := testKeeper(t, ImagePolicy{})
	e := k.eng
	build := func(commit string) string {
		dir := submission(t, commit+" "+repo)
		df := "FROM holdfast/redis:7 AS build\nCOPY note /note\nRUN cat /note /note > /out\nFROM holdfast/redis:7\nCOPY --from=build /out /out\n"
		if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, done := k.Serve(context.Background(), repo, "main", commit)
		b, err := e.Build(ctx, dir)
		done()
		if err != nil || b.Failed() {
			t.Fatalf("build %s: %v %s", commit, err, b.Failure)
		}
		return b.Image
	}
	first := build("c1")
	if got := stageTags(t, e, first); len(got) == 0 {
		t.Fatalf("no stage tag for %s's build stage", first)
	}
	second := build("c2")
	if got := stageTags(t, e, first); len(got) != 0 {
		t.Fatalf("%s was removed but its stages stay: %v", first, got)
	}
	if got := stageTags(t, e, second); len(got) == 0 {
		t.Fatalf("no stage tag for the kept %s", second)
	}
}
