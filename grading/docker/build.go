package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/client"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/scenarios/untrusted"
)

// submissionRepo is the repository name of built learner images; the tag is the context hash
// (with the build args, and the images named by those the Dockerfile uses), so the same
// submission is built once.
const submissionRepo = "holdfast-submission"

// Build builds the image of the submission in dir with the classic builder.
func (e *Engine) Build(ctx context.Context, dir string) (grading.BuildResult, error) {
	failed := func(f *grading.BuildError) (grading.BuildResult, error) {
		return grading.BuildResult{Failure: f}, nil
	}
	dockerfile, err := readDockerfile(dir)
	if errors.Is(err, untrusted.ErrSymlink) {
		return failed(&grading.BuildError{Kind: grading.BuildSymlink, File: "Dockerfile"})
	}
	if err != nil {
		return failed(&grading.BuildError{Kind: grading.BuildNoDockerfile})
	}
	if r := checkDockerfile(dockerfile, e.cfg.BuildArgs); r != nil {
		return failed(&grading.BuildError{Kind: grading.BuildRefused, Refusal: r})
	}
	ctxTar, files, sum, err := contextTar(dir, e.cfg.MaxContextBytes)
	if errors.Is(err, untrusted.ErrSymlink) {
		return failed(&grading.BuildError{Kind: grading.BuildSymlink, File: ".dockerignore"})
	}
	if errors.Is(err, errContextTooLarge) {
		return grading.BuildResult{Files: files, Failure: &grading.BuildError{Kind: grading.BuildContextTooLarge, MaxContextBytes: e.cfg.MaxContextBytes}}, nil
	}
	if err != nil {
		return grading.BuildResult{}, fmt.Errorf("pack build context: %w", err)
	}
	h := sha256.New()
	h.Write(sum)
	keys := make([]string, 0, len(e.cfg.BuildArgs))
	for k := range e.cfg.BuildArgs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	args := map[string]*string{}
	for _, k := range keys {
		v := e.cfg.BuildArgs[k]
		args[k] = &v
		fmt.Fprintf(h, "\x00%s=%s", k, v)
		// The image behind the name counts too: after a toolchain image is rebuilt (Node 18 →
		// 20), an unchanged commit must build again, not reuse an image made on the old one.
		// Only for an argument the Dockerfile names (its ARG): the builder ignores the others,
		// so a Go submission neither waits on inspecting the Node image nor is built again
		// when that image changes.
		if !bytes.Contains(dockerfile, []byte(k)) {
			continue
		}
		if img, err := e.cli.ImageInspect(ctx, v); err == nil {
			fmt.Fprintf(h, "@%s", img.ID)
		}
	}
	tag := submissionRepo + ":" + hex.EncodeToString(h.Sum(nil))[:20]
	if _, err := e.cli.ImageInspect(ctx, tag); err == nil && !e.cfg.Build.NoCache {
		return grading.BuildResult{Image: tag, Files: files, Cached: true}, e.markUsed(ctx, tag)
	}

	bc := e.cfg.Build
	opts := client.ImageBuildOptions{
		Tags:        []string{tag},
		Dockerfile:  "Dockerfile",
		Remove:      true,
		ForceRemove: true,
		BuildArgs:   args,
		Version:     build.BuilderV1,
		Labels:      buildLabels(ctx), // images.go: kind, origin; markUsed below records each use
		Memory:      bc.MemoryBytes,
		MemorySwap:  bc.MemoryBytes,
		CPUPeriod:   100_000,
		CPUQuota:    int64(bc.CPUs * 100_000),
		NoCache:     bc.NoCache,
	}
	if bc.Network == BuildNetworkOpen {
		e.log.Warn("building on Docker's default bridge, as HOLDFAST_BUILD_NETWORK=open asks: build steps reach this host and its private network", "image", tag)
	} else {
		netName, proxy, release, err := e.buildNetwork(ctx, bc)
		if err != nil {
			return grading.BuildResult{}, fmt.Errorf("fenced build network (HOLDFAST_BUILD_NETWORK=open builds on the open bridge instead): %w", err)
		}
		defer release()
		opts.NetworkMode = netName
		for k, v := range proxyArgs(proxy) {
			args[k] = &v
		}
	}
	if bc.Pids < 0 {
		e.log.Warn("building without a pids cap, as HOLDFAST_BUILD_PIDS=-1 asks", "image", tag)
	} else {
		if host := e.cli.DaemonHost(); !strings.HasPrefix(host, "unix://") {
			return grading.BuildResult{}, fmt.Errorf("the build pids cap is set through this machine's cgroups, but the engine is at %s: run the runner on the engine's host, or set HOLDFAST_BUILD_PIDS=-1 to build without the cap", host)
		}
		cg, err := newBuildCgroup(bc.Pids)
		if err != nil {
			return grading.BuildResult{}, err
		}
		opts.CgroupParent = cg.parent
		defer e.stopBuild(context.WithoutCancel(ctx), cg)
	}

	// When the time cap fires, the request is cancelled: the client closes the connection and
	// dockerd kills the running step's container and commits nothing (stopBuild then removes
	// whatever still runs under the build's cgroup, should the daemon lag).
	bctx, cancel := context.WithTimeout(ctx, e.cfg.BuildTimeout)
	defer cancel()
	timedOut := func() bool { return bctx.Err() != nil && ctx.Err() == nil }
	timeout := grading.BuildResult{Image: tag, Files: files, Failure: &grading.BuildError{Kind: grading.BuildTimedOut, Timeout: e.cfg.BuildTimeout}}
	// A step that fails saying the disk is full is decided by the disk itself (noSpace below).
	disk := e.watchDisk(bctx)
	defer disk.end()
	resp, err := e.cli.ImageBuild(bctx, bytes.NewReader(ctxTar), opts)
	if err != nil {
		if timedOut() {
			return timeout, nil
		}
		return grading.BuildResult{}, fmt.Errorf("start image build: %w", err)
	}
	defer resp.Body.Close()
	tail := newTail(e.cfg.MaxBuildLogBytes)
	failure, err := readBuildStream(resp.Body, stepRecorder(ctx, tail)) // images.go: a stage's images
	// The classic builder colours a step's stderr (ESC[91m … ESC[0m) and compilers may colour
	// their own: plain text reads right in every report and lets the annotation parser see a
	// compiler error that starts a line.
	logTail := grading.PlainText(tail.String())
	if timedOut() {
		timeout.LogTail = logTail
		return timeout, nil
	}
	cancel() // a stream that ended early (an error) closes the connection now
	result := grading.BuildResult{Image: tag, Files: files, LogTail: logTail}
	switch {
	case ctx.Err() != nil:
		return result, ctx.Err()
	case err != nil:
		return result, fmt.Errorf("read build output: %w", err)
	case failure != "":
		step := firstLine(failure)
		if isNoSpace(step) { // the daemon's own error: the engine's disk is full
			return result, &grading.BuildError{Kind: grading.BuildOutOfDisk, Step: step}
		}
		f := &grading.BuildError{Kind: grading.BuildStepFailed, Step: step}
		if saysNoSpace(logTail) {
			if full := e.noSpace(ctx, tag, disk, f); full != nil {
				return result, full
			}
		}
		result.Failure = f
		return result, nil
	}
	return result, e.markUsed(ctx, tag)
}

