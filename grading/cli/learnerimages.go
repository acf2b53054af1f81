package cli

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/client"

	"github.com/holdfast-ci/holdfast/grading/app/config"
	"github.com/holdfast-ci/holdfast/grading/docker"
)

// toolchainArg is the build argument each starter language's Dockerfile takes its image from.
var toolchainArg = map[string]string{"go": "GO_IMAGE", "ts": "NODE_IMAGE", "python": "PYTHON_IMAGE"}

// imageSet is one way of getting the sidecar and toolchain images: the official ones from
// Docker Hub, or the local stand-ins deploy/bootstrap.sh builds (deploy/README.md maps them).
type imageSet struct {
	name            string
	postgres, redis string
	buildArgs       map[string]string // GO_IMAGE, NODE_IMAGE, PYTHON_IMAGE, PIP_INSTALL
}

// officialImages are bootstrap.sh's HOLDFAST_IMAGES=official. The python image lacks the
// starters' packages, hence PIP_INSTALL=1.
var officialImages = imageSet{name: "the official images", postgres: "postgres:16", redis: "redis:7", buildArgs: map[string]string{
	"GO_IMAGE": "golang:1.26-bookworm", "NODE_IMAGE": "node:20-bookworm-slim", "PYTHON_IMAGE": "python:3.11-slim-bookworm", "PIP_INSTALL": "1",
}}

// localImages are the engine's defaults: the stand-ins bootstrap.sh builds.
func localImages() imageSet {
	d := docker.Config{}.Defaults()
	return imageSet{name: "the local stand-ins", postgres: d.PostgresImage, redis: d.RedisImage, buildArgs: maps.Clone(d.BuildArgs)}
}

// withConfig applies the images cfg names (HOLDFAST_POSTGRES_IMAGE, …), which win over the set.
func (s imageSet) withConfig(cfg config.Config) imageSet {
	s.buildArgs = maps.Clone(s.buildArgs)
	if cfg.PostgresImage != "" {
		s.postgres = cfg.PostgresImage
	}
	if cfg.RedisImage != "" {
		s.redis = cfg.RedisImage
	}
	maps.Copy(s.buildArgs, cfg.Engine().BuildArgs) // only the ones cfg names
	return s
}

// need lists the images a grading of a toolchain starter pulls from this set.
func (s imageSet) need(toolchain string) []string {
	return []string{s.postgres, s.redis, s.buildArgs[toolchain]}
}

// learnerImages is what prepareImages settled on.
type learnerImages struct {
	postgres, redis, agent string
	buildArgs              map[string]string
}

// prepareImages chooses the image set and makes sure its images and the agent image are on the
// engine, saying which on the first line of stderr: HOLDFAST_IMAGES=official pulls the official
// images, local uses the stand-ins; unset, official when they are here or Docker Hub answers,
// else the stand-ins, with the reason. Neither: an error that names both fixes.
func prepareImages(ctx context.Context, cfg config.Config, env learnerEnv, toolchain string) (learnerImages, error) {
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return learnerImages{}, fmt.Errorf("docker client: %w", err)
	}
	defer cli.Close()
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		return learnerImages{}, fmt.Errorf("%w at %s (%v). Start Docker (Docker Desktop, or `sudo systemctl start docker`), or point DOCKER_HOST at a running engine", docker.ErrNoEngine, cli.DaemonHost(), err)
	}

	official, local := officialImages.withConfig(cfg), localImages().withConfig(cfg)
	set, err := chooseImages(ctx, cli, cfg.Images, env, official, local, toolchain)
	if err != nil {
		return learnerImages{}, err
	}
	// Only lang's toolchain image is used (the starter's Dockerfile takes that one argument);
	// the others are named by the official set, which the engine does not require to be here.
	args := maps.Clone(official.buildArgs)
	args[toolchain] = set.buildArgs[toolchain]
	args["PIP_INSTALL"] = set.buildArgs["PIP_INSTALL"]

	agent := cfg.AgentImage
	if agent == "" {
		agent = "holdfast/agent:" + agentTag(env.exe)
	}
	if err := ensureAgentImage(ctx, cli, agent, env.exe, env.stderr); err != nil {
		return learnerImages{}, err
	}
	return learnerImages{postgres: set.postgres, redis: set.redis, agent: agent, buildArgs: args}, nil
}

