package docker

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/client"

	"github.com/holdfast-ci/holdfast/grading/metrics"
)

// Labels every learner image carries. A grading served by a Keeper adds which repository,
// branch and commit it was built for; the image's last use is not a label (labels cannot change
// after the build) but the engine's own LastTagTime, which markUsed refreshes by tagging the
// image again whenever a build makes or reuses it.
const (
	LabelKind   = "holdfast.kind" // "submission"
	LabelRepo   = "holdfast.repo"
	LabelBranch = "holdfast.branch"
	LabelCommit = "holdfast.commit"
)

// holdRepo names the tags that pin a learner image while a grading uses it:
// holdfast-inuse:<unix expiry>-<random>. The engine itself refuses to delete, by id and without
// force, an image tagged in two repositories, so a hold protects the image from every runner's
// sweep (not only this process's) until the grading ends or the hold expires (a runner that
// died never releases its holds; the sweep removes expired ones).
const holdRepo = "holdfast-inuse"

// stageRepo names the tags that tie a multi-stage build's earlier stages to the learner image
// they were built for: holdfast-stage:<the image's content hash>-<n>. Untagged, those stages
// (the compiler's output and cache, tens of MiB a push) would be dangling, and only the dangling
// prune would find them; tagged, they go with their image.
const stageRepo = "holdfast-stage"

type servingKey struct{}

// serving is what a Keeper's Serve puts in a grading's context: the build labels its image with
// the origin and records which image it made or reused, and the hold tag it put on it.
type serving struct {
	repo, branch, commit string
	started              time.Time
	expires              time.Time

	mu    sync.Mutex
	image string // the image's id
	holds []string
	steps map[string]bool // short ids of the images its build's steps made (stepRecorder)
}

// stepRecorder returns the writer the build log goes to: under a Keeper's Serve it also notes
// the image id of every step the classic builder reports (" ---> 0123456789ab"), so that the
// build's own earlier stages are known exactly, whatever else the engine builds meanwhile.
func stepRecorder(ctx context.Context, log io.Writer) io.Writer {
	s, ok := ctx.Value(servingKey{}).(*serving)
	if !ok {
		return log
	}
	return &stepWriter{log: log, s: s}
}

type stepWriter struct {
	log     io.Writer
	s       *serving
	partial []byte
}

func (w *stepWriter) Write(p []byte) (int, error) {
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimSpace(string(w.partial[:i]))
		w.partial = w.partial[i+1:]
		if id, ok := strings.CutPrefix(line, "---> "); ok && len(id) == 12 {
			if _, err := hex.DecodeString(id); err == nil {
				w.s.mu.Lock()
				if w.s.steps == nil {
					w.s.steps = map[string]bool{}
				}
				w.s.steps[id] = true
				w.s.mu.Unlock()
			}
		}
	}
	if len(w.partial) > 4096 {
		w.partial = w.partial[:0] // no step line is this long
	}
	return w.log.Write(p)
}

// buildLabels are the labels of an image built under ctx.
func buildLabels(ctx context.Context) map[string]string {
	l := map[string]string{LabelKind: "submission", LabelCreated: strconv.FormatInt(time.Now().Unix(), 10)}
	if s, ok := ctx.Value(servingKey{}).(*serving); ok {
		l[LabelRepo], l[LabelBranch], l[LabelCommit] = s.repo, s.branch, s.commit
	}
	return l
}

