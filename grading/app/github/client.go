package github

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	gh "github.com/google/go-github/v66/github"

	"github.com/holdfast-ci/holdfast/grading/metrics"
)

// Config says which App Holdfast is and where GitHub is.
type Config struct {
	AppID      int64
	PrivateKey []byte // PEM
	// BaseURL of the REST API. Default https://api.github.com; tests point it at a fake.
	BaseURL string
	// Retry bounds for 5xx answers and rate limits. Defaults: 4 attempts, at most 60 s of waiting
	// for one rate-limit reset.
	MaxAttempts int
	MaxWait     time.Duration
}

// App is the GitHub App, and a cache of its installations' clients.
type App struct {
	cfg  Config
	log  *slog.Logger
	base *url.URL
	apps *ghinstallation.AppsTransport

	mu    sync.Mutex
	insts map[int64]*Installation
}

// NewApp validates cfg and prepares the App's transport. It makes no request.
func NewApp(cfg Config, log *slog.Logger) (*App, error) {
	if cfg.AppID <= 0 {
		return nil, fmt.Errorf("GitHub App id must be a positive number")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = "https://api.github.com"
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 4
	}
	if cfg.MaxWait == 0 {
		cfg.MaxWait = 60 * time.Second
	}
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/") + "/")
	if err != nil {
		return nil, fmt.Errorf("GitHub base URL: %w", err)
	}
	rt := &retryTransport{next: metrics.Transport(http.DefaultTransport), attempts: cfg.MaxAttempts, maxWait: cfg.MaxWait, log: log}
	apps, err := ghinstallation.NewAppsTransport(rt, cfg.AppID, cfg.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("GitHub App private key: %w", err)
	}
	apps.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	return &App{cfg: cfg, log: log, base: base, apps: apps, insts: map[int64]*Installation{}}, nil
}

// Installation is a client acting as one installation of the App.
type Installation struct {
	ID     int64
	client *gh.Client
	app    *App

	botMu    sync.Mutex
	botLogin string // cached once read; an error is never cached
}

// Installation returns the (cached) client of an installation.
func (a *App) Installation(id int64) *Installation {
	a.mu.Lock()
	defer a.mu.Unlock()
	if inst, ok := a.insts[id]; ok {
		return inst
	}
	tr := ghinstallation.NewFromAppsTransport(a.apps, id)
	tr.BaseURL = strings.TrimRight(a.cfg.BaseURL, "/")
	inst := &Installation{ID: id, client: a.newClient(&http.Client{Transport: tr, Timeout: 60 * time.Second}), app: a}
	a.insts[id] = inst
	return inst
}

func (a *App) newClient(hc *http.Client) *gh.Client {
	c := gh.NewClient(hc)
	c.BaseURL = a.base
	c.UploadURL = a.base
	return c
}

// BotLogin is the login under which the installation's comments appear, e.g. "holdfast[bot]".
// It is read from GitHub (the installation's app_slug) until a read succeeds, then cached: a
// failed read is the caller's error this time and is tried again next time.
func (i *Installation) BotLogin(ctx context.Context) (string, error) {
	i.botMu.Lock()
	defer i.botMu.Unlock()
	if i.botLogin != "" {
		return i.botLogin, nil
	}
	inst, _, err := i.app.appClient().Apps.GetInstallation(ctx, i.ID)
	if err != nil {
		return "", fmt.Errorf("read installation %d: %w", i.ID, err)
	}
	i.botLogin = inst.GetAppSlug() + "[bot]"
	return i.botLogin, nil
}

// appClient is a client authenticated as the App itself (a JWT), for the /app endpoints.
func (a *App) appClient() *gh.Client {
	return a.newClient(&http.Client{Transport: a.apps, Timeout: 30 * time.Second})
}

// Client exposes the go-github client for calls this package does not wrap.
func (i *Installation) Client() *gh.Client { return i.client }