// chooseImages chooses the set mode (HOLDFAST_IMAGES) names, or by what answers when it is "".
func chooseImages(ctx context.Context, cli *client.Client, mode string, env learnerEnv, official, local imageSet, toolchain string) (imageSet, error) {
	say := func(s imageSet, how string) {
		fmt.Fprintf(env.stderr, "images: %s %s (%s)\n", s.name, strings.Join(s.need(toolchain), ", "), how)
	}
	switch mode {
	case "official":
		missing, err := missingImages(ctx, cli, official.need(toolchain))
		if err != nil {
			return imageSet{}, err
		}
		say(official, "as HOLDFAST_IMAGES says")
		return official, pullImages(ctx, cli, missing, env.stderr)
	case "local":
		missing, err := missingImages(ctx, cli, local.need(toolchain))
		if err != nil {
			return imageSet{}, err
		}
		if len(missing) > 0 {
			return imageSet{}, fmt.Errorf("HOLDFAST_IMAGES=local, but %s %s not on this engine. Build the stand-ins with `sudo bash deploy/bootstrap.sh` in a Holdfast checkout, or unset HOLDFAST_IMAGES to use the official images from Docker Hub",
				strings.Join(missing, ", "), isAre(len(missing)))
		}
		say(local, "as HOLDFAST_IMAGES says")
		return local, nil
	}
	missing, err := missingImages(ctx, cli, official.need(toolchain))
	if err != nil {
		return imageSet{}, err
	}
	if len(missing) == 0 {
		say(official, "found on this engine")
		return official, nil
	}
	unreachable := env.probe(ctx)
	if unreachable == nil {
		say(official, "from Docker Hub")
		return official, pullImages(ctx, cli, missing, env.stderr)
	}
	missingLocal, err := missingImages(ctx, cli, local.need(toolchain))
	if err != nil {
		return imageSet{}, err
	}
	if len(missingLocal) > 0 {
		return imageSet{}, fmt.Errorf("no images to grade with: Docker Hub does not answer (%v), and the local stand-ins %s %s not on this engine. Connect to the internet (holdfast then pulls %s), or build the stand-ins with `sudo bash deploy/bootstrap.sh` in a Holdfast checkout",
			unreachable, strings.Join(missingLocal, ", "), isAre(len(missingLocal)), strings.Join(missing, ", "))
	}
	say(local, fmt.Sprintf("Docker Hub does not answer: %v", unreachable))
	return local, nil
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

func missingImages(ctx context.Context, cli *client.Client, images []string) ([]string, error) {
	var missing []string
	for _, img := range images {
		if _, err := cli.ImageInspect(ctx, img); err != nil {
			if !docker.IsNotFound(err) {
				return nil, fmt.Errorf("inspect image %s: %w", img, err)
			}
			if !slices.Contains(missing, img) {
				missing = append(missing, img)
			}
		}
	}
	return missing, nil
}

// pullImages pulls each image, saying so: the first run pulls about 1 GB.
func pullImages(ctx context.Context, cli *client.Client, images []string, w io.Writer) error {
	for _, img := range images {
		fmt.Fprintf(w, "  pulling %s (first time only) …\n", img)
		start := time.Now()
		pctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
		resp, err := cli.ImagePull(pctx, img, client.ImagePullOptions{})
		if err == nil {
			err = resp.Wait(pctx)
		}
		cancel()
		if err != nil {
			return fmt.Errorf("pull %s: %w. Check the engine reaches Docker Hub, or use the local stand-ins (HOLDFAST_IMAGES=local, built by deploy/bootstrap.sh)", img, err)
		}
		fmt.Fprintf(w, "  pulled %s in %s\n", img, time.Since(start).Round(time.Second))
	}
	return nil
}

// registryProbe is Docker Hub's registry API root: it answers 401 to anyone who reaches it.
const registryProbe = "https://registry-1.docker.io/v2/"

// probeRegistry says whether Docker Hub answers within 5 s (any HTTP answer counts).
func probeRegistry(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, registryProbe, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var uerr interface{ Unwrap() error }
		if errors.As(err, &uerr) && uerr.Unwrap() != nil {
			err = uerr.Unwrap() // the cause, without the URL again
		}
		return err
	}
	resp.Body.Close()
	return nil
}