// markUsed records that a build made or reused the image tag: tagging it again moves the
// engine's LastTagTime, the sweep's measure of its last use (so the image a test command
// prebuilt minutes ago, or an old commit graded again, is not swept). Under a Keeper's Serve
// it also holds the image until the grading ends.
func (e *Engine) markUsed(ctx context.Context, tag string) error {
	if _, err := e.cli.ImageTag(ctx, client.ImageTagOptions{Source: tag, Target: tag}); err != nil {
		return fmt.Errorf("mark image %s as used: %w", tag, err)
	}
	s, ok := ctx.Value(servingKey{}).(*serving)
	if !ok {
		return nil
	}
	img, err := e.cli.ImageInspect(ctx, tag)
	if err != nil {
		return fmt.Errorf("inspect image %s: %w", tag, err)
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	hold := fmt.Sprintf("%s:%d-%s", holdRepo, s.expires.Unix(), hex.EncodeToString(rnd[:]))
	if _, err := e.cli.ImageTag(ctx, client.ImageTagOptions{Source: tag, Target: hold}); err != nil {
		return fmt.Errorf("hold image %s while it is graded: %w", tag, err)
	}
	s.mu.Lock()
	s.image = img.ID
	s.holds = append(s.holds, hold)
	steps := s.steps
	s.steps = nil
	s.mu.Unlock()
	if len(steps) > 0 {
		return e.tagStages(ctx, tag, steps)
	}
	return nil
}

// tagStages tags the build's step images that are dangling once it is done (the tops of its
// earlier stages) with stageRepo and tag's hash.
func (e *Engine) tagStages(ctx context.Context, tag string, steps map[string]bool) error {
	_, hash, _ := strings.Cut(tag, ":")
	l, err := e.cli.ImageList(ctx, client.ImageListOptions{Filters: make(client.Filters).Add("dangling", "true")})
	if err != nil {
		return fmt.Errorf("list the build's stages: %w", err)
	}
	n := 0
	for _, img := range l.Items {
		if !steps[shortID(img.ID)] {
			continue
		}
		n++
		if _, err := e.cli.ImageTag(ctx, client.ImageTagOptions{Source: img.ID, Target: fmt.Sprintf("%s:%s-%d", stageRepo, hash, n)}); err != nil && !isNotFound(err) {
			return fmt.Errorf("tag the build's stage %s: %w", shortID(img.ID), err)
		}
	}
	return nil
}

// removeStages removes the stage tags in l of the learner images whose hashes are in gone (their
// images deleted); an image left without a tag and without children goes with its tag.
func (k *Keeper) removeStages(ctx context.Context, l client.ImageListResult, gone func(hash string) bool) (int, error) {
	var n int
	var errs []error
	for _, img := range l.Items {
		for _, t := range img.RepoTags {
			rest, ok := strings.CutPrefix(t, stageRepo+":")
			if !ok {
				continue
			}
			hash, _, _ := strings.Cut(rest, "-")
			if !gone(hash) {
				continue
			}
			if _, err := k.eng.cli.ImageRemove(ctx, t, client.ImageRemoveOptions{PruneChildren: true}); err != nil && !isNotFound(err) && !isConflict(err) {
				errs = append(errs, fmt.Errorf("remove build stage %s: %w", t, err))
				continue
			}
			n++
		}
	}
	return n, errors.Join(errs...)
}

// submissionHashes returns the content hashes of the learner images that exist.
func (k *Keeper) submissionHashes(ctx context.Context) (map[string]bool, error) {
	l, err := k.eng.cli.ImageList(ctx, client.ImageListOptions{Filters: make(client.Filters).Add("reference", submissionRepo)})
	if err != nil {
		return nil, fmt.Errorf("list learner images: %w", err)
	}
	have := map[string]bool{}
	for _, img := range l.Items {
		for _, t := range img.RepoTags {
			if h, ok := strings.CutPrefix(t, submissionRepo+":"); ok {
				have[h] = true
			}
		}
	}
	return have, nil
}

// ImagePolicy says how long learner images live and how much disk the engine keeps free.
type ImagePolicy struct {
	// MaxAge: an unheld learner image whose last use is older than this is swept. Default 24 h
	// (HOLDFAST_IMAGE_MAX_AGE); it is also what protects the images a test command prebuilt.
	MaxAge time.Duration
	// FloorBytes and FloorPercent are the disk-free floor on the engine's data root
	// (HOLDFAST_DISK_FLOOR, default 5 GiB): below it the Keeper prunes, and if that is not
	// enough Room says why and the runner takes no job. At most one is set; neither turns the
	// floor off.
	FloorBytes   uint64
	FloorPercent float64
	// DiskPath is where this process sees the engine's data root (HOLDFAST_DISK_PATH).
	// Default: the engine's own DockerRootDir (docker info), which is right when the runner
	// runs on the Docker host or has the data root mounted at the same path.
	DiskPath string
	// Repo, when set, confines the sweeps and the floor's prunes to learner images built for
	// this repository (label holdfast.repo), and leaves out the engine-wide prunes of dangling
	// images and build containers: for tests and benchmarks that share an engine with real
	// gradings and builds. Default "": every learner image, and the engine-wide prunes.
	Repo string
	// DanglingAge: the sweep prunes untagged images (a multi-stage build's earlier stages, a
	// cut-off build's steps) older than this. Default 30 min: an image builder's newest step
	// image is untagged between two steps of a build in progress, and no build runs that long.
	DanglingAge time.Duration
}

// DefaultImageMaxAge and DefaultDiskFloor are ImagePolicy's defaults.
const (
	DefaultImageMaxAge = 24 * time.Hour
	DefaultDiskFloor   = 5 << 30
)

// danglingGrace is DanglingAge's default, and how old a stopped build container must be
// before the sweep removes it.
const danglingGrace = 30 * time.Minute

// floorPruneAge is the MaxAge of the prune the floor triggers: everything unheld and unused for
// this long goes, not only day-old images.
const floorPruneAge = 15 * time.Minute

// floorPruneEvery rate-limits the floor's prunes: a full runner asks Room at every job pick.
const floorPruneEvery = time.Minute

// Keeper keeps an engine's learner images and disk bounded: it labels and holds the image of
// each grading it serves, removes a branch's older images after a grading, sweeps old images
// and build leftovers, and checks the disk-free floor before a job is taken.
type Keeper struct {
	eng    *Engine
	policy ImagePolicy
	log    *slog.Logger

	mu        sync.Mutex
	lastPrune time.Time
	low       bool // below the floor at the last Room: its log says so once, and once when it ends
}

// ErrDiskLow means the engine's disk is below the floor even after pruning.
var ErrDiskLow = errors.New("the Docker engine's disk is below its free-space floor")

// NewKeeper returns a Keeper for eng. With a floor it checks that it can measure the engine's
// data root, and says how to make it visible if not.
func NewKeeper(ctx context.Context, eng *Engine, policy ImagePolicy, log *slog.Logger) (*Keeper, error) {
	if policy.MaxAge == 0 {
		policy.MaxAge = DefaultImageMaxAge
	}
	if policy.DanglingAge == 0 {
		policy.DanglingAge = danglingGrace
	}
	if policy.MaxAge < 0 || policy.DanglingAge < 0 {
		return nil, fmt.Errorf("image max age %s: must be positive", policy.MaxAge)
	}
	if policy.FloorBytes > 0 && policy.FloorPercent > 0 {
		return nil, errors.New("disk floor: give bytes or a percentage, not both")
	}
	if policy.FloorPercent < 0 || policy.FloorPercent >= 100 {
		return nil, fmt.Errorf("disk floor %g%%: must be between 0 and 100", policy.FloorPercent)
	}
	k := &Keeper{eng: eng, policy: policy, log: log}
	if !k.hasFloor() {
		return k, nil
	}
	if k.policy.DiskPath == "" {
		info, err := eng.cli.Info(ctx, client.InfoOptions{})
		if err != nil {
			return nil, fmt.Errorf("ask the Docker engine for its data root: %w", err)
		}
		k.policy.DiskPath = info.Info.DockerRootDir
	}
	if err := checkDataRoot(k.policy.DiskPath); err != nil {
		return nil, fmt.Errorf("cannot measure the Docker engine's free disk: %v. Run the runner on the Docker host, mount the data root read-only at the same path (e.g. -v /var/lib/docker:/var/lib/docker:ro), set HOLDFAST_DISK_PATH to where it is mounted, or turn the floor off with HOLDFAST_DISK_FLOOR=off", err)
	}
	if _, _, err := k.DiskFree(); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *Keeper) hasFloor() bool { return k.policy.FloorBytes > 0 || k.policy.FloorPercent > 0 }

// Policy returns the policy in force (DiskPath resolved).
func (k *Keeper) Policy() ImagePolicy { return k.policy }

// DiskFree returns the free and total bytes of the filesystem holding the engine's data root.
func (k *Keeper) DiskFree() (free, total uint64, err error) {
	return statfs(k.policy.DiskPath)
}

// floor returns the floor in bytes for a filesystem of total bytes.
func (k *Keeper) floor(total uint64) uint64 {
	if k.policy.FloorPercent > 0 {
		return uint64(float64(total) * k.policy.FloorPercent / 100)
	}
	return k.policy.FloorBytes
}

// Room returns nil when the engine's disk is above the floor (or there is none). Below it, it
// first prunes (at most once a minute), measures again, and returns an ErrDiskLow saying how
// much is free, when still below. The runner then takes no job; it resumes by itself once
// Room returns nil again.
func (k *Keeper) Room(ctx context.Context) error {
	if !k.hasFloor() {
		return nil
	}
	free, floor, err := k.measure()
	if err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if free < floor && time.Since(k.lastPrune) >= floorPruneEvery {
		k.lastPrune = time.Now()
		k.log.Warn("the Docker engine's disk is below its floor: pruning", "free_bytes", free, "floor_bytes", floor, "path", k.policy.DiskPath)
		rep, err := k.sweep(ctx, floorPruneAge, "floor")
		if err != nil {
			k.log.Warn("prune below the disk floor", "err", err)
		}
		k.log.Info("pruned below the disk floor", "images", rep.Images, "dangling", rep.Dangling, "containers", rep.Containers, "reclaimed_bytes", rep.Reclaimed)
		if free, floor, err = k.measure(); err != nil {
			return err
		}
	}
	if free < floor {
		low := k.diskLow(free, floor, "pruning old learner images did not free enough")
		if !k.low {
			k.log.Error("taking no gradings: "+low.Error(), "free_bytes", free, "floor_bytes", floor)
		}
		k.low = true
		metrics.Paused("disk", true)
		return low
	}
	if k.low {
		k.log.Info("the Docker engine's disk is above its floor again: taking gradings", "free_bytes", free, "floor_bytes", floor)
		k.low = false
	}
	metrics.Paused("disk", false)
	return nil
}

// Ready is Room without the prune, for a readiness probe that must answer in seconds: nil when
// the disk is above the floor (or there is none), ErrDiskLow saying how much is free otherwise.
func (k *Keeper) Ready(context.Context) error {
	if !k.hasFloor() {
		return nil
	}
	free, floor, err := k.measure()
	if err != nil {
		return err
	}
	metrics.Paused("disk", free < floor) // until Room, at a job pick, prunes its way back above
	if free < floor {
		return k.diskLow(free, floor, "the runner prunes old learner images when it is next offered a job")
	}
	return nil
}

// measure returns the free bytes on the engine's data root and the floor, and records both.
func (k *Keeper) measure() (free, floor uint64, err error) {
	free, total, err := k.DiskFree()
	if err != nil {
		return 0, 0, err
	}
	floor = k.floor(total)
	metrics.DiskFree(free, floor)
	return free, floor, nil
}

// diskLow is the ErrDiskLow for free bytes below floor: how far below, what the runner did or
// does about it (done), and what the operator can do.
func (k *Keeper) diskLow(free, floor uint64, done string) error {
	return fmt.Errorf("%w: %s free at %s, floor %s; %s. Free disk on the Docker host (docker system df shows what uses it) or lower HOLDFAST_DISK_FLOOR", ErrDiskLow, bytesText(free), k.policy.DiskPath, bytesText(floor), done)
}

// Serve returns the context a grading of repo's branch at commit runs under, and done, to call
// when it ended. The build under ctx labels a new image with repo, branch and commit, and holds
// the image it made or reused until done, which then removes the branch's other images whose
// last use came before this grading started (the newest one stays, for a push of the same
// content and for the kept-image policy; an image another grading still holds stays too).
func (k *Keeper) Serve(ctx context.Context, repo, branch, commit string) (context.Context, func()) {
	now := time.Now()
	expires := now.Add(time.Hour)
	if d, ok := ctx.Deadline(); ok {
		expires = d.Add(time.Minute)
	}
	s := &serving{repo: repo, branch: branch, commit: commit, started: now, expires: expires}
	return context.WithValue(ctx, servingKey{}, s), func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		s.mu.Lock()
		holds, image := s.holds, s.image
		s.mu.Unlock()
		for _, h := range holds {
			if _, err := k.eng.cli.ImageRemove(cctx, h, client.ImageRemoveOptions{}); err != nil && !isNotFound(err) {
				k.log.Warn("release the grading's image hold; the sweep removes it when it expires", "tag", h, "err", err)
			}
		}
		if repo == "" || branch == "" {
			return
		}
		n, reclaimed, err := k.removeBranch(cctx, repo, branch, image, s.started)
		if err != nil {
			k.log.Warn("remove the branch's older images", "repo", repo, "branch", branch, "err", err)
		}
		if n > 0 {
			k.log.Info("removed the branch's older images", "repo", repo, "branch", branch, "images", n, "reclaimed_bytes", reclaimed)
		}
	}
}

