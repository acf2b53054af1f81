// Command images measures what learner images cost the Docker engine's disk, with Holdfast's
// image policy (docker.Keeper) on and off, side by side in one run.
//
//	go run ./grading/docker/bench/images [-k 20] [-every 5] [-dir DIR] [-policy-only]   # from the repository root
//
// It builds K distinct commits of a submission (default the idempotent-payments reference; each
// commit adds a Go file with its number, so the build reruns from `COPY . .` on and the binary
// differs, as a learner's push does) on one branch, after one uncounted warm-up build, twice per commit: once as a grading served by a Keeper ("policy": the
// image labelled and held while in use, the branch's older images removed after), once as the
// runner did before ("off": the images stay). The two arms alternate, so the machine's load hits
// both alike, and their contents differ, so neither reuses the other's cache. Only the build is
// run: it is what writes to the engine's disk (a sandbox's containers go at teardown).
//
// Every -every commits, and after a sweep at the end (the policy arm's Keeper.Sweep with
// -sweep-age, default 0s: "a day later"), it prints a markdown row per arm: learner images, the
// image layers they hold (bytes only they hold: each classic-builder image in their parent
// chains counted once, up to the toolchain image), and the engine's free disk. Everything the
// bench built is removed at the end.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/moby/moby/client"

	"github.com/holdfast-ci/holdfast/grading/docker"
)

func main() {
	k := flag.Int("k", 20, "distinct commits to build per arm")
	every := flag.Int("every", 5, "print a row after every this many commits")
	dir := flag.String("dir", "scenarios/idempotentpayments/testdata/reference", "the submission to build")
	sweepAge := flag.Duration("sweep-age", 0, "max age of the final sweep of the policy arm (0: everything unheld, as a day later)")
	only := flag.Bool("policy-only", false, "build only the policy arm: half the time, for long runs (-k 200) where the off arm's growth is known")
	flag.Parse()
	if *k < 1 || *every < 1 {
		fmt.Fprintln(os.Stderr, "images: -k and -every must be 1 or more")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *k, *every, *dir, *sweepAge, *only); err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
}

type arm struct {
	name   string
	repo   string
	keeper *docker.Keeper
	serve  bool            // remove the branch's older images after each build
	ids    map[string]bool // every image its builds created, tagged or not
}

func run(ctx context.Context, k, every int, src string, sweepAge time.Duration, policyOnly bool) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	eng, err := docker.New(ctx, docker.Config{}, log)
	if err != nil {
		return err
	}
	defer eng.Close()
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return err
	}
	defer cli.Close()
	if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		return err
	}
	info, err := cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		return err
	}
	root := info.Info.DockerRootDir

	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	run := hex.EncodeToString(rnd[:])
	var arms []*arm
	for _, a := range []struct {
		name  string
		serve bool
	}{{"policy", true}, {"off", false}} {
		if policyOnly && !a.serve {
			continue
		}
		repo := "bench/" + run + "/" + a.name
		kp, err := docker.NewKeeper(ctx, eng, docker.ImagePolicy{Repo: repo, MaxAge: max(sweepAge, time.Nanosecond), DiskPath: root}, log)
		if err != nil {
			return err
		}
		arms = append(arms, &arm{name: a.name, repo: repo, keeper: kp, serve: a.serve, ids: map[string]bool{}})
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
		defer cancel()
		for _, a := range arms {
			removeRepo(cctx, cli, a.repo)
			for id := range a.ids {
				cli.ImageRemove(cctx, id, client.ImageRemoveOptions{PruneChildren: true})
			}
		}
	}()

	work, err := os.MkdirTemp("", "holdfast-imagebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	fmt.Printf("| after | arm | learner images | step images (untagged or stage) | bytes they hold | engine free disk | build (last) |\n|---|---|---|---|---|---|---|\n")
	row := func(label string, took map[string]time.Duration) error {
		for _, a := range arms {
			c, err := held(ctx, cli, a)
			if err != nil {
				return err
			}
			t := "—"
			if d, ok := took[a.name]; ok {
				t = d.Round(100 * time.Millisecond).String()
			}
			free, _, err := a.keeper.DiskFree()
			if err != nil {
				return err
			}
			fmt.Printf("| %s | %s | %d | %d | %s | %.2f GiB | %s |\n", label, a.name, c.tagged, c.untagged, mib(c.bytes), float64(free)/(1<<30), t)
		}
		return nil
	}
	// Warm-up, not counted: the module layers every commit shares (go mod download) exist before
	// the first measured build, so neither arm is charged for them.
	wd := filepath.Join(work, "warm-up")
	if err := copyDir(src, wd); err != nil {
		return err
	}
	if err := writeCommit(wd, run+"/warm-up"); err != nil {
		return err
	}
	warm, err := eng.Build(ctx, wd)
	if err != nil || warm.Failed() {
		return fmt.Errorf("warm-up build: %v %s", err, warm.Failure)
	}
	defer cli.ImageRemove(context.WithoutCancel(ctx), warm.Image, client.ImageRemoveOptions{PruneChildren: true})
	if err := row("0 commits", nil); err != nil {
		return err
	}
	took := map[string]time.Duration{}
	for i := 1; i <= k; i++ {
		for _, a := range arms {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			d := filepath.Join(work, fmt.Sprintf("%s-%d", a.name, i))
			if err := copyDir(src, d); err != nil {
				return err
			}
			if err := writeCommit(d, fmt.Sprintf("%s/%s/%d", run, a.name, i)); err != nil {
				return err
			}
			branch := "main"
			if !a.serve {
				branch = "" // labelled with the repository, held while built, never cleaned after
			}
			before, err := imageIDs(ctx, cli)
			if err != nil {
				return err
			}
			gctx, done := a.keeper.Serve(ctx, a.repo, branch, fmt.Sprintf("c%03d", i))
			start := time.Now()
			b, err := eng.Build(gctx, d)
			took[a.name] = time.Since(start)
			done()
			if err == nil && !b.Failed() {
				if err := attribute(ctx, cli, a, b.Image, before); err != nil {
					return err
				}
			}
			if err != nil {
				return fmt.Errorf("build %s commit %d: %w", a.name, i, err)
			}
			if b.Failed() {
				return fmt.Errorf("build %s commit %d failed: %s\n%s", a.name, i, b.Failure, b.LogTail)
			}
			os.RemoveAll(d)
			fmt.Fprintf(os.Stderr, "%s commit %d built in %s\n", a.name, i, took[a.name].Round(100*time.Millisecond))
		}
		if i%every == 0 || i == k {
			if err := row(fmt.Sprintf("%d commits", i), took); err != nil {
				return err
			}
		}
	}
	rep, err := arms[0].keeper.Sweep(ctx)
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	fmt.Fprintf(os.Stderr, "sweep of the policy arm (max age %s): %+v\n", sweepAge, rep)
	if err := row("sweep (policy arm only)", nil); err != nil {
		return err
	}
	// The sweep prunes dangling images older than 30 min engine-wide; the bench does not wait, and
	// must not prune other builds' on a shared engine: it removes the policy arm's own now.
	var gone int
	for id := range arms[0].ids {
		if img, err := cli.ImageInspect(ctx, id); err == nil && len(img.RepoTags) == 0 {
			if _, err := cli.ImageRemove(ctx, id, client.ImageRemoveOptions{PruneChildren: true}); err == nil {
				gone++
			}
		}
	}
	fmt.Fprintf(os.Stderr, "removed %d untagged step images of the policy arm (the sweep's dangling prune, 30 min on)\n", gone)
	return row("+ dangling prune", nil)
}

