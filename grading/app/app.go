package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/app/config"
	"github.com/holdfast-ci/holdfast/grading/app/github"
	"github.com/holdfast-ci/holdfast/grading/app/jobs"
	"github.com/holdfast-ci/holdfast/grading/app/repos"
	"github.com/holdfast-ci/holdfast/grading/app/store"
	"github.com/holdfast-ci/holdfast/grading/app/web"
	"github.com/holdfast-ci/holdfast/grading/app/webhook"
	"github.com/holdfast-ci/holdfast/grading/metrics"
	"github.com/holdfast-ci/holdfast/scenarios/catalog"
)

// Main runs the App with the challenges of packs (catalog.Builtin first, then any operator's;
// cmd/app and `runner pack build` pass them) and the process's arguments and environment until
// done or interrupted, and exits 1 with the reason when it fails. A challenge pack that cannot
// be read stops it before anything else.
func Main(packs ...catalog.Pack) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cat, err := catalog.New(packs...)
	if err == nil {
		err = run(ctx, cat, os.Args[1:], os.Getenv, os.Stderr, log)
	}
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "app:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  app migrate                      apply the schema (River's and the App's) and sync the challenge catalog
  app serve                        receive webhooks, report queued gradings, serve run pages
  app assign --challenge SLUG --user LOGIN [--format practice] [--language go]
                                   create the learner's repository from the challenge's template
  app templates publish            create or update one template repository per challenge and language
  app invite --challenge SLUG --candidate LOGIN (--deadline RFC3339 | --duration 72h) [--language go] [--seed N] [--by LOGIN]
                                   invite a candidate to a take-home: private repository, push access until the deadline
  app extend (--takehome ID | --repo OWNER/NAME) (--deadline RFC3339 | --add 24h) [--by LOGIN]
                                   extend a take-home's deadline before it passes (recorded)
  app reviewer add LOGIN           create a reviewer (or replace their token) and print the token once
  app challenges                   list the challenges this App offers (built-in and from packs)
  app healthcheck                  exit 0 when the App on HOLDFAST_LISTEN answers GET /readyz with 200 (container health checks)