// toolVersion is the module version holdfast was built as: v1.2.3 from `go install …@v1.2.3`,
// a pseudo-version from a commit, or (devel).
func toolVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

var tagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// agentTag is the agent image's tag for the binary at exe: its version when that names one
// build (v1.2.3, a pseudo-version), else dev-<the binary's hash>, so that a rebuilt tool never
// grades with an older tool's agent.
func agentTag(exe string) string {
	if v := toolVersion(); !strings.Contains(v, "+dirty") && v != "(devel)" {
		if t := strings.ReplaceAll(v, "+", "-"); tagRE.MatchString(t) {
			return t
		}
	}
	sum, err := fileSHA256(exe)
	if err != nil {
		return "dev" // ensureAgentImage says why it cannot read exe, if it has to
	}
	return "dev-" + sum[:12]
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// AgentBinaryLabel is on the agent images holdfast builds: the sha256 of the binary inside.
const AgentBinaryLabel = "holdfast.agent-binary"

// engineArch is the engine's name for each GOARCH (docker info's Architecture).
var engineArch = map[string][]string{"amd64": {"x86_64", "amd64"}, "arm64": {"aarch64", "arm64"}}

// ensureAgentImage makes tag an agent image when the engine has none by that name: an image of
// the executable exe alone (and, when it is dynamically linked, its loader and libraries from
// this machine), run as `exe agent` — what deploy/images/agent builds from cmd/agent.
func ensureAgentImage(ctx context.Context, cli *client.Client, tag, exe string, w io.Writer) error {
	if _, err := cli.ImageInspect(ctx, tag); err == nil {
		return nil
	} else if !docker.IsNotFound(err) {
		return fmt.Errorf("inspect image %s: %w", tag, err)
	}
	fix := "or set HOLDFAST_AGENT_IMAGE to an agent image the engine has"
	if runtime.GOOS != "linux" {
		return fmt.Errorf("the agent image %s is missing, and it is built from this holdfast, which is a %s program: sandboxes run Linux. Use a holdfast built for linux/%s (GOOS=linux go install …), %s", tag, runtime.GOOS, runtime.GOARCH, fix)
	}
	if exe == "" {
		return fmt.Errorf("the agent image %s is missing, and holdfast cannot find its own executable to build it from; %s", tag, fix)
	}
	info, err := cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		return fmt.Errorf("ask the engine its architecture: %w", err)
	}
	if arch := info.Info.Architecture; !slices.Contains(engineArch[runtime.GOARCH], arch) {
		return fmt.Errorf("the agent image %s is missing, and this holdfast is built for %s while the engine runs %s: use a holdfast built for the engine (GOARCH), %s", tag, runtime.GOARCH, arch, fix)
	}
	start := time.Now()
	sum, err := fileSHA256(exe)
	if err != nil {
		return fmt.Errorf("read this holdfast (%s) to build the agent image: %w", exe, err)
	}
	rootfs, err := agentRootfs(exe)
	if err != nil {
		return fmt.Errorf("build the agent image %s from %s: %w; %s", tag, exe, err, fix)
	}
	resp, err := cli.ImageImport(ctx, client.ImageImportSource{Source: bytes.NewReader(rootfs.tar), SourceName: "-"}, tag, client.ImageImportOptions{
		Changes: []string{
			`ENTRYPOINT ["/holdfast", "agent"]`,
			"LABEL " + AgentBinaryLabel + "=" + sum,
			"ENV LD_LIBRARY_PATH=" + strings.Join(rootfs.libDirs, ":"),
		},
	})
	if err != nil {
		return fmt.Errorf("import the agent image %s: %w", tag, err)
	}
	defer resp.Close()
	if err := readImport(resp); err != nil {
		return fmt.Errorf("import the agent image %s: %w", tag, err)
	}
	how := "static"
	if len(rootfs.libDirs) > 0 {
		how = fmt.Sprintf("with its %d libraries", rootfs.libs)
	}
	fmt.Fprintf(w, "agent: built %s from %s (%s) in %s\n", tag, exe, how, time.Since(start).Round(10*time.Millisecond))
	return nil
}