// writeCommit makes dir a distinct commit whose program differs too (a learner's push changes
// code): a Go file that the binary keeps.
func writeCommit(dir, id string) error {
	src := fmt.Sprintf("package main\n\nvar benchCommit = %q\n\nfunc init() {\n\tif benchCommit == \"\" {\n\t\tpanic(\"no commit\")\n\t}\n}\n", id)
	return os.WriteFile(filepath.Join(dir, "bench_commit.go"), []byte(src), 0o644)
}

// attribute adds to the arm the images its build of image made: those new since before in the
// parent chains of the image and of its build's stages (holdfast-stage:<hash>-n). Images other
// builds made meanwhile on the engine are not in those chains.
func attribute(ctx context.Context, cli *client.Client, a *arm, image string, before map[string]bool) error {
	l, err := cli.ImageList(ctx, client.ImageListOptions{All: true})
	if err != nil {
		return err
	}
	_, hash, _ := strings.Cut(image, ":")
	parent := map[string]string{}
	var roots []string
	for _, img := range l.Items {
		parent[img.ID] = img.ParentID
		for _, t := range img.RepoTags {
			if t == image || strings.HasPrefix(t, "holdfast-stage:"+hash+"-") {
				roots = append(roots, img.ID)
				break
			}
		}
	}
	for _, id := range roots {
		for id != "" && !before[id] && !a.ids[id] {
			a.ids[id] = true
			id = parent[id]
		}
	}
	return nil
}

func imageIDs(ctx context.Context, cli *client.Client) (map[string]bool, error) {
	l, err := cli.ImageList(ctx, client.ImageListOptions{All: true})
	if err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for _, img := range l.Items {
		ids[img.ID] = true
	}
	return ids, nil
}

type count struct {
	tagged, untagged int
	bytes            int64
}

// held counts the arm's images that still exist: its learner images (tagged), the untagged step
// images its builds left (a multi-stage build's earlier stage), and the bytes of their own
// layers (an image's Size counts its parents', which the classic builder keeps as images: its
// own layer is its Size minus its parent's). Images are attributed to the arm whose build made
// them (see attribute).
func held(ctx context.Context, cli *client.Client, a *arm) (count, error) {
	var c count
	all, err := cli.ImageList(ctx, client.ImageListOptions{All: true})
	if err != nil {
		return c, err
	}
	size := map[string]int64{}
	for _, img := range all.Items {
		size[img.ID] = img.Size
	}
	for _, img := range all.Items {
		if !a.ids[img.ID] {
			continue
		}
		if img.Labels[docker.LabelRepo] == a.repo && named(img.RepoTags) {
			c.tagged++
		} else if !named(img.RepoTags) {
			c.untagged++
		}
		c.bytes += max(img.Size-size[img.ParentID], 0)
	}
	return c, nil
}

// named reports whether tags name an image other than an untagged build step.
func named(tags []string) bool {
	for _, t := range tags {
		if t != "<none>:<none>" && !strings.HasPrefix(t, "holdfast-inuse:") && !strings.HasPrefix(t, "holdfast-stage:") {
			return true
		}
	}
	return false
}

func removeRepo(ctx context.Context, cli *client.Client, repo string) {
	l, err := cli.ImageList(ctx, client.ImageListOptions{Filters: make(client.Filters).Add("label", docker.LabelRepo+"="+repo)})
	if err != nil {
		fmt.Fprintln(os.Stderr, "images: clean up:", err)
		return
	}
	for _, img := range l.Items {
		if _, err := cli.ImageRemove(ctx, img.ID, client.ImageRemoveOptions{Force: true, PruneChildren: true}); err != nil {
			fmt.Fprintln(os.Stderr, "images: clean up:", err)
		}
	}
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(target)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}