configuration from the environment: see README.md, "Configuration"
`

func known(args []string) bool {
	switch args[0] {
	case "migrate", "serve", "healthcheck", "challenges":
		return len(args) == 1
	case "assign", "templates", "invite", "extend", "reviewer":
		return true
	}
	return false
}

func getenvOr(getenv func(string) string, k, def string) string {
	if v := getenv(k); v != "" {
		return v
	}
	return def
}

// roles is the configuration each command reads (config.Role).
var roles = map[string]config.Role{
	"serve": config.App, "assign": config.Provision, "templates": config.Provision, "invite": config.Provision,
	"migrate": config.Migrate, "extend": config.Migrate, "reviewer": config.Migrate, "healthcheck": config.AppHealth,
}

func run(ctx context.Context, cat *catalog.Catalog, args []string, getenv func(string) string, stderr io.Writer, log *slog.Logger) error {
	if len(args) == 0 || !known(args) {
		fmt.Fprint(stderr, usage)
		return errors.New("bad usage")
	}
	if args[0] == "challenges" {
		return listChallenges(cat, os.Stdout)
	}
	cfg, err := config.FromEnv(getenv, roles[args[0]])
	if err != nil {
		return err
	}
	if args[0] == "healthcheck" {
		return healthcheck(ctx, cfg.Listen, os.Stdout)
	}
	if cfg.Role == config.Migrate {
		st, err := store.Open(ctx, cfg.DatabaseURL, store.Conns(0, 2))
		if err != nil {
			return err
		}
		defer st.Close()
		if err := st.Migrate(ctx, log); err != nil {
			return err
		}
		switch args[0] {
		case "extend":
			return extend(ctx, st, args[1:], getenv, os.Stdout, stderr)
		case "reviewer":
			return reviewer(ctx, st, args[1:], os.Stdout)
		}
		return st.SyncChallenges(ctx, cat.Challenges())
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, store.Conns(jobs.AppReporters, jobs.AppHandlers))
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx, log); err != nil {
		return err
	}
	if err := st.SyncChallenges(ctx, cat.Challenges()); err != nil {
		return err
	}
	app, err := github.NewApp(github.Config{AppID: cfg.AppID, PrivateKey: cfg.PrivateKey, BaseURL: cfg.GitHubURL}, log)
	if err != nil {
		return err
	}
	var prov *repos.Provisioner
	if cfg.RequireOrg() == nil {
		// Every pack's templates from the pack, the built-in ones' embedded, unless the operator
		// names a templates/ directory for them.
		var dir fs.FS
		if cfg.TemplatesDir != "" {
			dir = os.DirFS(cfg.TemplatesDir)
		}
		prov = &repos.Provisioner{Store: st, GitHub: app, Installation: cfg.Installation, Org: cfg.Org,
			Templates: cat.Templates(dir), Challenges: cat.Slugs(), LocalTool: builtin(cat)}
	}
	switch args[0] {
	case "assign", "templates", "invite":
		if err := cfg.RequireOrg(); err != nil {
			return err
		}
		if args[0] == "invite" {
			return invite(ctx, prov, args[1:], getenv, os.Stdout, stderr)
		}
		if args[0] == "assign" {
			return assign(ctx, prov, args[1:], os.Stdout, stderr)
		}
		if len(args) != 2 || args[1] != "publish" {
			fmt.Fprint(stderr, usage)
			return errors.New("bad usage")
		}
		return publish(ctx, prov, os.Stdout)
	}
	rc, err := jobs.NewClient(jobs.Deps{Store: st, GitHub: app, PublicURL: cfg.PublicURL, Log: log}, jobs.Options{Reporters: jobs.AppReporters, Reconcile: cfg.Reconcile, RecoverDeliveries: cfg.RecoverDeliveries})
	if err != nil {
		return err
	}
	if err := rc.Start(ctx); err != nil {
		return fmt.Errorf("start river: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = rc.Stop(sctx)
	}()
	hook, err := webhook.New([]byte(cfg.WebhookSecret), st, rc, log)
	if err != nil {
		return err
	}
	reviewers := &web.Web{Store: st, Secure: strings.HasPrefix(cfg.PublicURL, "https://"), Log: log}
	if reviewers.RiverUI, err = riverUI(ctx, rc, log); err != nil {
		return err
	}
	if err := metrics.Register(metrics.JobsCollector(st.Pool)); err != nil {
		return err
	}
	if prov != nil {
		reviewers.Invite = prov.Invite
	}
	srv := &http.Server{Addr: cfg.Listen, Handler: Routes(hook, st, assignHandler(prov, cfg.AdminToken), reviewers), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("app serving", "listen", cfg.Listen, "public_url", cfg.PublicURL)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// reportToken is the form of a run's report token (migrations/0007_report_tokens.sql).
var reportToken = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Routes is the App's HTTP surface; reviewers adds the reviewers' pages and API.
func Routes(hook http.Handler, st *store.Store, assignments http.Handler, reviewers *web.Web) http.Handler {
	mux := http.NewServeMux()
	reviewers.Register(mux)
	mux.Handle("POST /webhooks/github", metrics.Webhook(hook))
	mux.Handle("POST /api/assignments", assignments)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := st.Pool.Ping(r.Context()); err != nil {
			http.Error(w, "database unreachable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /readyz", readyz(st, reviewers.Log))
	mux.Handle("GET /metrics", metrics.Handler())
	// A run's learner report, for the check run's "Details" link: what a candidate may see
	// (hidden scenarios withheld, reviewer-only ones left out), to anyone with the link. The
	// link carries the run's random report token, never its number: reports are not listed.
	mux.HandleFunc("GET /runs/{token}", func(w http.ResponseWriter, r *http.Request) {
		token := r.PathValue("token")
		if !reportToken.MatchString(token) {
			http.NotFound(w, r)
			return
		}
		id, err := st.RunByReportToken(r.Context(), token)
		if errors.Is(err, store.ErrNotFound) {
			http.NotFound(w, r)
			return
		}
		var v grading.Verdict
		if err == nil {
			v, err = st.RunVerdict(r.Context(), id)
		}
		switch {
		case errors.Is(err, store.ErrNotFound):
			http.Error(w, "this run has no result yet; it is queued or being graded — this page shows it once it is done", http.StatusNotFound)
			return
		case err != nil:
			reviewers.Log.Error("run report", "run_id", id, "err", err)
			http.Error(w, "could not read this run's report just now; try the link again in a minute", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_ = grading.WriteText(w, grading.ForView(v, grading.LearnerView))
	})
	return mux
}