// readImport reads the engine's answer to an import, returning the error it ends with, if any.
func readImport(r io.Reader) error {
	dec := json.NewDecoder(io.LimitReader(r, 1<<20))
	for {
		var msg struct {
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		if msg.ErrorDetail.Message != "" {
			return errors.New(msg.ErrorDetail.Message)
		}
		if msg.Error != "" {
			return errors.New(msg.Error)
		}
	}
}

// rootfs is an agent image's file system as a tar.
type rootfs struct {
	tar     []byte
	libDirs []string // where the libraries are, for LD_LIBRARY_PATH; none for a static binary
	libs    int
}

// libSearch are the directories a needed library is looked for in, after the loader's own.
var libSearch = []string{"/lib64", "/usr/lib64", "/lib", "/usr/lib"}

// agentRootfs is /holdfast (exe) and, when exe is dynamically linked (as `go install` makes it
// where a C compiler is installed), its loader and the libraries it needs, copied from this
// machine to the same paths: they are the ones it runs with here.
func agentRootfs(exe string) (rootfs, error) {
	f, err := elf.Open(exe)
	if err != nil {
		return rootfs{}, fmt.Errorf("not an ELF executable: %w", err)
	}
	defer f.Close()
	files := map[string]string{"/holdfast": exe} // path in the image → file here
	var interp string
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b, err := io.ReadAll(io.LimitReader(p.Open(), 4096))
			if err != nil {
				return rootfs{}, fmt.Errorf("read its loader's name: %w", err)
			}
			interp = strings.TrimRight(string(b), "\x00")
		}
	}
	var out rootfs
	if interp != "" {
		files[interp] = interp
		dirs := []string{path.Dir(interp)}
		for _, d := range libSearch {
			dirs = append(dirs, d)
			if m, _ := filepath.Glob(d + "/*-linux-gnu*"); len(m) > 0 {
				dirs = append(dirs, m...)
			}
		}
		if err := neededLibs(f, f.Machine, dirs, files); err != nil {
			return rootfs{}, err
		}
		for p := range files {
			if p != "/holdfast" && p != interp && !slices.Contains(out.libDirs, path.Dir(p)) {
				out.libDirs = append(out.libDirs, path.Dir(p))
			}
		}
		slices.Sort(out.libDirs)
		out.libs = len(files) - 1
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	madeDirs := map[string]bool{"/": true}
	for _, p := range slices.Sorted(maps.Keys(files)) {
		for _, d := range parents(p) {
			if !madeDirs[d] {
				madeDirs[d] = true
				if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/", Mode: 0o755}); err != nil {
					return rootfs{}, err
				}
			}
		}
		b, err := os.ReadFile(files[p]) // follows symbolic links: libc.so.6 → libc-2.36.so
		if err != nil {
			return rootfs{}, err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(p, "/"), Mode: 0o755, Size: int64(len(b))}); err != nil {
			return rootfs{}, err
		}
		if _, err := tw.Write(b); err != nil {
			return rootfs{}, err
		}
	}
	if err := tw.Close(); err != nil {
		return rootfs{}, err
	}
	out.tar = buf.Bytes()
	return out, nil
}

// parents lists p's directories, outermost first, without the root.
func parents(p string) []string {
	var out []string
	for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
		out = append([]string{d}, out...)
	}
	return out
}

// neededLibs adds to files every library f needs, found in dirs for machine, and theirs in turn.
func neededLibs(f *elf.File, machine elf.Machine, dirs []string, files map[string]string) error {
	libs, err := f.ImportedLibraries()
	if err != nil {
		return fmt.Errorf("read the libraries it needs: %w", err)
	}
	for _, lib := range libs {
		if slices.ContainsFunc(slices.Collect(maps.Keys(files)), func(p string) bool { return path.Base(p) == lib }) {
			continue
		}
		found := ""
		for _, d := range dirs {
			p := path.Join(d, lib)
			lf, err := elf.Open(p)
			if err != nil {
				continue
			}
			if lf.Machine != machine {
				lf.Close()
				continue
			}
			found = p
			files[p] = p
			err = neededLibs(lf, machine, dirs, files)
			lf.Close()
			if err != nil {
				return err
			}
			break
		}
		if found == "" {
			return fmt.Errorf("it needs %s, which is in none of %s; build holdfast with CGO_ENABLED=0 (a static binary needs none)", lib, strings.Join(dirs, ", "))
		}
	}
	return nil
}