// removeBranch removes repo's branch's learner images other than keep that were last used
// before since.
func (k *Keeper) removeBranch(ctx context.Context, repo, branch, keep string, since time.Time) (int, uint64, error) {
	f := make(client.Filters).Add("label", LabelKind+"=submission", LabelRepo+"="+repo, LabelBranch+"="+branch)
	list, err := k.eng.cli.ImageList(ctx, client.ImageListOptions{Filters: f})
	if err != nil {
		return 0, 0, fmt.Errorf("list images of %s@%s: %w", repo, branch, err)
	}
	var n int
	var reclaimed uint64
	var errs []error
	for _, img := range list.Items {
		// Labels are exact, but the filter matches a label given twice loosely on old engines:
		// check again.
		if img.ID == keep || img.Labels[LabelRepo] != repo || img.Labels[LabelBranch] != branch || held(img.RepoTags) {
			continue
		}
		used, err := k.lastUsed(ctx, img.ID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !used.Before(since) {
			continue
		}
		ok, err := k.remove(ctx, img.ID, "branch")
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			n++
			reclaimed += uint64(max(img.Size, 0))
		}
	}
	if n > 0 {
		if err := k.sweepStages(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return n, reclaimed, errors.Join(errs...)
}

// held reports whether tags include a hold.
func held(tags []string) bool {
	for _, t := range tags {
		if strings.HasPrefix(t, holdRepo+":") {
			return true
		}
	}
	return false
}

// lastUsed is when an image was last built or reused: the engine's LastTagTime (markUsed moves
// it), or its creation when it was never tagged again.
func (k *Keeper) lastUsed(ctx context.Context, id string) (time.Time, error) {
	img, err := k.eng.cli.ImageInspect(ctx, id)
	if err != nil {
		return time.Time{}, fmt.Errorf("inspect image %s: %w", shortID(id), err)
	}
	used := img.Metadata.LastTagTime
	if created, err := time.Parse(time.RFC3339Nano, img.Created); err == nil && created.After(used) {
		used = created
	}
	return used, nil
}

// remove deletes an image by id, never forced: the engine refuses when a container (a sandbox's
// app) uses it or a hold tags it, which is what protects a grading in progress on any runner.
// A refusal is not an error; ok says whether it went.
func (k *Keeper) remove(ctx context.Context, id, reason string) (ok bool, err error) {
	_, err = k.eng.cli.ImageRemove(ctx, id, client.ImageRemoveOptions{PruneChildren: true})
	switch {
	case err == nil:
		metrics.ImagesRemoved(reason, 1)
		return true, nil
	case isNotFound(err):
		return false, nil
	case isConflict(err):
		k.log.Debug("image in use: kept", "image", shortID(id), "err", err)
		return false, nil
	}
	return false, fmt.Errorf("remove image %s: %w", shortID(id), err)
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// SweepReport says what a sweep removed.
type SweepReport struct {
	Holds      int    // expired holds released (their runner died mid-grading)
	Images     int    // learner images unused for longer than the max age
	Dangling   int    // untagged images: leftovers of failed or cut-off builds
	Containers int    // stopped build containers
	Reclaimed  uint64 // bytes, as the engine counts them (shared layers counted once per image)
}

// Sweep removes expired holds, learner images whose last use is older than the policy's max
// age, dangling images older than its DanglingAge and stopped build containers older than half
// an hour. It never removes an
// image a grading holds or a container uses, nor any image Holdfast did not build (the
// toolchain, sidecar and agent images carry no holdfast.kind=submission label and are tagged).
func (k *Keeper) Sweep(ctx context.Context) (SweepReport, error) {
	return k.sweep(ctx, k.policy.MaxAge, "age")
}

func (k *Keeper) sweep(ctx context.Context, maxAge time.Duration, reason string) (SweepReport, error) {
	var rep SweepReport
	var errs []error
	now := time.Now()

	holds, err := k.eng.cli.ImageList(ctx, client.ImageListOptions{Filters: make(client.Filters).Add("reference", holdRepo)})
	if err != nil {
		return rep, fmt.Errorf("list image holds: %w", err)
	}
	for _, img := range holds.Items {
		for _, t := range img.RepoTags {
			exp, ok := holdExpiry(t)
			if !ok || now.Before(exp) {
				continue
			}
			if _, err := k.eng.cli.ImageRemove(ctx, t, client.ImageRemoveOptions{}); err != nil && !isNotFound(err) {
				errs = append(errs, fmt.Errorf("release expired hold %s: %w", t, err))
				continue
			}
			rep.Holds++
		}
	}

	f := make(client.Filters).Add("label", LabelKind+"=submission")
	if k.policy.Repo != "" {
		f.Add("label", LabelRepo+"="+k.policy.Repo)
	}
	list, err := k.eng.cli.ImageList(ctx, client.ImageListOptions{Filters: f})
	if err != nil {
		return rep, errors.Join(append(errs, fmt.Errorf("list learner images: %w", err))...)
	}
	cutoff := now.Add(-maxAge)
	for _, img := range list.Items {
		if held(img.RepoTags) || len(img.RepoTags) == 0 || (k.policy.Repo != "" && img.Labels[LabelRepo] != k.policy.Repo) {
			continue // untagged: the dangling prune below decides
		}
		used, err := k.lastUsed(ctx, img.ID)
		if err != nil {
			if !isNotFound(err) {
				errs = append(errs, err)
			}
			continue
		}
		if used.After(cutoff) {
			continue
		}
		ok, err := k.remove(ctx, img.ID, reason)
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			rep.Images++
			rep.Reclaimed += uint64(max(img.Size, 0))
		}
	}

	if err := k.sweepStages(ctx); err != nil {
		errs = append(errs, err)
	}

	if k.policy.Repo != "" {
		// Confined to one repository (a test, a benchmark): the engine-wide prunes below would
		// reach into gradings and builds that are not ours.
		return rep, errors.Join(errs...)
	}
	// Stopped build containers first: they keep their intermediate image from being pruned.
	cs, err := k.eng.cli.ContainerList(ctx, client.ContainerListOptions{All: true,
		Filters: make(client.Filters).Add("status", "created", "exited", "dead")})
	if err != nil {
		errs = append(errs, fmt.Errorf("list stopped containers: %w", err))
	} else {
		for _, c := range cs.Items {
			if !buildLeftover(c.Labels, c.Image, c.Command, c.Created, now) {
				continue
			}
			if _, err := k.eng.cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{}); err != nil && !isNotFound(err) {
				errs = append(errs, fmt.Errorf("remove build container %s: %w", shortID(c.ID), err))
				continue
			}
			rep.Containers++
		}
	}

	pr, err := k.eng.cli.ImagePrune(ctx, client.ImagePruneOptions{Filters: make(client.Filters).
		Add("dangling", "true").Add("until", fmt.Sprintf("%ds", int(k.policy.DanglingAge.Seconds())))})
	if err != nil {
		errs = append(errs, fmt.Errorf("prune dangling images: %w", err))
	} else {
		for _, d := range pr.Report.ImagesDeleted {
			if d.Deleted != "" {
				rep.Dangling++
			}
		}
		rep.Reclaimed += pr.Report.SpaceReclaimed
		metrics.ImagesRemoved("dangling", rep.Dangling)
	}
	return rep, errors.Join(errs...)
}

// sweepStages removes the build stages of learner images that no longer exist.
func (k *Keeper) sweepStages(ctx context.Context) error {
	// Stages first, images second: a stage is tagged after its image, so every stage listed
	// here has its image in the second list unless it is really gone (the other order would
	// take a concurrent grading's fresh stage for an orphan).
	l, err := k.eng.cli.ImageList(ctx, client.ImageListOptions{Filters: make(client.Filters).Add("reference", stageRepo)})
	if err != nil {
		return fmt.Errorf("list build stages: %w", err)
	}
	have, err := k.submissionHashes(ctx)
	if err != nil {
		return err
	}
	_, err = k.removeStages(ctx, l, func(h string) bool { return !have[h] })
	return err
}

// buildLeftover reports whether a stopped container is one the classic builder left behind (a
// build cut off, or a daemon restarted mid-build): no Holdfast sandbox label, created from an
// image id rather than a name (the builder runs each step from the previous step's image),
// running a RUN step's shell, and older than any build can be.
func buildLeftover(labels map[string]string, image, command string, created int64, now time.Time) bool {
	if labels[LabelRun] != "" || time.Unix(created, 0).After(now.Add(-danglingGrace)) {
		return false
	}
	id := strings.TrimPrefix(image, "sha256:")
	if len(id) < 12 || strings.ContainsAny(id, ":/") {
		return false
	}
	if _, err := hex.DecodeString(id); err != nil {
		return false
	}
	return strings.HasPrefix(command, "/bin/sh -c ")
}

// holdExpiry parses a hold tag's expiry.
func holdExpiry(tag string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(tag, holdRepo+":")
	if !ok {
		return time.Time{}, false
	}
	sec, _, _ := strings.Cut(rest, "-")
	n, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
}

// bytesText writes n in GiB or MiB, for operators.
func bytesText(n uint64) string {
	if n >= 1<<30 {
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
}