// noSpace decides a failed build whose output says "no space left on device": a step's words
// are the learner's to print, so the engine's free disk decides. On a (nearly) full disk the
// failure is the host's, returned as a BuildOutOfDisk; with room it stays the learner's f. A
// disk this process cannot measure leaves f the learner's, saying so (f.DiskUnchecked).
func (e *Engine) noSpace(ctx context.Context, tag string, w *diskWatch, f *grading.BuildError) *grading.BuildError {
	d, err := w.result(ctx, e)
	switch {
	case err != nil:
		f.DiskUnchecked = err.Error()
		e.log.Warn("a build step failed saying no space left on device, and the engine's free disk cannot be measured: the learner is told it may be the host's", "image", tag, "err", err)
	case d.nearlyFull():
		e.log.Error("a build step ran out of disk space: the engine's disk is full; the submission is not judged", "image", tag, "path", d.path, "free_bytes", d.free, "total_bytes", d.total)
		return &grading.BuildError{Kind: grading.BuildOutOfDisk, Step: f.Step, DiskPath: d.path, DiskFree: d.free, DiskTotal: d.total}
	default:
		e.log.Info("a build step failed saying no space left on device, but the engine's disk has room: the learner's failure", "image", tag, "path", d.path, "free_bytes", d.free)
	}
	return nil
}

// stopBuild removes the containers still running under a build's cgroup (none, once dockerd
// has seen the request cancelled), then the cgroup.
func (e *Engine) stopBuild(ctx context.Context, cg *buildCgroup) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for range 50 {
		ids := cg.containers()
		if len(ids) == 0 {
			break
		}
		for _, id := range ids {
			if _, err := e.cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true}); err != nil && !isNotFound(err) {
				e.log.Warn("remove build step container", "container", id[:12], "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
	cg.remove()
}

// readBuildStream reads the builder's JSON messages into the log, and returns the build's own
// error message, if it failed.
func readBuildStream(r io.Reader, log io.Writer) (string, error) {
	dec := json.NewDecoder(r)
	for {
		var msg struct {
			Stream      string `json:"stream"`
			Status      string `json:"status"`
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&msg); err != nil {
			if err == io.EOF {
				return "", nil
			}
			return "", err
		}
		io.WriteString(log, msg.Stream)
		if msg.Status != "" {
			io.WriteString(log, msg.Status+"\n")
		}
		if msg.Error != "" || msg.ErrorDetail.Message != "" {
			m := msg.ErrorDetail.Message
			if m == "" {
				m = msg.Error
			}
			io.WriteString(log, m+"\n")
			return m, nil
		}
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

var errContextTooLarge = errors.New("build context too large")

// contextTar packs dir as a build context, honouring .dockerignore like `docker build` does
// (the Dockerfile and .dockerignore are always sent). Modification times are fixed, so the same
// content packs to the same bytes and hash. It returns the repo-relative file list too.
func contextTar(dir string, maxBytes int64) ([]byte, []string, []byte, error) {
	var patterns []string
	ignore, err := readSubmissionFile(dir, ".dockerignore", 1<<20)
	switch {
	case err == nil:
		if patterns, err = ignorefile.ReadAll(bytes.NewReader(ignore)); err != nil {
			return nil, nil, nil, fmt.Errorf("read .dockerignore: %w", err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, nil, nil, err
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, nil, nil, fmt.Errorf(".dockerignore: %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	var files []string
	var total int64
	epoch := time.Unix(946684800, 0) // 2000-01-01, any fixed time does
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel != "Dockerfile" && rel != ".dockerignore" {
			skip, err := pm.MatchesOrParentMatches(rel)
			if err != nil {
				return err
			}
			if skip {
				if d.IsDir() && !pm.Exclusions() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		} else if !info.Mode().IsRegular() && !info.IsDir() {
			return nil // sockets, devices: not build input
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name = rel
		if info.IsDir() {
			hdr.Name += "/"
		}
		hdr.ModTime, hdr.AccessTime, hdr.ChangeTime = epoch, time.Time{}, time.Time{}
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		hdr.Format = tar.FormatPAX
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		files = append(files, rel)
		total += info.Size()
		if total > maxBytes {
			return errContextTooLarge
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return nil, files, nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, nil, nil, err
	}
	sum := sha256.Sum256(buf.Bytes())
	return buf.Bytes(), files, sum[:], nil
}

// tail keeps the last max bytes written to it.
type tail struct {
	max int
	buf []byte
	cut bool
}

func newTail(max int) *tail { return &tail{max: max} }

func (t *tail) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
		t.cut = true
	}
	return len(p), nil
}

func (t *tail) String() string {
	if t.cut {
		if i := bytes.IndexByte(t.buf, '\n'); i >= 0 {
			return "…\n" + string(t.buf[i+1:])
		}
	}
	return string(t.buf)
}

// readDockerfile reads at most 1 MiB (and a byte, so that checkDockerfile sees it is too long)
// of a learner's Dockerfile in dir: the context's cap is checked later, and a huge file must not
// be read whole first.
func readDockerfile(dir string) ([]byte, error) {
	return readSubmissionFile(dir, "Dockerfile", maxDockerfileLength+1)
}

// readSubmissionFile reads at most max bytes of a file the runner itself reads from the
// submission in dir, by untrusted.Open's rule (a regular file inside dir; a symbolic link's
// error matches untrusted.ErrSymlink).
func readSubmissionFile(dir, name string, max int64) ([]byte, error) {
	f, _, err := untrusted.Open(dir, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, max))
}
